/*
 * json.c — strict JSON parser (see json.h). Recursive descent with an explicit depth limit;
 * every read is checked against the end of the input. Nodes and decoded strings are carved
 * from a chunked arena; the children of an array/object are first pushed onto a shared
 * growable stack and copied into one arena array when the container closes, so building
 * a 50 000-member vocabulary costs one allocation per arena chunk.
 */
#include "alloc.h"
#include "json.h"
#include "unicode.h" /* elm_utf8_encode */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- arena ---- */

typedef struct json_chunk json_chunk;
struct json_chunk {
    json_chunk *next;
    size_t used, cap;
    max_align_t data[]; /* aligned payload */
};

struct elm_json_doc {
    json_chunk *chunks;
    elm_json *root;
    size_t chunk_min; /* size of the next chunk: grows from one fitting a small text to JSON_CHUNK_MIN */
};

#define JSON_CHUNK_MIN ((size_t)1 << 16)

static void *json_alloc(elm_json_doc *doc, size_t n) {
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    json_chunk *c = doc->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > doc->chunk_min ? n : doc->chunk_min;
        if (doc->chunk_min < JSON_CHUNK_MIN) doc->chunk_min *= 2;
        if (cap > SIZE_MAX - sizeof(json_chunk)) return NULL;
        c = ELM_MALLOC(sizeof(json_chunk) + cap);
        if (!c) return NULL;
        c->next = doc->chunks;
        c->used = 0;
        c->cap = cap;
        doc->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

/* ---- parser state ---- */

typedef struct json_parser {
    const unsigned char *p, *end, *begin;
    elm_json_doc *doc;
    elm_json **stack; /* pending children of open containers */
    size_t stack_n, stack_cap;
    char *buf;        /* scratch for decoding one string */
    size_t buf_cap;
    gl_error *err;
    bool failed;
} json_parser;

/* Records the first error with the line and column of the current position. */
static bool json_fail(json_parser *ps, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static bool json_fail(json_parser *ps, const char *fmt, ...) {
    if (ps->failed) return false;
    ps->failed = true;
    size_t line = 1, col = 1;
    for (const unsigned char *q = ps->begin; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char what[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    gl_error_set(ps->err, GL_ERR_FORMAT, "JSON: %s at line %zu, column %zu", what, line, col);
    return false;
}

static bool json_oom(json_parser *ps) {
    if (ps->failed) return false;
    ps->failed = true;
    gl_error_set(ps->err, GL_ERR_NOMEM, "JSON: out of memory");
    return false;
}

static void json_skip_ws(json_parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static elm_json *json_new_node(json_parser *ps, elm_json_type t) {
    elm_json *v = json_alloc(ps->doc, sizeof *v);
    if (!v) {
        json_oom(ps);
        return NULL;
    }
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

static bool json_push(json_parser *ps, elm_json *v) {
    if (ps->stack_n == ps->stack_cap) {
        size_t cap = ps->stack_cap ? ps->stack_cap * 2 : 256;
        if (cap > SIZE_MAX / sizeof(elm_json *)) return json_oom(ps);
        elm_json **s = ELM_REALLOC(ps->stack, cap * sizeof *s);
        if (!s) return json_oom(ps);
        ps->stack = s;
        ps->stack_cap = cap;
    }
    ps->stack[ps->stack_n++] = v;
    return true;
}

/* Moves the children pushed since `mark` into the container. */
static bool json_close(json_parser *ps, elm_json *v, size_t mark) {
    size_t n = ps->stack_n - mark;
    v->len = n;
    if (n > 0) {
        if (n > SIZE_MAX / sizeof(elm_json *)) return json_oom(ps);
        v->items = json_alloc(ps->doc, n * sizeof(elm_json *));
        if (!v->items) return json_oom(ps);
        memcpy(v->items, ps->stack + mark, n * sizeof(elm_json *));
    }
    ps->stack_n = mark;
    return true;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid or truncated. */
static int json_utf8_seq(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        if (c == 0xED) hi = 0x9F;      /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;      /* no overlongs */
        if (c == 0xF4) hi = 0x8F;      /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < (size_t)n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return n;
}

size_t elm_utf8_validate(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        int n = json_utf8_seq(u + i, len - i);
        if (n == 0) return i;
        i += (size_t)n;
    }
    return len;
}

/* ---- strings ---- */

static bool json_hex4(json_parser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4) return json_fail(ps, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = ps->p[k], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return json_fail(ps, "bad hex digit in \\u escape");
        v = v * 16 + d;
    }
    ps->p += 4;
    *out = v;
    return true;
}

/* Reads the escape after a backslash (ps->p just past it) into out; returns bytes. */
static size_t json_escape(json_parser *ps, char *out) {
    if (ps->p >= ps->end) return json_fail(ps, "truncated escape"), 0;
    unsigned c = *ps->p++;
    switch (c) {
    case '"': out[0] = '"'; return 1;
    case '\\': out[0] = '\\'; return 1;
    case '/': out[0] = '/'; return 1;
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: ps->p--; return json_fail(ps, "invalid escape '\\%c'", c >= 32 && c < 127 ? (int)c : '?'), 0;
    }
    uint32_t cp;
    if (!json_hex4(ps, &cp)) return 0;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return json_fail(ps, "lone low surrogate \\u%04X", (unsigned)cp), 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate must be followed by an escaped low one. */
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
            return json_fail(ps, "lone high surrogate \\u%04X", (unsigned)cp), 0;
        ps->p += 2;
        uint32_t lo;
        if (!json_hex4(ps, &lo)) return 0;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return json_fail(ps, "high surrogate \\u%04X not followed by a low one", (unsigned)cp), 0;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    return (size_t)elm_utf8_encode(cp, out); /* never a surrogate here: paired or refused above */
}

static bool json_buf_reserve(json_parser *ps, size_t need) {
    if (need <= ps->buf_cap) return true;
    size_t cap = ps->buf_cap ? ps->buf_cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return json_oom(ps);
        cap *= 2;
    }
    char *b = ELM_REALLOC(ps->buf, cap);
    if (!b) return json_oom(ps);
    ps->buf = b;
    ps->buf_cap = cap;
    return true;
}

/* Parses a string (ps->p at the opening quote) into an arena copy. */
static bool json_string(json_parser *ps, const char **out, size_t *out_len) {
    ps->p++; /* opening quote */
    size_t n = 0;
    for (;;) {
        if (ps->p >= ps->end) return json_fail(ps, "unterminated string");
        unsigned c = *ps->p;
        if (!json_buf_reserve(ps, n + 8)) return false;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) return json_fail(ps, "control character 0x%02X in string", c);
        if (c == '\\') {
            ps->p++;
            size_t k = json_escape(ps, ps->buf + n);
            if (k == 0) return false;
            n += k;
            continue;
        }
        if (c < 0x80) {
            ps->buf[n++] = (char)c;
            ps->p++;
            continue;
        }
        int k = json_utf8_seq(ps->p, (size_t)(ps->end - ps->p));
        if (k == 0) return json_fail(ps, "invalid UTF-8 in string");
        memcpy(ps->buf + n, ps->p, (size_t)k);
        n += (size_t)k;
        ps->p += k;
    }
    char *s = json_alloc(ps->doc, n + 1);
    if (!s) return json_oom(ps);
    memcpy(s, ps->buf, n);
    s[n] = '\0';
    *out = s;
    *out_len = n;
    return true;
}

/* ---- numbers ---- */

static bool json_is_digit(const json_parser *ps) {
    return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static bool json_number(json_parser *ps, elm_json *v) {
    const unsigned char *start = ps->p;
    bool neg = false, integral_syntax = true;
    if (*ps->p == '-') {
        neg = true;
        ps->p++;
    }
    if (!json_is_digit(ps)) return json_fail(ps, "invalid number");
    if (*ps->p == '0') {
        ps->p++;
        if (json_is_digit(ps)) return json_fail(ps, "leading zero in number");
    } else {
        while (json_is_digit(ps)) ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        integral_syntax = false;
        ps->p++;
        if (!json_is_digit(ps)) return json_fail(ps, "digit expected after '.'");
        while (json_is_digit(ps)) ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        integral_syntax = false;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (!json_is_digit(ps)) return json_fail(ps, "digit expected in exponent");
        while (json_is_digit(ps)) ps->p++;
    }
    size_t len = (size_t)(ps->p - start);
    /* strtod needs a NUL-terminated copy; the grammar above already vetted the syntax
     * (strtod would also take hex, inf or nan). */
    if (!json_buf_reserve(ps, len + 1)) return false;
    memcpy(ps->buf, start, len);
    ps->buf[len] = '\0';
    errno = 0;
    double d = strtod(ps->buf, NULL);
    if (!isfinite(d)) {
        ps->p = start;
        return json_fail(ps, "number out of range");
    }
    v->num = d;
    if (integral_syntax) {
        /* Exact digits, with overflow detection, so large ids keep every digit. */
        const unsigned char *q = start + (neg ? 1 : 0);
        uint64_t mag = 0;
        bool overflow = false;
        for (; q < ps->p; q++) {
            unsigned dg = *q - '0';
            if (mag > (UINT64_MAX - dg) / 10) {
                overflow = true;
                break;
            }
            mag = mag * 10 + dg;
        }
        if (!overflow && (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
            v->is_int = true;
            v->i = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
        }
    } else if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        v->is_int = true; /* 1.0, 2e3 */
        v->i = (int64_t)d;
    }
    return true;
}

/* ---- values ---- */

static elm_json *json_value(json_parser *ps, int depth);

static bool json_literal(json_parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return json_fail(ps, "unexpected character");
    ps->p += n;
    return true;
}

static elm_json *json_array(json_parser *ps, int depth) {
    elm_json *v = json_new_node(ps, ELM_JSON_ARRAY);
    if (!v) return NULL;
    size_t mark = ps->stack_n;
    ps->p++; /* [ */
    json_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return json_close(ps, v, mark) ? v : NULL;
    }
    for (;;) {
        elm_json *item = json_value(ps, depth + 1);
        if (!item || !json_push(ps, item)) return NULL;
        json_skip_ws(ps);
        if (ps->p >= ps->end) return json_fail(ps, "unterminated array"), NULL;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            return json_close(ps, v, mark) ? v : NULL;
        }
        return json_fail(ps, "',' or ']' expected"), NULL;
    }
}

static elm_json *json_object(json_parser *ps, int depth) {
    elm_json *v = json_new_node(ps, ELM_JSON_OBJECT);
    if (!v) return NULL;
    size_t mark = ps->stack_n;
    ps->p++; /* { */
    json_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return json_close(ps, v, mark) ? v : NULL;
    }
    for (;;) {
        json_skip_ws(ps);
        if (ps->p >= ps->end) return json_fail(ps, "unterminated object"), NULL;
        if (*ps->p != '"') return json_fail(ps, "string key expected"), NULL;
        const char *key;
        size_t key_len;
        if (!json_string(ps, &key, &key_len)) return NULL;
        json_skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') return json_fail(ps, "':' expected"), NULL;
        ps->p++;
        elm_json *item = json_value(ps, depth + 1);
        if (!item) return NULL;
        item->key = key;
        item->key_len = key_len;
        if (!json_push(ps, item)) return NULL;
        json_skip_ws(ps);
        if (ps->p >= ps->end) return json_fail(ps, "unterminated object"), NULL;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == '}') {
            ps->p++;
            return json_close(ps, v, mark) ? v : NULL;
        }
        return json_fail(ps, "',' or '}' expected"), NULL;
    }
}

static elm_json *json_value(json_parser *ps, int depth) {
    if (depth > ELM_JSON_MAX_DEPTH) return json_fail(ps, "nesting deeper than %d", ELM_JSON_MAX_DEPTH), NULL;
    json_skip_ws(ps);
    if (ps->p >= ps->end) return json_fail(ps, "unexpected end of input"), NULL;
    elm_json *v;
    switch (*ps->p) {
    case '{': return json_object(ps, depth);
    case '[': return json_array(ps, depth);
    case '"':
        v = json_new_node(ps, ELM_JSON_STRING);
        if (!v || !json_string(ps, &v->s, &v->len)) return NULL;
        return v;
    case 't':
    case 'f':
        v = json_new_node(ps, ELM_JSON_BOOL);
        if (!v) return NULL;
        v->b = *ps->p == 't';
        return json_literal(ps, v->b ? "true" : "false") ? v : NULL;
    case 'n':
        v = json_new_node(ps, ELM_JSON_NULL);
        return v && json_literal(ps, "null") ? v : NULL;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            v = json_new_node(ps, ELM_JSON_NUMBER);
            return v && json_number(ps, v) ? v : NULL;
        }
        return json_fail(ps, "unexpected character"), NULL;
    }
}

/* ---- public ---- */

void elm_json_free(elm_json_doc *doc) {
    if (!doc) return;
    json_chunk *c = doc->chunks;
    while (c) {
        json_chunk *next = c->next;
        ELM_FREE(c);
        c = next;
    }
    ELM_FREE(doc);
}

elm_json_doc *elm_json_parse(const char *text, size_t len, gl_error *err) {
    if (!text && len) {
        gl_error_set(err, GL_ERR_INVALID, "JSON: no input");
        return NULL;
    }
    elm_json_doc *doc = ELM_CALLOC(1, sizeof *doc);
    if (!doc) {
        gl_error_set(err, GL_ERR_NOMEM, "JSON: out of memory");
        return NULL;
    }
    /* A small text gets a small first chunk (a 64 KiB one per tiny document costs more than the parse). */
    doc->chunk_min = len < JSON_CHUNK_MIN / 4 ? 4 * len + 256 : JSON_CHUNK_MIN;
    json_parser ps = {0};
    ps.begin = ps.p = (const unsigned char *)(text ? text : "");
    ps.end = ps.p + len;
    ps.doc = doc;
    ps.err = err;
    if (len >= 3 && memcmp(ps.p, "\xEF\xBB\xBF", 3) == 0) ps.p += 3;
    doc->root = json_value(&ps, 0);
    if (doc->root) {
        json_skip_ws(&ps);
        if (ps.p != ps.end) {
            json_fail(&ps, "trailing characters after the document");
            doc->root = NULL;
        }
    }
    ELM_FREE(ps.stack);
    ELM_FREE(ps.buf);
    if (!doc->root) {
        elm_json_free(doc);
        return NULL;
    }
    return doc;
}

elm_json_doc *elm_json_parse_file(const char *path, gl_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        gl_error_set(err, GL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    /* First buffer: the file's size (and a little, to see the end); doubled for a growing file. */
    struct stat sb;
    const size_t first = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
                                 (uint64_t)sb.st_size < ((uint64_t)1 << 31)
                             ? (size_t)sb.st_size + 4096
                             : 65536 * 2;
    for (;;) {
        if (cap - n < 4096) {
            if (cap > ((size_t)1 << 31)) { /* 2 GiB: no JSON file we read is this large */
                ELM_FREE(buf);
                fclose(f);
                gl_error_set(err, GL_ERR_FORMAT, "%s: file too large for JSON", path);
                return NULL;
            }
            size_t ncap = cap ? cap * 2 : first;
            char *nb = ELM_REALLOC(buf, ncap);
            if (!nb) {
                ELM_FREE(buf);
                fclose(f);
                gl_error_set(err, GL_ERR_NOMEM, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool io_err = ferror(f) != 0;
    fclose(f);
    if (io_err) {
        ELM_FREE(buf);
        gl_error_set(err, GL_ERR_IO, "%s: read error", path);
        return NULL;
    }
    gl_error e = {0};
    elm_json_doc *doc = elm_json_parse(buf, n, &e);
    ELM_FREE(buf);
    if (!doc) gl_error_set(err, e.code, "%s: %s", path, e.msg);
    return doc;
}

const elm_json *elm_json_root(const elm_json_doc *doc) { return doc ? doc->root : NULL; }

const elm_json *elm_json_get(const elm_json *v, const char *key) {
    if (!v || v->type != ELM_JSON_OBJECT || !key) return NULL;
    size_t kl = strlen(key);
    for (size_t i = v->len; i-- > 0;) {
        const elm_json *m = v->items[i];
        if (m->key_len == kl && memcmp(m->key, key, kl) == 0) return m;
    }
    return NULL;
}

const elm_json *elm_json_at(const elm_json *v, size_t i) {
    if (!v || (v->type != ELM_JSON_ARRAY && v->type != ELM_JSON_OBJECT) || i >= v->len) return NULL;
    return v->items[i];
}

size_t elm_json_count(const elm_json *v) {
    if (!v || (v->type != ELM_JSON_ARRAY && v->type != ELM_JSON_OBJECT)) return 0;
    return v->len;
}

bool elm_json_is(const elm_json *v, elm_json_type t) { return v && v->type == t; }

const char *elm_json_str(const elm_json *v) {
    return v && v->type == ELM_JSON_STRING ? v->s : NULL;
}

bool elm_json_int(const elm_json *v, int64_t *out) {
    if (!v || v->type != ELM_JSON_NUMBER || !v->is_int) return false;
    *out = v->i;
    return true;
}

bool elm_json_num(const elm_json *v, double *out) {
    if (!v || v->type != ELM_JSON_NUMBER) return false;
    *out = v->num;
    return true;
}

bool elm_json_bool(const elm_json *v, bool *out) {
    if (!v || v->type != ELM_JSON_BOOL) return false;
    *out = v->b;
    return true;
}

const char *elm_json_get_str(const elm_json *v, const char *key) {
    return elm_json_str(elm_json_get(v, key));
}
bool elm_json_get_int(const elm_json *v, const char *key, int64_t *out) {
    return elm_json_int(elm_json_get(v, key), out);
}
bool elm_json_get_num(const elm_json *v, const char *key, double *out) {
    return elm_json_num(elm_json_get(v, key), out);
}
bool elm_json_get_bool(const elm_json *v, const char *key, bool *out) {
    return elm_json_bool(elm_json_get(v, key), out);
}
