/*
 * jinja.c — the Jinja2 subset interpreter (see jinja.h for what it covers).
 *
 *   source ──normalise newlines──▶ lexer (tokens: text, tag marks, names, literals, operators)
 *          ──parser──▶ tree of nodes (statements and expressions)
 *          ──evaluator──▶ text, with values of Python's kinds (None, bool, int, float, str,
 *                         list/tuple, dict, namespace, loop, functions)
 *
 * Memory: every node and value lives in an arena (one per parsed template, one per render)
 * with a byte limit, so an error anywhere unwinds with longjmp and frees everything at once.
 * Lexing follows Jinja2's rules with trim_blocks and lstrip_blocks on (as Hugging Face's
 * apply_chat_template sets them): a block or comment tag eats the newline after it, and the
 * spaces before it on its own line; "-" strips all whitespace on that side, "+" keeps it.
 * Strings are UTF-8; lengths, indexes and slices count code points as Python does.
 */
#include "alloc.h"
#include "jinja.h"
#include "unicode.h"

#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------
 * Arena and errors
 * ---------------------------------------------------------------------------------------- */

typedef struct jblk {
    struct jblk *next;
    size_t used, cap;
    max_align_t data[];
} jblk;

typedef struct jfail {
    jmp_buf jb;
    char msg[256];
    jblk *blocks;
    size_t total, limit;  /* bytes held by the arena, most allowed */
    int line, col;        /* where the construct being handled starts (0: unknown) */
} jfail;

#define JF_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Writes the message (prefixed by the position when one is set) and unwinds to the caller. */
static _Noreturn void jf_vfail(jfail *f, int line, int col, const char *fmt, va_list ap) {
    char body[200];
    vsnprintf(body, sizeof body, fmt, ap);
    if (line > 0) {
        f->line = line;
        f->col = col;
    }
    if (f->line > 0) snprintf(f->msg, sizeof f->msg, "line %d, column %d: %s", f->line, f->col, body);
    else snprintf(f->msg, sizeof f->msg, "%s", body);
    longjmp(f->jb, 1);
}

static _Noreturn JF_PRINTF(2, 3) void jf_fail(jfail *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    jf_vfail(f, 0, 0, fmt, ap);
}

static void *jf_alloc(jfail *f, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    jblk *b = f->blocks;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > (1u << 16) ? size : (1u << 16);
        if (size > f->limit || f->total > f->limit - size)
            jf_fail(f, "the template needs more than %zu bytes of memory", f->limit);
        b = ELM_MALLOC(sizeof *b + cap);
        if (!b) jf_fail(f, "out of memory");
        b->next = f->blocks;
        b->used = 0;
        b->cap = cap;
        f->blocks = b;
        f->total += cap;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

static void jf_release(jfail *f) {
    while (f->blocks) {
        jblk *n = f->blocks->next;
        ELM_FREE(f->blocks);
        f->blocks = n;
    }
    f->total = 0;
}

static size_t jf_mul(jfail *f, size_t a, size_t b) {
    if (b && a > SIZE_MAX / b) jf_fail(f, "size overflow");
    return a * b;
}

static char *jf_strdup(jfail *f, const char *s, size_t n) {
    char *p = jf_alloc(f, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ------------------------------------------------------------------------------------------
 * UTF-8 and Python's whitespace
 * ---------------------------------------------------------------------------------------- */

/* Bytes of the code point at s[i] (an invalid byte counts as one). */
static size_t u8_len_at(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + k > n) return 1;
    for (size_t j = 1; j < k; j++)
        if (((unsigned char)s[i + j] & 0xC0) != 0x80) return 1;
    return k;
}

static uint32_t u8_cp_at(const char *s, size_t n, size_t i, size_t *adv) {
    size_t k = u8_len_at(s, n, i);
    *adv = k;
    const unsigned char *u = (const unsigned char *)s + i;
    if (k == 1) return u[0];
    if (k == 2) return (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    if (k == 3) return (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
           (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
}

static size_t u8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i += u8_len_at(s, n, i)) c++;
    return c;
}

/* Python's str.isspace(). */
static bool py_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Length of the whitespace code point at s[i], 0 when it is not whitespace. */
static size_t u8_space_at(const char *s, size_t n, size_t i) {
    size_t k;
    return py_space(u8_cp_at(s, n, i, &k)) ? k : 0;
}

/* Length of the whitespace code point that ends s[0..n), 0 when none. */
static size_t u8_space_before(const char *s, size_t n) {
    if (n == 0) return 0;
    size_t i = n - 1;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    size_t k = u8_space_at(s, n, i);
    return k && i + k == n ? k : 0;
}

/* ------------------------------------------------------------------------------------------
 * Lexer
 * ---------------------------------------------------------------------------------------- */

typedef enum {
    TK_EOF, TK_DATA, TK_VBEGIN, TK_VEND, TK_BBEGIN, TK_BEND, TK_NAME, TK_STR, TK_INT, TK_FLOAT,
    TK_OP,
} tkind;

typedef struct jtok {
    tkind k;
    int line, col;
    const char *s; /* name, operator or text (decoded for strings) */
    size_t n;
    int64_t i;
    double f;
} jtok;

typedef struct jlex {
    jfail *f;
    const char *src;
    size_t n;
    jtok *toks;
    size_t n_toks, cap_toks;
    size_t pos_at;      /* line and column of src[pos_at], kept so that positions are found */
    int pos_line, pos_col; /* in one pass (tokens come in order) */
} jlex;

static void lx_pos(jlex *L, size_t at, int *line, int *col) {
    if (at < L->pos_at || L->pos_line == 0) {
        L->pos_at = 0;
        L->pos_line = L->pos_col = 1;
    }
    for (size_t i = L->pos_at; i < at && i < L->n; i++) {
        if (L->src[i] == '\n') {
            L->pos_line++;
            L->pos_col = 1;
        } else if (((unsigned char)L->src[i] & 0xC0) != 0x80) {
            L->pos_col++;
        }
    }
    L->pos_at = at < L->n ? at : L->n;
    *line = L->pos_line;
    *col = L->pos_col;
}

static _Noreturn void lx_fail(jlex *L, size_t at, const char *what) {
    lx_pos(L, at, &L->f->line, &L->f->col);
    jf_fail(L->f, "%s", what);
}

static jtok *lx_emit(jlex *L, tkind k, size_t at, const char *s, size_t n) {
    if (L->n_toks == L->cap_toks) {
        size_t cap = L->cap_toks ? 2 * L->cap_toks : 256;
        jtok *t = jf_alloc(L->f, jf_mul(L->f, cap, sizeof *t));
        if (L->n_toks) memcpy(t, L->toks, L->n_toks * sizeof *t);
        L->toks = t;
        L->cap_toks = cap;
    }
    jtok *t = &L->toks[L->n_toks++];
    memset(t, 0, sizeof *t);
    t->k = k;
    t->s = s;
    t->n = n;
    lx_pos(L, at, &t->line, &t->col);
    return t;
}

static bool lx_at(const jlex *L, size_t i, const char *lit) {
    size_t k = strlen(lit);
    return i + k <= L->n && !memcmp(L->src + i, lit, k);
}

/* Index of the next "{{", "{%" or "{#" at or after i; n when none. */
static size_t lx_find_tag(const jlex *L, size_t i) {
    for (; i + 1 < L->n; i++)
        if (L->src[i] == '{' && (L->src[i + 1] == '{' || L->src[i + 1] == '%' || L->src[i + 1] == '#'))
            return i;
    return L->n;
}

static size_t lx_skip_ws(const jlex *L, size_t i) {
    size_t k;
    while (i < L->n && (k = u8_space_at(L->src, L->n, i)) > 0) i += k;
    return i;
}

static uint32_t lx_hex(jlex *L, size_t at, const char *s, int digits) {
    uint32_t v = 0;
    for (int d = 0; d < digits; d++) {
        char c = s[d];
        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (x < 0) lx_fail(L, at, "bad \\x, \\u or \\U escape in a string");
        v = v * 16 + (uint32_t)x;
    }
    return v;
}

/* Decodes a string literal body (Python's unicode-escape rules) into the arena. */
static void lx_string(jlex *L, size_t *pi) {
    const size_t start = *pi;
    const char q = L->src[start];
    size_t i = start + 1;
    while (i < L->n && L->src[i] != q) i += L->src[i] == '\\' && i + 1 < L->n ? 2 : 1;
    if (i >= L->n) lx_fail(L, start, "unterminated string");
    const char *s = L->src + start + 1;
    const size_t n = i - start - 1;
    char *out = jf_alloc(L->f, n + 1);
    size_t o = 0;
    for (size_t j = 0; j < n;) {
        if (s[j] != '\\' || j + 1 >= n) {
            out[o++] = s[j++];
            continue;
        }
        char c = s[j + 1];
        const char *simple = strchr("ntr\\'\"abfv\n", c);
        if (c && simple) {
            static const char map[] = "\n\t\r\\'\"\a\b\f\v";
            if (c != '\n') out[o++] = map[simple - "ntr\\'\"abfv\n"];
            j += 2;
        } else if (c >= '0' && c <= '7') {
            uint32_t v = 0;
            size_t k = j + 1;
            while (k < n && k < j + 4 && s[k] >= '0' && s[k] <= '7') v = v * 8 + (uint32_t)(s[k++] - '0');
            o += (size_t)elm_utf8_encode(v, out + o);
            j = k;
        } else if (c == 'x' || c == 'u' || c == 'U') {
            int d = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            if (j + 2 + (size_t)d > n) lx_fail(L, start, "bad \\x, \\u or \\U escape in a string");
            uint32_t v = lx_hex(L, start, s + j + 2, d);
            if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
                lx_fail(L, start, "escape outside Unicode in a string");
            o += (size_t)elm_utf8_encode(v, out + o);
            j += 2 + (size_t)d;
        } else if (c == 'N') {
            lx_fail(L, start, "\\N{...} escapes are not supported");
        } else {
            out[o++] = s[j++]; /* unknown escape: kept as written */
        }
    }
    out[o] = '\0';
    jtok *t = lx_emit(L, TK_STR, start, out, o);
    (void)t;
    *pi = i + 1;
}

static void lx_number(jlex *L, size_t *pi) {
    const size_t start = *pi;
    size_t i = start;
    char buf[64];
    size_t b = 0;
    bool is_float = false;
    while (i < L->n && ((L->src[i] >= '0' && L->src[i] <= '9') || L->src[i] == '_')) {
        if (L->src[i] != '_' && b < sizeof buf - 1) buf[b++] = L->src[i];
        i++;
    }
    if (i + 1 < L->n && L->src[i] == '.' && L->src[i + 1] >= '0' && L->src[i + 1] <= '9' &&
        !(start > 0 && L->src[start - 1] == '.')) {
        is_float = true;
        buf[b++] = L->src[i++];
        while (i < L->n && ((L->src[i] >= '0' && L->src[i] <= '9') || L->src[i] == '_')) {
            if (L->src[i] != '_' && b < sizeof buf - 1) buf[b++] = L->src[i];
            i++;
        }
    }
    if (i < L->n && (L->src[i] == 'e' || L->src[i] == 'E') && !(start > 0 && L->src[start - 1] == '.')) {
        size_t k = i + 1;
        if (k < L->n && (L->src[k] == '+' || L->src[k] == '-')) k++;
        if (k < L->n && L->src[k] >= '0' && L->src[k] <= '9') {
            is_float = true;
            while (i < k && b < sizeof buf - 1) buf[b++] = L->src[i++];
            while (i < L->n && L->src[i] >= '0' && L->src[i] <= '9') {
                if (b < sizeof buf - 1) buf[b++] = L->src[i];
                i++;
            }
        }
    }
    if (b >= sizeof buf - 1) lx_fail(L, start, "number literal too long");
    buf[b] = '\0';
    jtok *t = lx_emit(L, is_float ? TK_FLOAT : TK_INT, start, NULL, 0);
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        int64_t v = 0;
        for (size_t k = 0; k < b; k++) {
            if (v > (INT64_MAX - (buf[k] - '0')) / 10) lx_fail(L, start, "integer literal too large");
            v = v * 10 + (buf[k] - '0');
        }
        t->i = v;
    }
    *pi = i;
}

static void lx_op(jlex *L, size_t *pi) {
    static const char *const two[] = {"//", "**", "==", "!=", "<=", ">="};
    const size_t i = *pi;
    for (size_t k = 0; k < sizeof two / sizeof two[0]; k++) {
        if (lx_at(L, i, two[k])) {
            lx_emit(L, TK_OP, i, two[k], 2);
            *pi = i + 2;
            return;
        }
    }
    static const char one[] = "+-*/%~<>=.,:|()[]{};";
    const char *p = memchr(one, L->src[i], sizeof one - 1);
    if (!p) {
        char what[48];
        unsigned char c = (unsigned char)L->src[i];
        if (c >= 0x20 && c < 0x7F) snprintf(what, sizeof what, "unexpected character '%c'", c);
        else snprintf(what, sizeof what, "unexpected byte 0x%02X in a tag", c);
        lx_fail(L, i, what);
    }
    lx_emit(L, TK_OP, i, p, 1);
    *pi = i + 1;
}

/* Tokens of one {{ ... }} or {% ... %}; returns the index after the closing mark. */
static size_t lx_tag(jlex *L, size_t i, bool block, bool *ends_nl) {
    const size_t open = i;
    int depth = 0;
    for (;;) {
        i = lx_skip_ws(L, i);
        if (i >= L->n) lx_fail(L, open, block ? "unclosed '{%' tag" : "unclosed '{{' tag");
        if (depth == 0) {
            const char *end = block ? "%}" : "}}";
            char sign = 0;
            size_t at = 0;
            if ((L->src[i] == '-' || (block && L->src[i] == '+')) && lx_at(L, i + 1, end)) {
                sign = L->src[i];
                at = i + 3;
            } else if (lx_at(L, i, end)) {
                at = i + 2;
            }
            if (at) {
                lx_emit(L, block ? TK_BEND : TK_VEND, i, NULL, 0);
                size_t after = at;
                if (sign == '-') after = lx_skip_ws(L, at);
                else if (block && !sign && after < L->n && L->src[after] == '\n') after++;
                *ends_nl = after > at && L->src[after - 1] == '\n';
                return after;
            }
        }
        char c = L->src[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            size_t s = i;
            while (i < L->n && ((L->src[i] >= 'a' && L->src[i] <= 'z') || (L->src[i] >= 'A' && L->src[i] <= 'Z') ||
                                (L->src[i] >= '0' && L->src[i] <= '9') || L->src[i] == '_'))
                i++;
            lx_emit(L, TK_NAME, s, L->src + s, i - s);
        } else if (c == '\'' || c == '"') {
            lx_string(L, &i);
        } else if (c >= '0' && c <= '9') {
            lx_number(L, &i);
        } else {
            if (c == '(' || c == '[' || c == '{') depth++;
            else if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
            lx_op(L, &i);
        }
    }
}

/* {% raw %} ... {% endraw %}: the text in between, verbatim. Returns the index after it,
 * or 0 when the tag at i is not a raw tag. */
static size_t lx_raw(jlex *L, size_t tag, size_t body, bool *ends_nl) {
    size_t i = lx_skip_ws(L, body);
    if (!lx_at(L, i, "raw")) return 0;
    i = lx_skip_ws(L, i + 3);
    size_t open_end;
    if (lx_at(L, i, "-%}")) open_end = lx_skip_ws(L, i + 3);
    else if (lx_at(L, i, "%}")) open_end = i + 2;
    else return 0;
    for (size_t k = open_end; (k = lx_find_tag(L, k)) < L->n; k++) {
        if (L->src[k + 1] != '%') continue;
        size_t j = k + 2;
        char sign = j < L->n && (L->src[j] == '-' || L->src[j] == '+') ? L->src[j] : 0;
        j = lx_skip_ws(L, j + (sign != 0));
        if (!lx_at(L, j, "endraw")) continue;
        j = lx_skip_ws(L, j + 6);
        size_t text_end = k, after;
        if (sign == '-') while (text_end > open_end && u8_space_before(L->src + open_end, text_end - open_end))
            text_end -= u8_space_before(L->src + open_end, text_end - open_end);
        if (lx_at(L, j, "-%}")) after = lx_skip_ws(L, j + 3);
        else if (lx_at(L, j, "+%}")) after = j + 3;
        else if (lx_at(L, j, "%}")) after = j + 2 + (j + 2 < L->n && L->src[j + 2] == '\n');
        else lx_fail(L, k, "malformed {% endraw %}");
        if (text_end > open_end) lx_emit(L, TK_DATA, open_end, L->src + open_end, text_end - open_end);
        *ends_nl = after > 0 && L->src[after - 1] == '\n' && after > j + 2;
        return after;
    }
    lx_fail(L, tag, "{% raw %} without {% endraw %}");
}

static void lx_run(jlex *L) {
    size_t pos = 0;
    bool line_start = true;
    while (pos < L->n) {
        const size_t t = lx_find_tag(L, pos);
        if (t >= L->n) {
            lx_emit(L, TK_DATA, pos, L->src + pos, L->n - pos);
            break;
        }
        const char kind = L->src[t + 1];
        const char sign = t + 2 < L->n && (L->src[t + 2] == '-' || L->src[t + 2] == '+') ? L->src[t + 2] : 0;
        size_t b = t;
        if (sign == '-') {
            size_t k;
            while (b > pos && (k = u8_space_before(L->src + pos, b - pos)) > 0) b -= k;
        } else if (sign != '+' && kind != '{') {
            size_t l = b;
            while (l > pos && L->src[l - 1] != '\n') l--;
            bool all_ws = l < b;
            for (size_t k = l; k < b && all_ws;) {
                size_t w = u8_space_at(L->src, b, k);
                if (!w) all_ws = false;
                k += w;
            }
            if ((l > pos || line_start) && all_ws) b = l;
        }
        if (b > pos) lx_emit(L, TK_DATA, pos, L->src + pos, b - pos);
        const size_t body = t + 2 + (sign != 0);
        bool nl = false;
        if (kind == '#') {
            size_t e = body;
            while (e + 1 < L->n && !(L->src[e] == '#' && L->src[e + 1] == '}')) e++;
            if (e + 1 >= L->n) lx_fail(L, t, "unclosed comment");
            char es = e > body && (L->src[e - 1] == '-' || L->src[e - 1] == '+') ? L->src[e - 1] : 0;
            size_t after = e + 2;
            if (es == '-') after = lx_skip_ws(L, after);
            else if (!es && after < L->n && L->src[after] == '\n') after++;
            nl = after > e + 2 && L->src[after - 1] == '\n';
            pos = after;
        } else if (kind == '%' && (pos = lx_raw(L, t, body, &nl)) > 0) {
            /* raw text emitted */
        } else {
            lx_emit(L, kind == '{' ? TK_VBEGIN : TK_BBEGIN, t, NULL, 0);
            pos = lx_tag(L, body, kind == '%', &nl);
        }
        line_start = nl;
    }
    lx_emit(L, TK_EOF, L->n, NULL, 0);
}

/* Jinja2 reads the source with every \r\n, \r and \n as "\n", and drops one final newline. */
static char *lx_normalise(jfail *f, const char *src, size_t len, size_t *out_len) {
    char *s = jf_alloc(f, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[o++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[o++] = src[i];
        }
    }
    if (o > 0 && s[o - 1] == '\n') o--;
    s[o] = '\0';
    *out_len = o;
    return s;
}

/* ------------------------------------------------------------------------------------------
 * Values and syntax tree
 * ---------------------------------------------------------------------------------------- */

typedef enum {
    V_UNDEF, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_DICT, V_NS, V_LOOP, V_FUNC,
    V_METHOD, V_MACRO,
} vkind;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jloop jloop;
typedef struct jmeth jmeth;
typedef struct jnode jnode;

typedef struct jv {
    vkind k;
    size_t n; /* bytes of a string (or of an undefined value's name) */
    union {
        bool b;
        int64_t i;
        double f;
        const char *s; /* V_STR; V_UNDEF: the name that was looked up (may be NULL) */
        jlist *l;
        jdict *d;      /* V_DICT, V_NS */
        jloop *lp;
        int fn;
        jmeth *m;
        const jnode *mac;
    } u;
} jv;

struct jlist {
    size_t n;
    jv *v;
    bool tuple;
};

struct jdict {
    size_t n, cap;
    jv *keys, *vals;
};

struct jloop {
    const jlist *items;
    size_t i;
};

struct jmeth {
    jv self;
    const char *name;
};

typedef struct jnlist {
    jnode **v;
    size_t n;
} jnlist;

typedef enum {
    N_TEXT, N_OUT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_BREAK, N_CONTINUE, N_MACRO,
    N_CONST, N_NAME, N_LIST, N_TUPLE, N_DICT, N_ATTR, N_ITEM, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_NEG, N_POS, N_NOT, N_BIN, N_CMP, N_AND, N_OR, N_COND,
} nkind;

struct jnode {
    nkind k;
    int line, col;
    const char *s; /* text, name, attribute, filter/test name, operator */
    size_t n;
    jnode *a, *b, *c;
    jnlist kids;   /* body, items, positional args, dict keys, compared operands */
    jnlist kids2;  /* else body, dict values, keyword arg values, macro defaults */
    const char **names; /* assignment targets, keyword arg names, macro params, cmp ops */
    size_t n_names;
    bool neg;      /* "is not" */
    jv val;        /* N_CONST */
};

/* ------------------------------------------------------------------------------------------
 * Parser (Jinja2's grammar and precedence)
 * ---------------------------------------------------------------------------------------- */

typedef struct jp {
    jfail *f;
    const jtok *t;
    size_t i;
    int depth, loops, macros;
} jp;

static const jtok *ps_cur(const jp *p) { return &p->t[p->i]; }
static const jtok *ps_peek(const jp *p) { return p->t[p->i].k == TK_EOF ? &p->t[p->i] : &p->t[p->i + 1]; }

static void ps_advance(jp *p) {
    if (p->t[p->i].k != TK_EOF) p->i++;
}

static bool tk_op(const jtok *t, const char *op) {
    return t->k == TK_OP && t->n == strlen(op) && !memcmp(t->s, op, t->n);
}

static bool tk_name(const jtok *t, const char *name) {
    return t->k == TK_NAME && t->n == strlen(name) && !memcmp(t->s, name, t->n);
}

static _Noreturn JF_PRINTF(2, 3) void ps_fail(jp *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    jf_vfail(p->f, ps_cur(p)->line, ps_cur(p)->col, fmt, ap);
}

static const char *tk_describe(const jtok *t, char *buf, size_t size) {
    switch (t->k) {
    case TK_EOF: return "the end of the template";
    case TK_DATA: return "text";
    case TK_VBEGIN: return "'{{'";
    case TK_VEND: return "'}}'";
    case TK_BBEGIN: return "'{%'";
    case TK_BEND: return "'%}'";
    case TK_STR: return "a string";
    case TK_INT:
    case TK_FLOAT: return "a number";
    default: snprintf(buf, size, "'%.*s'", (int)(t->n < 40 ? t->n : 40), t->s); return buf;
    }
}

static _Noreturn void ps_unexpected(jp *p, const char *wanted) {
    char b[64];
    ps_fail(p, "expected %s, found %s", wanted, tk_describe(ps_cur(p), b, sizeof b));
}

static void ps_expect_op(jp *p, const char *op) {
    if (!tk_op(ps_cur(p), op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        ps_unexpected(p, w);
    }
    ps_advance(p);
}

static void ps_expect(jp *p, tkind k, const char *what) {
    if (ps_cur(p)->k != k) ps_unexpected(p, what);
    ps_advance(p);
}

static const char *ps_name(jp *p) {
    const jtok *t = ps_cur(p);
    if (t->k != TK_NAME) ps_unexpected(p, "a name");
    ps_advance(p);
    return jf_strdup(p->f, t->s, t->n);
}

static jnode *ps_node(jp *p, nkind k) {
    jnode *n = jf_alloc(p->f, sizeof *n);
    memset(n, 0, sizeof *n);
    n->k = k;
    n->line = ps_cur(p)->line;
    n->col = ps_cur(p)->col;
    return n;
}

/* A growable node list (built in the arena). */
typedef struct jnvec {
    jnode **v;
    size_t n, cap;
} jnvec;

static void nv_push(jfail *f, jnvec *v, jnode *n) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 4;
        jnode **b = jf_alloc(f, jf_mul(f, cap, sizeof *b));
        if (v->n) memcpy(b, v->v, v->n * sizeof *b);
        v->v = b;
        v->cap = cap;
    }
    v->v[v->n++] = n;
}

static jnlist nv_list(const jnvec *v) { return (jnlist){v->v, v->n}; }

static void ps_enter(jp *p) {
    if (++p->depth > JINJA_MAX_DEPTH) ps_fail(p, "nesting deeper than %d levels", JINJA_MAX_DEPTH);
}

static jnode *ps_expr(jp *p, bool with_cond);
static jnode *ps_tuple(jp *p, bool with_cond);
static jnode *ps_unary(jp *p, bool with_filter);

/* (a, b=c, ...) after a callee, filter or test; pushes into n's kids / kids2 / names. */
static void ps_args(jp *p, jnode *n) {
    ps_expect_op(p, "(");
    jnvec pos = {0}, kw = {0};
    const char **names = NULL;
    size_t n_names = 0, cap_names = 0;
    while (!tk_op(ps_cur(p), ")")) {
        if (pos.n + kw.n > 0) {
            ps_expect_op(p, ",");
            if (tk_op(ps_cur(p), ")")) break;
        }
        if (tk_op(ps_cur(p), "*") || tk_op(ps_cur(p), "**")) ps_fail(p, "*args and **kwargs are not supported");
        if (ps_cur(p)->k == TK_NAME && tk_op(ps_peek(p), "=")) {
            if (n_names == cap_names) {
                cap_names = cap_names ? 2 * cap_names : 4;
                const char **b = jf_alloc(p->f, cap_names * sizeof *b);
                if (n_names) memcpy(b, names, n_names * sizeof *b);
                names = b;
            }
            names[n_names++] = ps_name(p);
            ps_advance(p);
            nv_push(p->f, &kw, ps_expr(p, true));
        } else {
            if (kw.n) ps_fail(p, "a positional argument after a keyword argument");
            nv_push(p->f, &pos, ps_expr(p, true));
        }
    }
    ps_advance(p);
    n->kids = nv_list(&pos);
    n->kids2 = nv_list(&kw);
    n->names = names;
    n->n_names = n_names;
}

static jnode *ps_const(jp *p, vkind k) {
    jnode *n = ps_node(p, N_CONST);
    n->val.k = k;
    return n;
}

static jnode *ps_primary(jp *p) {
    const jtok *t = ps_cur(p);
    jnode *n;
    switch (t->k) {
    case TK_NAME:
        if (tk_name(t, "true") || tk_name(t, "True") || tk_name(t, "false") || tk_name(t, "False")) {
            n = ps_const(p, V_BOOL);
            n->val.u.b = t->s[0] == 't' || t->s[0] == 'T';
        } else if (tk_name(t, "none") || tk_name(t, "None")) {
            n = ps_const(p, V_NONE);
        } else {
            n = ps_node(p, N_NAME);
            n->s = jf_strdup(p->f, t->s, t->n);
            n->n = t->n;
        }
        ps_advance(p);
        return n;
    case TK_STR: {
        /* Adjacent literals are one string, as in Python. */
        n = ps_const(p, V_STR);
        size_t len = 0, i = p->i;
        for (; p->t[i].k == TK_STR; i++) len += p->t[i].n;
        char *s = jf_alloc(p->f, len + 1);
        len = 0;
        for (; ps_cur(p)->k == TK_STR; ps_advance(p)) {
            memcpy(s + len, ps_cur(p)->s, ps_cur(p)->n);
            len += ps_cur(p)->n;
        }
        s[len] = '\0';
        n->val.u.s = s;
        n->val.n = len;
        return n;
    }
    case TK_INT:
        n = ps_const(p, V_INT);
        n->val.u.i = t->i;
        ps_advance(p);
        return n;
    case TK_FLOAT:
        n = ps_const(p, V_FLOAT);
        n->val.u.f = t->f;
        ps_advance(p);
        return n;
    case TK_OP:
        if (tk_op(t, "(")) {
            ps_advance(p);
            if (tk_op(ps_cur(p), ")")) {
                ps_advance(p);
                n = ps_node(p, N_TUPLE);
                return n;
            }
            n = ps_tuple(p, true);
            ps_expect_op(p, ")");
            return n;
        }
        if (tk_op(t, "[")) {
            n = ps_node(p, N_LIST);
            ps_advance(p);
            jnvec items = {0};
            while (!tk_op(ps_cur(p), "]")) {
                if (items.n) {
                    ps_expect_op(p, ",");
                    if (tk_op(ps_cur(p), "]")) break;
                }
                nv_push(p->f, &items, ps_expr(p, true));
            }
            ps_advance(p);
            n->kids = nv_list(&items);
            return n;
        }
        if (tk_op(t, "{")) {
            n = ps_node(p, N_DICT);
            ps_advance(p);
            jnvec keys = {0}, vals = {0};
            while (!tk_op(ps_cur(p), "}")) {
                if (keys.n) {
                    ps_expect_op(p, ",");
                    if (tk_op(ps_cur(p), "}")) break;
                }
                nv_push(p->f, &keys, ps_expr(p, true));
                ps_expect_op(p, ":");
                nv_push(p->f, &vals, ps_expr(p, true));
            }
            ps_advance(p);
            n->kids = nv_list(&keys);
            n->kids2 = nv_list(&vals);
            return n;
        }
        break;
    default: break;
    }
    ps_unexpected(p, "an expression");
}

/* x[...] as an item or a slice. */
static jnode *ps_subscript(jp *p, jnode *obj) {
    jnode *n = ps_node(p, N_ITEM);
    n->line = obj->line; /* errors point at the object */
    n->col = obj->col;
    ps_expect_op(p, "[");
    jnode *parts[3] = {NULL, NULL, NULL};
    int k = 0;
    bool slice = false;
    for (;;) {
        if (tk_op(ps_cur(p), ":")) {
            if (++k > 2) ps_fail(p, "too many ':' in a slice");
            slice = true;
            ps_advance(p);
            continue;
        }
        if (tk_op(ps_cur(p), "]")) break;
        if (parts[k]) ps_unexpected(p, "':' or ']'");
        parts[k] = ps_expr(p, true);
        if (!slice && tk_op(ps_cur(p), ",")) ps_fail(p, "tuple subscripts are not supported");
    }
    ps_advance(p);
    n->a = obj;
    if (slice) {
        n->k = N_SLICE;
        n->b = parts[0];
        n->c = parts[1];
        jnvec v = {0};
        nv_push(p->f, &v, parts[2]);
        n->kids = nv_list(&v);
    } else {
        if (!parts[0]) ps_fail(p, "empty subscript");
        n->b = parts[0];
    }
    return n;
}

static jnode *ps_call(jp *p, jnode *callee) {
    jnode *c = ps_node(p, N_CALL);
    c->a = callee;
    ps_args(p, c);
    return c;
}

static jnode *ps_postfix(jp *p, jnode *n) {
    for (;;) {
        const jtok *t = ps_cur(p);
        if (tk_op(t, ".")) {
            ps_advance(p);
            const jtok *a = ps_cur(p);
            if (a->k == TK_INT) {
                jnode *it = ps_node(p, N_ITEM);
                jnode *c = ps_const(p, V_INT);
                c->val.u.i = a->i;
                ps_advance(p);
                it->a = n;
                it->b = c;
                n = it;
                continue;
            }
            jnode *at = ps_node(p, N_ATTR);
            at->line = n->line; /* errors point at the object */
            at->col = n->col;
            at->s = ps_name(p);
            at->n = strlen(at->s);
            at->a = n;
            n = at;
        } else if (tk_op(t, "[")) {
            n = ps_subscript(p, n);
        } else if (tk_op(t, "(")) {
            n = ps_call(p, n);
        } else {
            return n;
        }
    }
}

static bool ps_starts_primary(const jtok *t) {
    if (t->k == TK_NAME)
        return !tk_name(t, "else") && !tk_name(t, "or") && !tk_name(t, "and") && !tk_name(t, "if") &&
               !tk_name(t, "in") && !tk_name(t, "is") && !tk_name(t, "not");
    return t->k == TK_STR || t->k == TK_INT || t->k == TK_FLOAT || tk_op(t, "[") || tk_op(t, "{");
}

static jnode *ps_filters(jp *p, jnode *n) {
    for (;;) {
        const jtok *t = ps_cur(p);
        if (tk_op(t, "|")) {
            ps_advance(p);
            jnode *f = ps_node(p, N_FILTER);
            f->s = ps_name(p);
            f->n = strlen(f->s);
            f->a = n;
            if (tk_op(ps_cur(p), "(")) ps_args(p, f);
            n = f;
        } else if (tk_name(t, "is")) {
            ps_advance(p);
            jnode *f = ps_node(p, N_TEST);
            if (tk_name(ps_cur(p), "not")) {
                f->neg = true;
                ps_advance(p);
            }
            const jtok *nt = ps_cur(p);
            /* Tests named by keywords or operators: "is none", "is true", "is ==" ... */
            if (nt->k == TK_OP && (tk_op(nt, "==") || tk_op(nt, "!=") || tk_op(nt, "<") ||
                                   tk_op(nt, "<=") || tk_op(nt, ">") || tk_op(nt, ">="))) {
                f->s = jf_strdup(p->f, nt->s, nt->n);
                ps_advance(p);
            } else {
                f->s = ps_name(p);
            }
            f->n = strlen(f->s);
            f->a = n;
            if (tk_op(ps_cur(p), "(")) {
                ps_args(p, f);
            } else if (ps_starts_primary(ps_cur(p))) {
                jnvec v = {0};
                nv_push(p->f, &v, ps_postfix(p, ps_primary(p)));
                f->kids = nv_list(&v);
            }
            n = f;
        } else if (tk_op(t, "(")) {
            n = ps_call(p, n);
        } else {
            return n;
        }
    }
}

static jnode *ps_unary(jp *p, bool with_filter) {
    ps_enter(p);
    jnode *n;
    if (tk_op(ps_cur(p), "-") || tk_op(ps_cur(p), "+")) {
        n = ps_node(p, tk_op(ps_cur(p), "-") ? N_NEG : N_POS);
        ps_advance(p);
        n->a = ps_unary(p, false);
    } else {
        n = ps_primary(p);
    }
    n = ps_postfix(p, n);
    if (with_filter) n = ps_filters(p, n);
    p->depth--;
    return n;
}

static jnode *ps_binary(jp *p, nkind k, jnode *a, const char *op, jnode *b) {
    jnode *n = jf_alloc(p->f, sizeof *n);
    memset(n, 0, sizeof *n);
    n->k = k;
    n->line = a->line;
    n->col = a->col;
    n->s = op;
    n->a = a;
    n->b = b;
    return n;
}

/* One left-associative level of binary operators (symbols, or the words and / or), each operand
 * parsed by the next level up. */
static jnode *ps_level(jp *p, jnode *(*next)(jp *), const char *const *ops) {
    jnode *n = next(p);
    for (;;) {
        const jtok *t = ps_cur(p);
        const char *op = NULL;
        for (size_t i = 0; ops[i] && !op; i++)
            if (tk_op(t, ops[i]) || tk_name(t, ops[i])) op = ops[i];
        if (!op) return n;
        ps_advance(p);
        const nkind k = !strcmp(op, "and") ? N_AND : !strcmp(op, "or") ? N_OR : N_BIN;
        n = ps_binary(p, k, n, op, next(p));
    }
}

static jnode *ps_unary_filtered(jp *p) { return ps_unary(p, true); }

static jnode *ps_pow(jp *p) {
    static const char *const ops[] = {"**", NULL};
    return ps_level(p, ps_unary_filtered, ops);
}

static jnode *ps_math2(jp *p) {
    static const char *const ops[] = {"*", "/", "//", "%", NULL};
    return ps_level(p, ps_pow, ops);
}

static jnode *ps_concat(jp *p) {
    static const char *const ops[] = {"~", NULL};
    return ps_level(p, ps_math2, ops);
}

static jnode *ps_math1(jp *p) {
    static const char *const ops[] = {"+", "-", NULL};
    return ps_level(p, ps_concat, ops);
}

static jnode *ps_compare(jp *p) {
    jnode *first = ps_math1(p);
    jnvec operands = {0};
    const char **names = NULL;
    size_t n_ops = 0;
    for (;;) {
        const jtok *t = ps_cur(p);
        const char *op = NULL;
        if (tk_op(t, "==")) op = "==";
        else if (tk_op(t, "!=")) op = "!=";
        else if (tk_op(t, "<")) op = "<";
        else if (tk_op(t, "<=")) op = "<=";
        else if (tk_op(t, ">")) op = ">";
        else if (tk_op(t, ">=")) op = ">=";
        else if (tk_name(t, "in")) op = "in";
        else if (tk_name(t, "not") && tk_name(ps_peek(p), "in")) op = "not in";
        if (!op) break;
        ps_advance(p);
        if (!strcmp(op, "not in")) ps_advance(p);
        if (n_ops % 8 == 0) {
            const char **b = jf_alloc(p->f, (n_ops + 8) * sizeof *b);
            if (n_ops) memcpy(b, names, n_ops * sizeof *b);
            names = b;
        }
        names[n_ops++] = op;
        nv_push(p->f, &operands, ps_math1(p));
    }
    if (!n_ops) return first;
    jnode *n = ps_binary(p, N_CMP, first, NULL, NULL);
    n->kids = nv_list(&operands);
    n->names = names;
    n->n_names = n_ops;
    return n;
}

static jnode *ps_not(jp *p) {
    if (tk_name(ps_cur(p), "not")) {
        ps_enter(p);
        jnode *n = ps_node(p, N_NOT);
        ps_advance(p);
        n->a = ps_not(p);
        p->depth--;
        return n;
    }
    return ps_compare(p);
}

static jnode *ps_and(jp *p) {
    static const char *const ops[] = {"and", NULL};
    return ps_level(p, ps_not, ops);
}

static jnode *ps_or(jp *p) {
    static const char *const ops[] = {"or", NULL};
    return ps_level(p, ps_and, ops);
}

static jnode *ps_expr(jp *p, bool with_cond) {
    ps_enter(p);
    jnode *n = ps_or(p);
    while (with_cond && tk_name(ps_cur(p), "if")) {
        jnode *c = ps_node(p, N_COND);
        ps_advance(p);
        c->a = ps_or(p); /* condition */
        c->b = n;        /* value when true */
        if (tk_name(ps_cur(p), "else")) {
            ps_advance(p);
            c->c = ps_expr(p, true);
        }
        n = c;
    }
    p->depth--;
    return n;
}

/* An expression, or a tuple when commas follow. */
static jnode *ps_tuple(jp *p, bool with_cond) {
    jnode *first = ps_expr(p, with_cond);
    if (!tk_op(ps_cur(p), ",")) return first;
    jnode *t = ps_node(p, N_TUPLE);
    t->line = first->line;
    t->col = first->col;
    jnvec items = {0};
    nv_push(p->f, &items, first);
    while (tk_op(ps_cur(p), ",")) {
        ps_advance(p);
        const jtok *c = ps_cur(p);
        if (c->k == TK_VEND || c->k == TK_BEND || tk_op(c, ")") || tk_name(c, "if")) break;
        nv_push(p->f, &items, ps_expr(p, with_cond));
    }
    t->kids = nv_list(&items);
    return t;
}

/* ---- statements ---- */

static jnlist ps_body(jp *p, const char *const *ends, const char **which);

/* Assignment targets: one name, or names separated by commas (optionally in parentheses). */
static void ps_targets(jp *p, jnode *n) {
    bool paren = tk_op(ps_cur(p), "(");
    if (paren) ps_advance(p);
    const char **names = jf_alloc(p->f, 16 * sizeof *names);
    size_t k = 0;
    do {
        if (k && !tk_op(ps_cur(p), ",")) break;
        if (k) ps_advance(p);
        if (k == 16) ps_fail(p, "more than 16 assignment targets");
        names[k++] = ps_name(p);
    } while (tk_op(ps_cur(p), ","));
    if (paren) ps_expect_op(p, ")");
    n->names = names;
    n->n_names = k;
}

/* After a body that stopped at tag `which`: the {% else %} body up to end_only's tag, then the
 * closing %} of the last tag. */
static void ps_else_and_end(jp *p, jnode *n, const char *which, const char *const *end_only) {
    if (!strcmp(which, "else")) {
        ps_expect(p, TK_BEND, "'%}'");
        n->kids2 = ps_body(p, end_only, &which);
    }
    ps_expect(p, TK_BEND, "'%}'");
}

static jnode *ps_if(jp *p) {
    jnode *n = ps_node(p, N_IF);
    n->a = ps_tuple(p, false);
    ps_expect(p, TK_BEND, "'%}'");
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    const char *which;
    n->kids = ps_body(p, ends, &which);
    if (!strcmp(which, "elif")) {
        jnvec v = {0};
        ps_enter(p);
        nv_push(p->f, &v, ps_if(p));
        p->depth--;
        n->kids2 = nv_list(&v);
        return n; /* the nested if consumed endif */
    }
    static const char *const end_only[] = {"endif", NULL};
    ps_else_and_end(p, n, which, end_only);
    return n;
}

static jnode *ps_for(jp *p) {
    jnode *n = ps_node(p, N_FOR);
    ps_targets(p, n);
    if (!tk_name(ps_cur(p), "in")) ps_unexpected(p, "'in'");
    ps_advance(p);
    n->a = ps_tuple(p, false);
    if (tk_name(ps_cur(p), "if")) {
        ps_advance(p);
        n->b = ps_expr(p, true);
    }
    if (tk_name(ps_cur(p), "recursive")) ps_fail(p, "recursive loops are not supported");
    ps_expect(p, TK_BEND, "'%}'");
    static const char *const ends[] = {"else", "endfor", NULL};
    const char *which;
    p->loops++;
    n->kids = ps_body(p, ends, &which);
    p->loops--;
    static const char *const end_only[] = {"endfor", NULL};
    ps_else_and_end(p, n, which, end_only);
    return n;
}

static jnode *ps_set(jp *p) {
    jnode *n = ps_node(p, N_SET);
    if (ps_cur(p)->k == TK_NAME && tk_op(ps_peek(p), ".")) {
        const char **names = jf_alloc(p->f, sizeof *names);
        names[0] = ps_name(p);
        ps_advance(p);
        n->s = ps_name(p); /* namespace attribute */
        n->names = names;
        n->n_names = 1;
    } else {
        ps_targets(p, n);
    }
    if (tk_op(ps_cur(p), "=")) {
        ps_advance(p);
        n->a = ps_tuple(p, true);
        ps_expect(p, TK_BEND, "'%}'");
        return n;
    }
    if (n->n_names != 1 || n->s) ps_unexpected(p, "'='");
    if (tk_op(ps_cur(p), "|")) ps_fail(p, "filters on {%% set %%} blocks are not supported");
    ps_expect(p, TK_BEND, "'%}'");
    n->k = N_SETBLOCK;
    static const char *const ends[] = {"endset", NULL};
    const char *which;
    n->kids = ps_body(p, ends, &which);
    ps_expect(p, TK_BEND, "'%}'");
    return n;
}

static jnode *ps_macro(jp *p) {
    if (p->macros) ps_fail(p, "a macro inside a macro is not supported");
    jnode *n = ps_node(p, N_MACRO);
    n->s = ps_name(p);
    n->n = strlen(n->s);
    ps_expect_op(p, "(");
    const char **names = jf_alloc(p->f, 32 * sizeof *names);
    jnvec defs = {0};
    size_t k = 0;
    while (!tk_op(ps_cur(p), ")")) {
        if (k) ps_expect_op(p, ",");
        if (k == 32) ps_fail(p, "more than 32 macro parameters");
        names[k] = ps_name(p);
        jnode *d = NULL;
        if (tk_op(ps_cur(p), "=")) {
            ps_advance(p);
            d = ps_expr(p, true);
        } else if (defs.n && defs.v[defs.n - 1]) {
            ps_fail(p, "a macro parameter without a default after one with a default");
        }
        nv_push(p->f, &defs, d);
        k++;
    }
    ps_advance(p);
    ps_expect(p, TK_BEND, "'%}'");
    n->names = names;
    n->n_names = k;
    n->kids2 = nv_list(&defs);
    static const char *const ends[] = {"endmacro", NULL};
    const char *which;
    int loops = p->loops;
    p->loops = 0;
    p->macros++;
    n->kids = ps_body(p, ends, &which);
    p->macros--;
    p->loops = loops;
    ps_expect(p, TK_BEND, "'%}'");
    return n;
}

static jnode *ps_statement(jp *p) {
    const jtok *t = ps_cur(p);
    if (t->k != TK_NAME) ps_unexpected(p, "a tag name");
    jnode *n;
    ps_enter(p);
    if (tk_name(t, "if")) {
        ps_advance(p);
        n = ps_if(p);
    } else if (tk_name(t, "for")) {
        ps_advance(p);
        n = ps_for(p);
    } else if (tk_name(t, "set")) {
        ps_advance(p);
        n = ps_set(p);
    } else if (tk_name(t, "macro")) {
        ps_advance(p);
        n = ps_macro(p);
    } else if (tk_name(t, "generation")) {
        /* Hugging Face's {% generation %} marks assistant text; it renders its body as is. */
        n = ps_node(p, N_IF);
        ps_advance(p);
        ps_expect(p, TK_BEND, "'%}'");
        n->a = ps_const(p, V_BOOL);
        n->a->val.u.b = true;
        static const char *const ends[] = {"endgeneration", NULL};
        const char *which;
        n->kids = ps_body(p, ends, &which);
        ps_expect(p, TK_BEND, "'%}'");
    } else if (tk_name(t, "break") || tk_name(t, "continue")) {
        if (!p->loops) ps_fail(p, "'%.*s' outside a loop", (int)t->n, t->s);
        n = ps_node(p, tk_name(t, "break") ? N_BREAK : N_CONTINUE);
        ps_advance(p);
        ps_expect(p, TK_BEND, "'%}'");
    } else {
        ps_fail(p, "unsupported tag '%.*s'", (int)(t->n < 40 ? t->n : 40), t->s);
    }
    p->depth--;
    return n;
}

/* Statements until a tag named in ends (its name consumed; *which names it) or, when ends
 * is NULL, the end of the template. */
static jnlist ps_body(jp *p, const char *const *ends, const char **which) {
    jnvec v = {0};
    for (;;) {
        const jtok *t = ps_cur(p);
        if (t->k == TK_EOF) {
            if (ends) {
                size_t last = 0;
                while (ends[last + 1]) last++;
                ps_fail(p, "missing {%% %s %%}", ends[last]);
            }
            *which = "";
            return nv_list(&v);
        }
        if (t->k == TK_DATA) {
            jnode *n = ps_node(p, N_TEXT);
            n->s = t->s;
            n->n = t->n;
            ps_advance(p);
            nv_push(p->f, &v, n);
        } else if (t->k == TK_VBEGIN) {
            jnode *n = ps_node(p, N_OUT);
            ps_advance(p);
            n->a = ps_tuple(p, true);
            ps_expect(p, TK_VEND, "'}}'");
            nv_push(p->f, &v, n);
        } else if (t->k == TK_BBEGIN) {
            ps_advance(p);
            const jtok *name = ps_cur(p);
            for (size_t k = 0; ends && ends[k]; k++) {
                if (tk_name(name, ends[k])) {
                    *which = ends[k];
                    ps_advance(p);
                    return nv_list(&v);
                }
            }
            if (name->k == TK_NAME && (tk_name(name, "endif") || tk_name(name, "endfor") ||
                                       tk_name(name, "else") || tk_name(name, "elif") ||
                                       tk_name(name, "endset") || tk_name(name, "endmacro") ||
                                       tk_name(name, "endgeneration")))
                ps_fail(p, "unexpected {%% %.*s %%}", (int)name->n, name->s);
            nv_push(p->f, &v, ps_statement(p));
        } else {
            ps_unexpected(p, "text or a tag");
        }
    }
}

struct jinja_tmpl {
    jfail arena; /* holds the tree */
    jnlist body;
};

jinja_tmpl *jinja_parse(const char *src, size_t len, char *err, size_t err_size) {
    if (err && err_size) err[0] = '\0';
    if (!src) {
        if (err && err_size) snprintf(err, err_size, "no template");
        return NULL;
    }
    if (len > JINJA_MAX_SOURCE) {
        if (err && err_size)
            snprintf(err, err_size, "the template is %zu bytes; at most %u are accepted", len,
                     JINJA_MAX_SOURCE);
        return NULL;
    }
    jinja_tmpl *t = ELM_CALLOC(1, sizeof *t);
    if (!t) {
        if (err && err_size) snprintf(err, err_size, "out of memory");
        return NULL;
    }
    jfail *f = &t->arena;
    f->limit = 64 * (size_t)len + (8u << 20);
    if (setjmp(f->jb)) {
        if (err && err_size) snprintf(err, err_size, "%s", f->msg);
        jf_release(f);
        ELM_FREE(t);
        return NULL;
    }
    jlex L = {.f = f};
    L.src = lx_normalise(f, src, len, &L.n);
    lx_run(&L);
    jp p = {.f = f, .t = L.toks};
    const char *which;
    t->body = ps_body(&p, NULL, &which);
    return t;
}

void jinja_free(jinja_tmpl *t) {
    if (!t) return;
    jf_release(&t->arena);
    ELM_FREE(t);
}

/* ------------------------------------------------------------------------------------------
 * Evaluator: state, buffers, values
 * ---------------------------------------------------------------------------------------- */

#define JE_MAX_FRAMES 1024
#define JE_MAX_VALUE_DEPTH 256 /* nesting of values in comparisons and printing */
#define JE_MAX_CALLS 16        /* nesting of macro calls (each may nest JINJA_MAX_DEPTH deep) */

typedef struct jbuf {
    char *p;
    size_t n, cap, limit;
} jbuf;

enum { F_RAISE, F_NAMESPACE, F_RANGE, F_STRFTIME, F_DICT };
enum { CTL_NONE, CTL_BREAK, CTL_CONTINUE };

typedef struct je {
    jfail f;
    const jinja_opts *o;
    jbuf *out;
    size_t max_out;
    uint64_t steps, max_steps;
    jdict *globals;
    jdict *frames[JE_MAX_FRAMES];
    int n_frames, base; /* names are looked up in frames[n_frames-1 .. base], frames[0], globals */
    int ctl;
    int calls;
    int vdepth;
} je;

static _Noreturn JF_PRINTF(3, 4) void je_fail(je *e, const jnode *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    jf_vfail(&e->f, at ? at->line : 0, at ? at->col : 0, fmt, ap);
}

static void je_cost(je *e, const jnode *at, uint64_t k) {
    e->steps += k;
    if (e->steps > e->max_steps)
        je_fail(e, at, "the template takes more than %llu steps", (unsigned long long)e->max_steps);
}

static void jb_put(je *e, jbuf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (n > b->limit || b->n > b->limit - n) {
        e->f.line = 0;
        jf_fail(&e->f, "the rendered text is longer than %zu bytes", b->limit);
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap = cap > SIZE_MAX / 2 ? b->n + n : 2 * cap;
        char *p = jf_alloc(&e->f, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void jb_puts(je *e, jbuf *b, const char *s) { jb_put(e, b, s, strlen(s)); }

static jbuf jb_temp(const je *e) { return (jbuf){NULL, 0, 0, e->f.limit}; }

static jv v_undef(const char *name) {
    jv v = {.k = V_UNDEF};
    v.u.s = name;
    v.n = name ? strlen(name) : 0;
    return v;
}
static jv v_none(void) { return (jv){.k = V_NONE}; }
static jv v_bool(bool b) { return (jv){.k = V_BOOL, .u.b = b}; }
static jv v_int(int64_t i) { return (jv){.k = V_INT, .u.i = i}; }
static jv v_float(double f) { return (jv){.k = V_FLOAT, .u.f = f}; }
static jv v_str(const char *s, size_t n) { return (jv){.k = V_STR, .n = n, .u.s = s}; }
static jv v_strz(const char *s) { return v_str(s, strlen(s)); }
static jv v_buf(const jbuf *b) { return v_str(b->p ? b->p : "", b->n); }

static jv v_list(je *e, size_t n, bool tuple) {
    jlist *l = jf_alloc(&e->f, sizeof *l);
    l->n = n;
    l->v = jf_alloc(&e->f, jf_mul(&e->f, n ? n : 1, sizeof(jv)));
    l->tuple = tuple;
    return (jv){.k = V_LIST, .u.l = l};
}

static jdict *d_new(je *e) {
    jdict *d = jf_alloc(&e->f, sizeof *d);
    memset(d, 0, sizeof *d);
    return d;
}

static const char *kind_name(vkind k) {
    static const char *const names[] = {
        [V_UNDEF] = "undefined", [V_NONE] = "None", [V_BOOL] = "bool", [V_INT] = "int",
        [V_FLOAT] = "float", [V_STR] = "string", [V_LIST] = "list", [V_DICT] = "dict",
        [V_NS] = "namespace", [V_LOOP] = "loop", [V_FUNC] = "function", [V_METHOD] = "method",
        [V_MACRO] = "macro"};
    return names[k];
}

static bool is_num(const jv *v) { return v->k == V_BOOL || v->k == V_INT || v->k == V_FLOAT; }
static int64_t as_int(const jv *v) { return v->k == V_BOOL ? v->u.b : v->u.i; }
static double as_float(const jv *v) { return v->k == V_FLOAT ? v->u.f : (double)as_int(v); }

static _Noreturn void je_undefined(je *e, const jnode *at, const jv *v) {
    if (v->u.s) je_fail(e, at, "'%.*s' is undefined", (int)(v->n < 60 ? v->n : 60), v->u.s);
    je_fail(e, at, "an undefined value used where a value is needed");
}

static bool py_eq(je *e, const jv *a, const jv *b);

static bool d_find(je *e, const jdict *d, const jv *key, size_t *at) {
    for (size_t i = 0; i < d->n; i++) {
        if (py_eq(e, &d->keys[i], key)) {
            *at = i;
            return true;
        }
    }
    return false;
}

static bool d_get_str(const jdict *d, const char *name, size_t n, jv *out) {
    for (size_t i = 0; i < d->n; i++) {
        const jv *k = &d->keys[i];
        if (k->k == V_STR && k->n == n && !memcmp(k->u.s, name, n)) {
            *out = d->vals[i];
            return true;
        }
    }
    return false;
}

static void d_set(je *e, jdict *d, jv key, jv val) {
    size_t at;
    if (d_find(e, d, &key, &at)) {
        d->vals[at] = val;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        jv *k = jf_alloc(&e->f, jf_mul(&e->f, cap, sizeof *k));
        jv *v = jf_alloc(&e->f, jf_mul(&e->f, cap, sizeof *v));
        if (d->n) {
            memcpy(k, d->keys, d->n * sizeof *k);
            memcpy(v, d->vals, d->n * sizeof *v);
        }
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
}

static void d_set_str(je *e, jdict *d, const char *name, jv val) { d_set(e, d, v_strz(name), val); }

static bool truthy(const jv *v) {
    switch (v->k) {
    case V_UNDEF:
    case V_NONE: return false;
    case V_BOOL: return v->u.b;
    case V_INT: return v->u.i != 0;
    case V_FLOAT: return v->u.f != 0;
    case V_STR: return v->n > 0;
    case V_LIST: return v->u.l->n > 0;
    case V_DICT: return v->u.d->n > 0;
    default: return true;
    }
}

/* Recursion into nested values (comparison, printing) is counted: a template can nest
 * values deeply, or put a namespace inside itself. */
static void depth_enter(je *e) {
    if (++e->vdepth > JE_MAX_VALUE_DEPTH)
        je_fail(e, NULL, "values nested deeper than %d (or a namespace holding itself)", JE_MAX_VALUE_DEPTH);
}

static bool py_eq_items(je *e, const jv *a, const jv *b);

static bool py_eq(je *e, const jv *a, const jv *b) {
    if ((a->k == V_LIST || a->k == V_DICT) && a->k == b->k) {
        depth_enter(e);
        bool r = py_eq_items(e, a, b);
        e->vdepth--;
        return r;
    }
    return py_eq_items(e, a, b);
}

static bool py_eq_items(je *e, const jv *a, const jv *b) {
    if (is_num(a) && is_num(b)) {
        if (a->k == V_FLOAT || b->k == V_FLOAT) return as_float(a) == as_float(b);
        return as_int(a) == as_int(b);
    }
    if (a->k != b->k) return false;
    switch (a->k) {
    case V_UNDEF:
    case V_NONE: return true;
    case V_STR: return a->n == b->n && !memcmp(a->u.s, b->u.s, a->n);
    case V_LIST:
        if (a->u.l->n != b->u.l->n || a->u.l->tuple != b->u.l->tuple) return false;
        for (size_t i = 0; i < a->u.l->n; i++)
            if (!py_eq(e, &a->u.l->v[i], &b->u.l->v[i])) return false;
        return true;
    case V_DICT: {
        if (a->u.d->n != b->u.d->n) return false;
        for (size_t i = 0; i < a->u.d->n; i++) {
            size_t at;
            if (!d_find(e, b->u.d, &a->u.d->keys[i], &at) || !py_eq(e, &a->u.d->vals[i], &b->u.d->vals[at]))
                return false;
        }
        return true;
    }
    case V_NS: return a->u.d == b->u.d;
    case V_LOOP: return a->u.lp == b->u.lp;
    case V_FUNC: return a->u.fn == b->u.fn;
    case V_MACRO: return a->u.mac == b->u.mac;
    default: return false;
    }
}

static int py_cmp(je *e, const jnode *at, const jv *a, const jv *b) {
    if (is_num(a) && is_num(b)) {
        if (a->k == V_FLOAT || b->k == V_FLOAT) {
            double x = as_float(a), y = as_float(b);
            return x < y ? -1 : x > y ? 1 : 0;
        }
        int64_t x = as_int(a), y = as_int(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a->k == V_STR && b->k == V_STR) {
        size_t n = a->n < b->n ? a->n : b->n;
        int c = memcmp(a->u.s, b->u.s, n);
        return c ? (c < 0 ? -1 : 1) : a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
    }
    if (a->k == V_LIST && b->k == V_LIST) {
        size_t n = a->u.l->n < b->u.l->n ? a->u.l->n : b->u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (py_eq(e, &a->u.l->v[i], &b->u.l->v[i])) continue;
            depth_enter(e);
            int c = py_cmp(e, at, &a->u.l->v[i], &b->u.l->v[i]);
            e->vdepth--;
            return c;
        }
        return a->u.l->n < b->u.l->n ? -1 : a->u.l->n > b->u.l->n ? 1 : 0;
    }
    if (a->k == V_UNDEF) je_undefined(e, at, a);
    if (b->k == V_UNDEF) je_undefined(e, at, b);
    je_fail(e, at, "cannot order %s and %s", kind_name(a->k), kind_name(b->k));
}

/* ---- text forms: Python's str(), repr() and json.dumps ---- */

/* Python's repr of a float (the shortest text that reads back the same). */
static void float_repr(double d, char *out, size_t size) {
    if (isnan(d)) {
        snprintf(out, size, "nan");
        return;
    }
    if (isinf(d)) {
        snprintf(out, size, d < 0 ? "-inf" : "inf");
        return;
    }
    if (d == 0) {
        snprintf(out, size, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d) break;
    }
    const bool neg = tmp[0] == '-';
    char digits[24];
    size_t nd = 0;
    const char *p = tmp + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1) digits[nd++] = *p;
    const int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    size_t o = 0;
    char buf[64];
    if (neg) buf[o++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++) buf[o++] = (size_t)i < nd ? digits[i] : '0';
            buf[o++] = '.';
            if ((size_t)exp + 1 < nd) {
                for (size_t i = (size_t)exp + 1; i < nd; i++) buf[o++] = digits[i];
            } else {
                buf[o++] = '0';
            }
        } else {
            buf[o++] = '0';
            buf[o++] = '.';
            for (int i = 0; i < -exp - 1; i++) buf[o++] = '0';
            for (size_t i = 0; i < nd; i++) buf[o++] = digits[i];
        }
        buf[o] = '\0';
        snprintf(out, size, "%s", buf);
        return;
    }
    buf[o++] = digits[0];
    if (nd > 1) {
        buf[o++] = '.';
        for (size_t i = 1; i < nd; i++) buf[o++] = digits[i];
    }
    buf[o] = '\0';
    snprintf(out, size, "%se%c%02d", buf, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

static void put_str(je *e, jbuf *b, const jv *v);

static void put_repr_str(je *e, jbuf *b, const char *s, size_t n) {
    const bool dq = memchr(s, '\'', n) && !memchr(s, '"', n);
    const char q = dq ? '"' : '\'';
    jb_put(e, b, &q, 1);
    for (size_t i = 0; i < n;) {
        size_t k;
        uint32_t c = u8_cp_at(s, n, i, &k);
        char esc[12];
        if (c == '\\' || c == (uint32_t)q) {
            esc[0] = '\\';
            esc[1] = (char)c;
            jb_put(e, b, esc, 2);
        } else if (c == '\n') {
            jb_puts(e, b, "\\n");
        } else if (c == '\r') {
            jb_puts(e, b, "\\r");
        } else if (c == '\t') {
            jb_puts(e, b, "\\t");
        } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || (k == 1 && c >= 0x80)) {
            snprintf(esc, sizeof esc, "\\x%02x", c & 0xFF);
            jb_puts(e, b, esc);
        } else {
            jb_put(e, b, s + i, k);
        }
        i += k;
    }
    jb_put(e, b, &q, 1);
}

static void put_repr(je *e, jbuf *b, const jv *v) {
    je_cost(e, NULL, 1);
    if (v->k == V_STR) {
        put_repr_str(e, b, v->u.s, v->n);
    } else if (v->k == V_UNDEF) {
        jb_puts(e, b, "Undefined");
    } else {
        put_str(e, b, v);
    }
}

static void put_str(je *e, jbuf *b, const jv *v) {
    char tmp[64];
    switch (v->k) {
    case V_UNDEF: return;
    case V_NONE: jb_puts(e, b, "None"); return;
    case V_BOOL: jb_puts(e, b, v->u.b ? "True" : "False"); return;
    case V_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i);
        jb_puts(e, b, tmp);
        return;
    case V_FLOAT:
        float_repr(v->u.f, tmp, sizeof tmp);
        jb_puts(e, b, tmp);
        return;
    case V_STR: jb_put(e, b, v->u.s, v->n); return;
    case V_LIST: {
        const jlist *l = v->u.l;
        depth_enter(e);
        jb_puts(e, b, l->tuple ? "(" : "[");
        for (size_t i = 0; i < l->n; i++) {
            if (i) jb_puts(e, b, ", ");
            put_repr(e, b, &l->v[i]);
        }
        if (l->tuple && l->n == 1) jb_puts(e, b, ",");
        jb_puts(e, b, l->tuple ? ")" : "]");
        e->vdepth--;
        return;
    }
    case V_DICT:
    case V_NS: {
        const jdict *d = v->u.d;
        depth_enter(e);
        jb_puts(e, b, v->k == V_NS ? "<Namespace {" : "{");
        for (size_t i = 0; i < d->n; i++) {
            if (i) jb_puts(e, b, ", ");
            put_repr(e, b, &d->keys[i]);
            jb_puts(e, b, ": ");
            put_repr(e, b, &d->vals[i]);
        }
        jb_puts(e, b, v->k == V_NS ? "}>" : "}");
        e->vdepth--;
        return;
    }
    default: je_fail(e, NULL, "cannot turn a %s into text", kind_name(v->k));
    }
}

/* str(v) as a value (strings are returned as they are). */
static jv to_str(je *e, const jv *v) {
    if (v->k == V_STR) return *v;
    jbuf b = jb_temp(e);
    put_str(e, &b, v);
    return v_buf(&b);
}

static void put_json_str(je *e, jbuf *b, const char *s, size_t n) {
    jb_puts(e, b, "\"");
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        char ubuf[8];
        if (!esc && c < 0x20) {
            snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
            esc = ubuf;
        }
        if (esc) {
            jb_put(e, b, s + i - run, run);
            run = 0;
            jb_puts(e, b, esc);
        } else {
            run++;
        }
    }
    jb_put(e, b, s + n - run, run);
    jb_puts(e, b, "\"");
}

static void put_indent(je *e, jbuf *b, int64_t indent, int level) {
    jb_puts(e, b, "\n");
    for (int64_t i = 0; i < indent * level; i++) jb_puts(e, b, " ");
}

static void put_json(je *e, const jnode *at, jbuf *b, const jv *v, int64_t indent, int level);

/* A dict key as json.dumps writes it: strings as they are, numbers, booleans and None quoted. */
static void put_json_key(je *e, const jnode *at, jbuf *b, const jv *k, int level) {
    if (k->k == V_STR) {
        put_json_str(e, b, k->u.s, k->n);
    } else if (k->k == V_INT || k->k == V_BOOL || k->k == V_FLOAT || k->k == V_NONE) {
        jbuf kb = jb_temp(e);
        put_json(e, at, &kb, k, -1, level + 1);
        put_json_str(e, b, kb.p, kb.n);
    } else {
        je_fail(e, at, "tojson: keys must be str, int, float, bool or None");
    }
}

/* json.dumps(v, ensure_ascii=False, indent=indent) (indent < 0: none). */
static void put_json(je *e, const jnode *at, jbuf *b, const jv *v, int64_t indent, int level) {
    je_cost(e, at, 1);
    if (level > JINJA_MAX_DEPTH) je_fail(e, at, "tojson: nesting deeper than %d", JINJA_MAX_DEPTH);
    char tmp[64];
    switch (v->k) {
    case V_NONE: jb_puts(e, b, "null"); return;
    case V_BOOL: jb_puts(e, b, v->u.b ? "true" : "false"); return;
    case V_INT:
        put_str(e, b, v);
        return;
    case V_FLOAT:
        if (isnan(v->u.f)) jb_puts(e, b, "NaN");
        else if (isinf(v->u.f)) jb_puts(e, b, v->u.f < 0 ? "-Infinity" : "Infinity");
        else {
            float_repr(v->u.f, tmp, sizeof tmp);
            jb_puts(e, b, tmp);
        }
        return;
    case V_STR: put_json_str(e, b, v->u.s, v->n); return;
    case V_LIST:
    case V_DICT: {
        const bool dict = v->k == V_DICT;
        const size_t n = dict ? v->u.d->n : v->u.l->n;
        if (!n) {
            jb_puts(e, b, dict ? "{}" : "[]");
            return;
        }
        jb_puts(e, b, dict ? "{" : "[");
        for (size_t i = 0; i < n; i++) {
            if (i) jb_puts(e, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) put_indent(e, b, indent, level + 1);
            if (dict) {
                put_json_key(e, at, b, &v->u.d->keys[i], level);
                jb_puts(e, b, ": ");
            }
            put_json(e, at, b, dict ? &v->u.d->vals[i] : &v->u.l->v[i], indent, level + 1);
        }
        if (indent >= 0) put_indent(e, b, indent, level);
        jb_puts(e, b, dict ? "}" : "]");
        return;
    }
    case V_UNDEF: je_fail(e, at, "tojson: an undefined value is not JSON serializable");
    default: je_fail(e, at, "tojson: a %s is not JSON serializable", kind_name(v->k));
    }
}

/* ------------------------------------------------------------------------------------------
 * Strings (code-point indexing, Python's str methods)
 * ---------------------------------------------------------------------------------------- */

/* Byte offsets of the code points of s (count + 1 entries). */
static size_t *u8_offsets(je *e, const char *s, size_t n, size_t *count) {
    size_t c = u8_count(s, n);
    size_t *off = jf_alloc(&e->f, jf_mul(&e->f, c + 1, sizeof *off));
    size_t k = 0;
    for (size_t i = 0; i < n; i += u8_len_at(s, n, i)) off[k++] = i;
    off[k] = n;
    *count = c;
    je_cost(e, NULL, c / 64 + 1);
    return off;
}

/* Whether code point c is one of the code points of set (NULL: whitespace). */
static bool in_charset(uint32_t c, const jv *set) {
    if (!set) return py_space(c);
    for (size_t i = 0; i < set->n;) {
        size_t k;
        if (u8_cp_at(set->u.s, set->n, i, &k) == c) return true;
        i += k;
    }
    return false;
}

static jv s_strip(je *e, const jv *s, const jv *chars, bool left, bool right) {
    size_t a = 0, b = s->n, k;
    je_cost(e, NULL, s->n / 64 + 1);
    while (left && a < b && in_charset(u8_cp_at(s->u.s, b, a, &k), chars)) a += k;
    while (right && b > a) {
        size_t i = b - 1;
        while (i > a && b - i < 4 && ((unsigned char)s->u.s[i] & 0xC0) == 0x80) i--;
        uint32_t c = u8_cp_at(s->u.s, b, i, &k);
        if (i + k != b) k = 1, c = (unsigned char)s->u.s[b - 1], i = b - 1;
        if (!in_charset(c, chars)) break;
        b = i;
    }
    return v_str(s->u.s + a, b - a);
}

static const char *mem_find(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == nd[0] && !memcmp(h + i, nd, nn)) return h + i;
    return NULL;
}

static void l_push(je *e, jv *list, size_t *cap, jv item) {
    jlist *l = list->u.l;
    if (l->n == *cap) {
        size_t c = *cap ? 2 * *cap : 8;
        jv *v = jf_alloc(&e->f, jf_mul(&e->f, c, sizeof *v));
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        *cap = c;
    }
    l->v[l->n++] = item;
}

static jv s_split(je *e, const jnode *at, const jv *s, const jv *sep, int64_t maxsplit) {
    jv out = v_list(e, 0, false);
    size_t cap = 0;
    je_cost(e, at, s->n / 16 + 1);
    if (!sep || sep->k == V_NONE) {
        size_t i = 0, k;
        while (i < s->n) {
            while (i < s->n && (k = u8_space_at(s->u.s, s->n, i)) > 0) i += k;
            if (i >= s->n) break;
            if (maxsplit >= 0 && (int64_t)out.u.l->n == maxsplit) {
                jv rest = s_strip(e, &(jv){.k = V_STR, .n = s->n - i, .u.s = s->u.s + i}, NULL, false, true);
                l_push(e, &out, &cap, rest);
                break;
            }
            size_t a = i;
            while (i < s->n && !u8_space_at(s->u.s, s->n, i)) i += u8_len_at(s->u.s, s->n, i);
            l_push(e, &out, &cap, v_str(s->u.s + a, i - a));
        }
        return out;
    }
    if (sep->k != V_STR) je_fail(e, at, "split: the separator must be a string");
    if (sep->n == 0) je_fail(e, at, "split: empty separator");
    size_t i = 0;
    for (;;) {
        const char *hit = (maxsplit < 0 || (int64_t)out.u.l->n < maxsplit)
                              ? mem_find(s->u.s + i, s->n - i, sep->u.s, sep->n) : NULL;
        if (!hit) {
            l_push(e, &out, &cap, v_str(s->u.s + i, s->n - i));
            return out;
        }
        size_t h = (size_t)(hit - s->u.s);
        l_push(e, &out, &cap, v_str(s->u.s + i, h - i));
        i = h + sep->n;
    }
}

static jv s_replace(je *e, const jnode *at, const jv *s, const jv *old, const jv *rep, int64_t count) {
    if (old->k != V_STR || rep->k != V_STR) je_fail(e, at, "replace: arguments must be strings");
    if (old->n == 0) je_fail(e, at, "replace of an empty string is not supported");
    jbuf b = jb_temp(e);
    size_t i = 0;
    int64_t done = 0;
    je_cost(e, at, s->n / 16 + 1);
    for (;;) {
        const char *hit = count < 0 || done < count ? mem_find(s->u.s + i, s->n - i, old->u.s, old->n) : NULL;
        if (!hit) break;
        size_t h = (size_t)(hit - s->u.s);
        jb_put(e, &b, s->u.s + i, h - i);
        jb_put(e, &b, rep->u.s, rep->n);
        i = h + old->n;
        done++;
    }
    jb_put(e, &b, s->u.s + i, s->n - i);
    return b.p ? v_buf(&b) : v_str("", 0);
}

/* upper() / lower() / capitalize(): full Unicode lowercasing; uppercasing only for ASCII
 * (a non-ASCII lowercase letter is refused rather than left unchanged). */
static jv s_case(je *e, const jnode *at, const jv *s, int mode /* 0 lower, 1 upper, 2 capitalize */) {
    jbuf b = jb_temp(e);
    je_cost(e, at, s->n / 16 + 1);
    size_t idx = 0;
    for (size_t i = 0; i < s->n; idx++) {
        size_t k;
        uint32_t c = u8_cp_at(s->u.s, s->n, i, &k);
        bool up = mode == 1 || (mode == 2 && idx == 0);
        if (k == 1 && c >= 0x80) {
            jb_put(e, &b, s->u.s + i, 1);
        } else if (up) {
            if (c >= 'a' && c <= 'z') c -= 32;
            else if (c >= 0x80 && elm_uc_is_letter(c) && elm_uc_tolower1(c) == c)
                je_fail(e, at, "upper-casing the non-ASCII letter U+%04X is not supported", c);
            char u[4];
            jb_put(e, &b, u, (size_t)elm_utf8_encode(c, u));
        } else {
            uint32_t lo[3];
            int m = elm_uc_tolower(c, lo);
            for (int j = 0; j < m; j++) {
                char u[4];
                jb_put(e, &b, u, (size_t)elm_utf8_encode(lo[j], u));
            }
        }
        i += k;
    }
    return b.p ? v_buf(&b) : v_str("", 0);
}

/* Python's slice semantics over a sequence of length len; returns the chosen indexes. */
static size_t *slice_indexes(je *e, const jnode *at, int64_t len, const jv *start, const jv *stop,
                             const jv *step, size_t *count) {
    int64_t st = 1;
    if (step && step->k != V_NONE) {
        if (step->k != V_INT && step->k != V_BOOL) je_fail(e, at, "slice step must be an integer");
        st = as_int(step);
        if (st == 0) je_fail(e, at, "slice step cannot be zero");
    }
    const int64_t lower = st > 0 ? 0 : -1, upper = st > 0 ? len : len - 1;
    int64_t bounds[2] = {st > 0 ? lower : upper, st > 0 ? upper : lower};
    const jv *given[2] = {start, stop};
    for (int k = 0; k < 2; k++) {
        const jv *g = given[k];
        if (!g || g->k == V_NONE) continue;
        if (g->k != V_INT && g->k != V_BOOL) je_fail(e, at, "slice indexes must be integers");
        int64_t x = as_int(g);
        if (x < 0) {
            x = x < -len ? lower : x + len;
            if (x < lower) x = lower;
        } else if (x > upper) {
            x = upper;
        }
        bounds[k] = x;
    }
    size_t n = 0;
    if (st > 0 && bounds[1] > bounds[0]) n = (size_t)((bounds[1] - bounds[0] + st - 1) / st);
    if (st < 0 && bounds[0] > bounds[1]) n = (size_t)((bounds[0] - bounds[1] - st - 1) / -st);
    je_cost(e, at, n / 16 + 1);
    size_t *idx = jf_alloc(&e->f, jf_mul(&e->f, n ? n : 1, sizeof *idx));
    for (size_t i = 0; i < n; i++) idx[i] = (size_t)(bounds[0] + (int64_t)i * st);
    *count = n;
    return idx;
}

/* ------------------------------------------------------------------------------------------
 * Attributes, items, iteration
 * ---------------------------------------------------------------------------------------- */

static bool name_in(const char *name, size_t n, const char *const *list) {
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == n && !memcmp(list[i], name, n)) return true;
    return false;
}

static const char *const str_methods[] = {"strip", "lstrip", "rstrip", "split", "startswith",
    "endswith", "replace", "upper", "lower", "capitalize", "find", "join", NULL};
static const char *const py_str_methods[] = {"casefold", "center", "count", "encode",
    "expandtabs", "format", "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal",
    "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle",
    "isupper", "ljust", "maketrans", "partition", "removeprefix", "removesuffix", "rfind",
    "rindex", "rjust", "rpartition", "rsplit", "splitlines", "swapcase", "title", "translate",
    "zfill", NULL};
static const char *const dict_methods[] = {"items", "keys", "values", "get", NULL};
static const char *const py_dict_methods[] = {"clear", "copy", "fromkeys", "pop", "popitem",
    "setdefault", "update", NULL};
static const char *const py_list_methods[] = {"append", "clear", "copy", "count", "extend",
    "index", "insert", "pop", "remove", "reverse", "sort", NULL};

static jv v_method(je *e, jv self, const char *name, size_t n) {
    jmeth *m = jf_alloc(&e->f, sizeof *m);
    m->self = self;
    m->name = jf_strdup(&e->f, name, n);
    return (jv){.k = V_METHOD, .u.m = m};
}

static jv loop_attr(je *e, const jnode *at, jv lv, const char *name, size_t n) {
    const jloop *lp = lv.u.lp;
    const int64_t i = (int64_t)lp->i, len = (int64_t)lp->items->n;
#define LA(x) (strlen(x) == n && !memcmp(name, x, n))
    if (LA("index")) return v_int(i + 1);
    if (LA("index0")) return v_int(i);
    if (LA("revindex")) return v_int(len - i);
    if (LA("revindex0")) return v_int(len - i - 1);
    if (LA("first")) return v_bool(i == 0);
    if (LA("last")) return v_bool(i == len - 1);
    if (LA("length")) return v_int(len);
    if (LA("depth")) return v_int(1);
    if (LA("depth0")) return v_int(0);
    if (LA("previtem")) return i > 0 ? lp->items->v[i - 1] : v_undef("previtem");
    if (LA("nextitem")) return i + 1 < len ? lp->items->v[i + 1] : v_undef("nextitem");
    if (LA("cycle")) return v_method(e, lv, name, n);
#undef LA
    je_fail(e, at, "loop.%.*s is not supported", (int)(n < 40 ? n : 40), name);
}

static jv get_attr(je *e, const jnode *at, jv obj, const char *name, size_t n) {
    jv out;
    switch (obj.k) {
    case V_UNDEF: je_undefined(e, at, &obj);
    case V_DICT:
        if (name_in(name, n, dict_methods)) return v_method(e, obj, name, n);
        if (name_in(name, n, py_dict_methods))
            je_fail(e, at, "dict method '%.*s' is not supported", (int)n, name);
        if (d_get_str(obj.u.d, name, n, &out)) return out;
        break;
    case V_NS:
        if (d_get_str(obj.u.d, name, n, &out)) return out;
        break;
    case V_LOOP: return loop_attr(e, at, obj, name, n);
    case V_STR:
        if (name_in(name, n, str_methods)) return v_method(e, obj, name, n);
        if (name_in(name, n, py_str_methods))
            je_fail(e, at, "string method '%.*s' is not supported", (int)n, name);
        break;
    case V_LIST:
        if (name_in(name, n, py_list_methods))
            je_fail(e, at, "list method '%.*s' is not supported", (int)n, name);
        break;
    default: break;
    }
    jv u = v_undef(jf_strdup(&e->f, name, n));
    return u;
}

static jv get_item(je *e, const jnode *at, jv obj, const jv *key) {
    switch (obj.k) {
    case V_UNDEF: je_undefined(e, at, &obj);
    case V_DICT:
    case V_NS: {
        size_t i;
        if (d_find(e, obj.u.d, key, &i)) return obj.u.d->vals[i];
        break;
    }
    case V_LIST:
        if (key->k == V_INT || key->k == V_BOOL) {
            int64_t i = as_int(key), len = (int64_t)obj.u.l->n;
            if (i < 0) i += len;
            if (i >= 0 && i < len) return obj.u.l->v[i];
            return v_undef(NULL);
        }
        break;
    case V_STR:
        if (key->k == V_INT || key->k == V_BOOL) {
            size_t count, *off = u8_offsets(e, obj.u.s, obj.n, &count);
            int64_t i = as_int(key);
            if (i < 0) i += (int64_t)count;
            if (i >= 0 && i < (int64_t)count) return v_str(obj.u.s + off[i], off[i + 1] - off[i]);
            return v_undef(NULL);
        }
        break;
    default: break;
    }
    if (key->k == V_STR && obj.k != V_DICT && obj.k != V_NS) return get_attr(e, at, obj, key->u.s, key->n);
    if (key->k == V_STR && obj.k == V_DICT && name_in(key->u.s, key->n, dict_methods))
        return v_method(e, obj, key->u.s, key->n);
    return key->k == V_STR ? v_undef(key->u.s) : v_undef(NULL);
}

/* The items a for loop (or a filter) walks: a list, a dict's keys, a string's characters. */
static const jlist *iter_items(je *e, const jnode *at, const jv *v) {
    static const jlist empty = {0, NULL, false};
    switch (v->k) {
    case V_UNDEF: return &empty;
    case V_LIST: return v->u.l;
    case V_DICT: {
        jv l = v_list(e, v->u.d->n, false);
        memcpy(l.u.l->v, v->u.d->keys, v->u.d->n * sizeof(jv));
        return l.u.l;
    }
    case V_STR: {
        size_t count, *off = u8_offsets(e, v->u.s, v->n, &count);
        jv l = v_list(e, count, false);
        for (size_t i = 0; i < count; i++) l.u.l->v[i] = v_str(v->u.s + off[i], off[i + 1] - off[i]);
        return l.u.l;
    }
    default: je_fail(e, at, "a %s is not iterable", kind_name(v->k));
    }
}

static int64_t length_of(je *e, const jnode *at, const jv *v) {
    switch (v->k) {
    case V_UNDEF: return 0;
    case V_STR: return (int64_t)u8_count(v->u.s, v->n);
    case V_LIST: return (int64_t)v->u.l->n;
    case V_DICT:
    case V_NS: return (int64_t)v->u.d->n;
    default: je_fail(e, at, "a %s has no length", kind_name(v->k));
    }
}

static bool contains(je *e, const jnode *at, const jv *hay, const jv *needle) {
    switch (hay->k) {
    case V_UNDEF: return false;
    case V_STR:
        if (needle->k != V_STR) je_fail(e, at, "'in <string>' needs a string on the left");
        je_cost(e, at, hay->n / 16 + 1);
        return mem_find(hay->u.s, hay->n, needle->u.s, needle->n) != NULL;
    case V_LIST:
        je_cost(e, at, hay->u.l->n / 4 + 1);
        for (size_t i = 0; i < hay->u.l->n; i++)
            if (py_eq(e, &hay->u.l->v[i], needle)) return true;
        return false;
    case V_DICT: {
        size_t i;
        je_cost(e, at, hay->u.d->n / 4 + 1);
        return d_find(e, hay->u.d, needle, &i);
    }
    default: je_fail(e, at, "'in' needs a string, list or dict on the right, not a %s", kind_name(hay->k));
    }
}

/* ------------------------------------------------------------------------------------------
 * Calls: arguments, methods, filters, tests, globals, macros
 * ---------------------------------------------------------------------------------------- */

typedef struct jargs {
    const jv *pos;
    size_t n;
    const char *const *kn;
    const jv *kv;
    size_t nk;
} jargs;

/* Argument i (positional) or by keyword name; NULL when not given. */
static const jv *arg_at(const jargs *a, size_t i, const char *name) {
    if (i < a->n) return &a->pos[i];
    for (size_t k = 0; name && k < a->nk; k++)
        if (!strcmp(a->kn[k], name)) return &a->kv[k];
    return NULL;
}

/* Refuses more than max_pos positional arguments and keywords not in kw (a NULL-ended list). */
static void arg_limit(je *e, const jnode *at, const jargs *a, size_t max_pos, const char *const *kw,
                      const char *what) {
    if (a->n > max_pos) je_fail(e, at, "%s takes at most %zu arguments", what, max_pos);
    for (size_t k = 0; k < a->nk; k++) {
        bool ok = false;
        for (size_t j = 0; kw && kw[j]; j++) ok = ok || !strcmp(kw[j], a->kn[k]);
        if (!ok) je_fail(e, at, "%s: unsupported argument '%s'", what, a->kn[k]);
    }
}

static const jv *arg_str(je *e, const jnode *at, const jargs *a, size_t i, const char *name, const char *what) {
    const jv *v = arg_at(a, i, name);
    if (!v) je_fail(e, at, "%s needs an argument", what);
    if (v->k != V_STR) je_fail(e, at, "%s: the argument must be a string, not a %s", what, kind_name(v->k));
    return v;
}

static int64_t arg_int(je *e, const jnode *at, const jargs *a, size_t i, const char *name, int64_t dflt,
                       const char *what) {
    const jv *v = arg_at(a, i, name);
    if (!v || v->k == V_NONE) return dflt;
    if (v->k != V_INT && v->k != V_BOOL) je_fail(e, at, "%s: expected an integer", what);
    return as_int(v);
}

static const char *const no_kw[] = {NULL};

static bool starts_or_ends(je *e, const jnode *at, const jv *s, const jv *x, bool end) {
    if (x->k == V_LIST && x->u.l->tuple) {
        for (size_t i = 0; i < x->u.l->n; i++)
            if (starts_or_ends(e, at, s, &x->u.l->v[i], end)) return true;
        return false;
    }
    if (x->k != V_STR) je_fail(e, at, "%s: the argument must be a string or a tuple of strings",
                               end ? "endswith" : "startswith");
    if (x->n > s->n) return false;
    return !memcmp(s->u.s + (end ? s->n - x->n : 0), x->u.s, x->n);
}

static jv join_items(je *e, const jnode *at, const jlist *items, const jv *sep, const jv *attr) {
    jbuf b = jb_temp(e);
    for (size_t i = 0; i < items->n; i++) {
        if (i && sep) jb_put(e, &b, sep->u.s, sep->n);
        jv it = items->v[i];
        if (attr) it = get_item(e, at, it, attr);
        put_str(e, &b, &it);
    }
    return b.p ? v_buf(&b) : v_str("", 0);
}

static jv call_str_method(je *e, const jnode *at, const jv *s, const char *name, const jargs *a) {
    char what[48];
    snprintf(what, sizeof what, "%s()", name);
    if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
        arg_limit(e, at, a, 1, no_kw, what);
        const jv *chars = arg_at(a, 0, NULL);
        if (chars && chars->k == V_NONE) chars = NULL;
        if (chars && chars->k != V_STR) je_fail(e, at, "%s: the argument must be a string", what);
        return s_strip(e, s, chars, name[0] != 'r', name[0] != 'l');
    }
    if (!strcmp(name, "split")) {
        static const char *const kw[] = {"sep", "maxsplit", NULL};
        arg_limit(e, at, a, 2, kw, what);
        return s_split(e, at, s, arg_at(a, 0, "sep"), arg_int(e, at, a, 1, "maxsplit", -1, what));
    }
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        arg_limit(e, at, a, 1, no_kw, what);
        const jv *x = arg_at(a, 0, NULL);
        if (!x) je_fail(e, at, "%s needs an argument", what);
        return v_bool(starts_or_ends(e, at, s, x, name[0] == 'e'));
    }
    if (!strcmp(name, "replace")) {
        static const char *const kw[] = {"count", NULL};
        arg_limit(e, at, a, 3, kw, what);
        return s_replace(e, at, s, arg_str(e, at, a, 0, NULL, what), arg_str(e, at, a, 1, NULL, what),
                         arg_int(e, at, a, 2, "count", -1, what));
    }
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize")) {
        arg_limit(e, at, a, 0, no_kw, what);
        return s_case(e, at, s, name[0] == 'l' ? 0 : name[0] == 'u' ? 1 : 2);
    }
    if (!strcmp(name, "find")) {
        arg_limit(e, at, a, 1, no_kw, what);
        const jv *x = arg_str(e, at, a, 0, NULL, what);
        const char *hit = mem_find(s->u.s, s->n, x->u.s, x->n);
        return v_int(hit ? (int64_t)u8_count(s->u.s, (size_t)(hit - s->u.s)) : -1);
    }
    if (!strcmp(name, "join")) {
        arg_limit(e, at, a, 1, no_kw, what);
        const jv *x = arg_at(a, 0, NULL);
        if (!x) je_fail(e, at, "join() needs an argument");
        const jlist *items = iter_items(e, at, x);
        for (size_t i = 0; i < items->n; i++)
            if (items->v[i].k != V_STR) je_fail(e, at, "join(): item %zu is a %s, not a string", i, kind_name(items->v[i].k));
        return join_items(e, at, items, s, NULL);
    }
    je_fail(e, at, "string method '%s' is not supported", name);
}

static jv call_method(je *e, const jnode *at, const jmeth *m, const jargs *a) {
    const jv *self = &m->self;
    if (self->k == V_STR) return call_str_method(e, at, self, m->name, a);
    if (self->k == V_LOOP) { /* loop.cycle(a, b, ...) */
        if (a->n == 0) je_fail(e, at, "loop.cycle() needs arguments");
        return a->pos[self->u.lp->i % a->n];
    }
    const jdict *d = self->u.d;
    char what[32];
    snprintf(what, sizeof what, "%s()", m->name);
    if (!strcmp(m->name, "get")) {
        arg_limit(e, at, a, 2, no_kw, what);
        const jv *k = arg_at(a, 0, NULL);
        if (!k) je_fail(e, at, "get() needs a key");
        size_t i;
        if (d_find(e, d, k, &i)) return d->vals[i];
        const jv *dflt = arg_at(a, 1, NULL);
        return dflt ? *dflt : v_none();
    }
    arg_limit(e, at, a, 0, no_kw, what);
    je_cost(e, at, d->n / 4 + 1);
    const bool items = !strcmp(m->name, "items");
    jv out = v_list(e, d->n, false);
    for (size_t i = 0; i < d->n; i++) {
        if (items) {
            jv pair = v_list(e, 2, true);
            pair.u.l->v[0] = d->keys[i];
            pair.u.l->v[1] = d->vals[i];
            out.u.l->v[i] = pair;
        } else {
            out.u.l->v[i] = m->name[0] == 'k' ? d->keys[i] : d->vals[i];
        }
    }
    return out;
}

static bool run_test(je *e, const jnode *at, const char *name, const jv *v, const jargs *a);

/* select / reject / selectattr / rejectattr. */
static jv filter_select(je *e, const jnode *at, const char *name, const jv *v, const jargs *a) {
    const bool by_attr = strstr(name, "attr") != NULL, keep = name[0] == 's';
    arg_limit(e, at, a, 64, no_kw, name);
    size_t first = 0;
    const jv *attr = NULL;
    if (by_attr) {
        attr = arg_str(e, at, a, 0, NULL, name);
        first = 1;
    }
    const jv *test = a->n > first ? &a->pos[first] : NULL;
    if (test && test->k != V_STR) je_fail(e, at, "%s: the test name must be a string", name);
    jargs rest = {a->n > first + 1 ? a->pos + first + 1 : NULL, a->n > first + 1 ? a->n - first - 1 : 0, NULL, NULL, 0};
    char tname[32] = "";
    if (test) snprintf(tname, sizeof tname, "%.*s", (int)(test->n < 31 ? test->n : 31), test->u.s);
    jv out = v_list(e, 0, false);
    if (!truthy(v)) return out; /* Jinja yields nothing for a false value (None, "", []) */
    const jlist *items = iter_items(e, at, v);
    size_t cap = 0;
    for (size_t i = 0; i < items->n; i++) {
        je_cost(e, at, 1);
        jv x = items->v[i];
        if (attr) {
            /* dotted attribute paths ("function.name") as Jinja's attrgetter */
            const char *p = attr->u.s, *end = attr->u.s + attr->n;
            while (p <= end) {
                const char *dot = memchr(p, '.', (size_t)(end - p));
                size_t len = dot ? (size_t)(dot - p) : (size_t)(end - p);
                jv key = v_str(p, len);
                if (x.k == V_UNDEF) break;
                x = get_item(e, at, x, &key);
                if (!dot) break;
                p = dot + 1;
            }
        }
        bool ok = test ? run_test(e, at, tname, &x, &rest) : truthy(&x);
        if (ok == keep) l_push(e, &out, &cap, items->v[i]);
    }
    return out;
}

static jv apply_filter(je *e, const jnode *at, const char *name, jv v, const jargs *a);

static jv filter_map(je *e, const jnode *at, const jv *v, const jargs *a) {
    if (!truthy(v)) return v_list(e, 0, false); /* as Jinja: nothing for a false value */
    const jlist *items = iter_items(e, at, v);
    jv out = v_list(e, items->n, false);
    const jv *attr = NULL;
    for (size_t k = 0; k < a->nk; k++) {
        if (!strcmp(a->kn[k], "attribute")) attr = &a->kv[k];
        else if (strcmp(a->kn[k], "default")) je_fail(e, at, "map: unsupported argument '%s'", a->kn[k]);
    }
    const jv *dflt = arg_at(a, SIZE_MAX, "default");
    if (attr) {
        if (attr->k != V_STR) je_fail(e, at, "map: attribute must be a string");
        if (a->n) je_fail(e, at, "map: attribute= and a filter name together");
        for (size_t i = 0; i < items->n; i++) {
            jv x = get_item(e, at, items->v[i], attr);
            out.u.l->v[i] = x.k == V_UNDEF && dflt ? *dflt : x;
        }
        return out;
    }
    if (a->n == 0 || a->pos[0].k != V_STR) je_fail(e, at, "map needs a filter name or attribute=");
    char fname[32];
    snprintf(fname, sizeof fname, "%.*s", (int)(a->pos[0].n < 31 ? a->pos[0].n : 31), a->pos[0].u.s);
    jargs rest = {a->pos + 1, a->n - 1, NULL, NULL, 0};
    for (size_t i = 0; i < items->n; i++) out.u.l->v[i] = apply_filter(e, at, fname, items->v[i], &rest);
    return out;
}

/* dictsort(case_sensitive=false, by='key', reverse=false): a dict's (key, value) pairs,
 * sorted (stable) by key or value, strings compared lower-cased unless case_sensitive. */
static jv filter_dictsort(je *e, const jnode *at, const jv *v, const jargs *a) {
    static const char *const kw[] = {"case_sensitive", "by", "reverse", NULL};
    arg_limit(e, at, a, 3, kw, "dictsort");
    if (v->k != V_DICT) je_fail(e, at, "dictsort: a %s is not a mapping", kind_name(v->k));
    const jv *cs = arg_at(a, 0, "case_sensitive"), *by = arg_at(a, 1, "by"), *rev = arg_at(a, 2, "reverse");
    int col = 0;
    if (by) {
        if (by->k == V_STR && by->n == 5 && !memcmp(by->u.s, "value", 5)) col = 1;
        else if (!(by->k == V_STR && by->n == 3 && !memcmp(by->u.s, "key", 3)))
            je_fail(e, at, "dictsort: by must be 'key' or 'value'");
    }
    const bool fold = !(cs && truthy(cs)), down = rev && truthy(rev);
    const jdict *d = v->u.d;
    jv out = v_list(e, d->n, false);
    jv *sort_keys = jf_alloc(&e->f, jf_mul(&e->f, d->n + 1, sizeof(jv)));
    for (size_t i = 0; i < d->n; i++) {
        jv pair = v_list(e, 2, true);
        pair.u.l->v[0] = d->keys[i];
        pair.u.l->v[1] = d->vals[i];
        out.u.l->v[i] = pair;
        jv k = col ? d->vals[i] : d->keys[i];
        sort_keys[i] = fold && k.k == V_STR ? s_case(e, at, &k, 0) : k;
    }
    je_cost(e, at, (uint64_t)d->n * d->n / 4 + 1);
    for (size_t i = 1; i < d->n; i++) { /* insertion sort: stable, and dicts here are small */
        jv p = out.u.l->v[i], k = sort_keys[i];
        size_t j = i;
        for (; j > 0; j--) {
            int c = py_cmp(e, at, &sort_keys[j - 1], &k);
            if (down ? c >= 0 : c <= 0) break;
            out.u.l->v[j] = out.u.l->v[j - 1];
            sort_keys[j] = sort_keys[j - 1];
        }
        out.u.l->v[j] = p;
        sort_keys[j] = k;
    }
    return out;
}

static jv filter_tojson(je *e, const jnode *at, const jv *v, const jargs *a) {
    static const char *const kw[] = {"indent", "ensure_ascii", "sort_keys", "separators", NULL};
    arg_limit(e, at, a, 1, kw, "tojson");
    const jv *ea = arg_at(a, SIZE_MAX, "ensure_ascii");
    const jv *sk = arg_at(a, SIZE_MAX, "sort_keys");
    if ((ea && truthy(ea)) || (sk && truthy(sk)) || arg_at(a, SIZE_MAX, "separators"))
        je_fail(e, at, "tojson: ensure_ascii, sort_keys and separators are not supported");
    int64_t indent = arg_int(e, at, a, 0, "indent", -1, "tojson");
    if (indent > 64) je_fail(e, at, "tojson: indent above 64");
    if (indent < -1) indent = 0;
    jbuf b = jb_temp(e);
    put_json(e, at, &b, v, indent, 0);
    return v_buf(&b);
}

static jv apply_filter(je *e, const jnode *at, const char *name, jv v, const jargs *a) {
    je_cost(e, at, 1);
#define FN(x) (!strcmp(name, x))
    if (FN("trim")) {
        static const char *const kw[] = {"chars", NULL};
        arg_limit(e, at, a, 1, kw, "trim");
        jv s = to_str(e, &v);
        const jv *chars = arg_at(a, 0, "chars");
        if (chars && chars->k == V_NONE) chars = NULL;
        if (chars && chars->k != V_STR) je_fail(e, at, "trim: chars must be a string");
        return s_strip(e, &s, chars, true, true);
    }
    if (FN("length") || FN("count")) {
        arg_limit(e, at, a, 0, no_kw, name);
        return v_int(length_of(e, at, &v));
    }
    if (FN("tojson")) return filter_tojson(e, at, &v, a);
    if (FN("upper") || FN("lower") || FN("capitalize")) {
        arg_limit(e, at, a, 0, no_kw, name);
        jv s = to_str(e, &v);
        return s_case(e, at, &s, name[0] == 'l' ? 0 : name[0] == 'u' ? 1 : 2);
    }
    if (FN("string")) {
        arg_limit(e, at, a, 0, no_kw, name);
        return to_str(e, &v);
    }
    if (FN("safe")) {
        arg_limit(e, at, a, 0, no_kw, name);
        return v;
    }
    if (FN("default") || FN("d")) {
        static const char *const kw[] = {"default_value", "boolean", NULL};
        arg_limit(e, at, a, 2, kw, name);
        const jv *dv = arg_at(a, 0, "default_value");
        const jv *boolean = arg_at(a, 1, "boolean");
        bool use = v.k == V_UNDEF || (boolean && truthy(boolean) && !truthy(&v));
        return use ? (dv ? *dv : v_str("", 0)) : v;
    }
    if (FN("join")) {
        static const char *const kw[] = {"d", "attribute", NULL};
        arg_limit(e, at, a, 2, kw, name);
        const jv *sep = arg_at(a, 0, "d");
        jv sep_s = sep ? to_str(e, sep) : v_str("", 0);
        const jv *attr = arg_at(a, 1, "attribute");
        return join_items(e, at, iter_items(e, at, &v), &sep_s, attr);
    }
    if (FN("first") || FN("last")) {
        arg_limit(e, at, a, 0, no_kw, name);
        const jlist *items = iter_items(e, at, &v);
        if (!items->n) return v_undef(NULL);
        return items->v[name[0] == 'f' ? 0 : items->n - 1];
    }
    if (FN("replace")) {
        static const char *const kw[] = {"count", NULL};
        arg_limit(e, at, a, 3, kw, name);
        jv s = to_str(e, &v);
        jv old = to_str(e, arg_at(a, 0, NULL) ? arg_at(a, 0, NULL) : &(jv){.k = V_UNDEF});
        jv rep = to_str(e, arg_at(a, 1, NULL) ? arg_at(a, 1, NULL) : &(jv){.k = V_UNDEF});
        if (a->n < 2) je_fail(e, at, "replace needs two arguments");
        return s_replace(e, at, &s, &old, &rep, arg_int(e, at, a, 2, "count", -1, name));
    }
    if (FN("items")) {
        arg_limit(e, at, a, 0, no_kw, name);
        if (v.k == V_UNDEF) return v_list(e, 0, false);
        if (v.k != V_DICT) je_fail(e, at, "items: a %s is not a mapping", kind_name(v.k));
        jmeth m = {v, "items"};
        jargs none = {0};
        return call_method(e, at, &m, &none);
    }
    if (FN("list")) {
        arg_limit(e, at, a, 0, no_kw, name);
        const jlist *items = iter_items(e, at, &v);
        jv out = v_list(e, items->n, false);
        if (items->n) memcpy(out.u.l->v, items->v, items->n * sizeof(jv));
        return out;
    }
    if (FN("reverse")) {
        arg_limit(e, at, a, 0, no_kw, name);
        if (v.k == V_STR) {
            size_t count, *off = u8_offsets(e, v.u.s, v.n, &count);
            char *s = jf_alloc(&e->f, v.n + 1);
            size_t o = 0;
            for (size_t i = count; i-- > 0;) {
                memcpy(s + o, v.u.s + off[i], off[i + 1] - off[i]);
                o += off[i + 1] - off[i];
            }
            return v_str(s, o);
        }
        const jlist *items = iter_items(e, at, &v);
        jv out = v_list(e, items->n, false);
        for (size_t i = 0; i < items->n; i++) out.u.l->v[i] = items->v[items->n - 1 - i];
        return out;
    }
    if (FN("select") || FN("reject") || FN("selectattr") || FN("rejectattr"))
        return filter_select(e, at, name, &v, a);
    if (FN("map")) return filter_map(e, at, &v, a);
    if (FN("dictsort")) return filter_dictsort(e, at, &v, a);
    if (FN("abs")) {
        arg_limit(e, at, a, 0, no_kw, name);
        if (v.k == V_FLOAT) return v_float(fabs(v.u.f));
        if (v.k != V_INT && v.k != V_BOOL) je_fail(e, at, "abs of a %s", kind_name(v.k));
        if (as_int(&v) == INT64_MIN) je_fail(e, at, "integer overflow");
        return v_int(as_int(&v) < 0 ? -as_int(&v) : as_int(&v));
    }
    if (FN("int")) {
        arg_limit(e, at, a, 1, no_kw, name);
        if (v.k == V_INT || v.k == V_BOOL) return v_int(as_int(&v));
        if (v.k == V_FLOAT && isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) return v_int((int64_t)v.u.f);
        if (v.k == V_STR) {
            char buf[32];
            jv t = s_strip(e, &v, NULL, true, true);
            if (t.n > 0 && t.n < sizeof buf) {
                memcpy(buf, t.u.s, t.n);
                buf[t.n] = '\0';
                char *end;
                long long x = strtoll(buf, &end, 10);
                if (!*end) return v_int(x);
            }
        }
        return v_int(arg_int(e, at, a, 0, NULL, 0, name));
    }
#undef FN
    je_fail(e, at, "unsupported filter '%s'", name);
}

static bool run_test(je *e, const jnode *at, const char *name, const jv *v, const jargs *a) {
    je_cost(e, at, 1);
#define TN(x) (!strcmp(name, x))
    if (TN("defined")) return v->k != V_UNDEF;
    if (TN("undefined")) return v->k == V_UNDEF;
    if (TN("none")) return v->k == V_NONE;
    if (TN("boolean")) return v->k == V_BOOL;
    if (TN("true")) return v->k == V_BOOL && v->u.b;
    if (TN("false")) return v->k == V_BOOL && !v->u.b;
    if (TN("integer")) return v->k == V_INT;
    if (TN("float")) return v->k == V_FLOAT;
    if (TN("number")) return is_num(v);
    if (TN("string")) return v->k == V_STR;
    if (TN("mapping")) return v->k == V_DICT;
    if (TN("iterable")) return v->k == V_UNDEF || v->k == V_STR || v->k == V_LIST || v->k == V_DICT;
    if (TN("sequence")) return v->k == V_UNDEF || v->k == V_STR || v->k == V_LIST || v->k == V_DICT;
    if (TN("callable")) return v->k == V_FUNC || v->k == V_METHOD || v->k == V_MACRO;
    if (TN("lower") || TN("upper")) {
        if (v->k != V_STR) return false;
        jv c = s_case(e, at, v, TN("lower") ? 0 : 1);
        return py_eq(e, &c, v) && v->n > 0;
    }
    if (TN("odd") || TN("even") || TN("divisibleby")) {
        if (v->k != V_INT && v->k != V_BOOL) je_fail(e, at, "test '%s' needs an integer", name);
        int64_t d = TN("divisibleby") ? arg_int(e, at, a, 0, "num", 0, name) : 2;
        if (d == 0) je_fail(e, at, "divisibleby 0");
        int64_t r = d == -1 ? 0 : as_int(v) % d;
        return TN("odd") ? r != 0 : r == 0;
    }
    const jv *x = arg_at(a, 0, NULL);
    if (TN("equalto") || TN("eq") || TN("==") || TN("ne") || TN("!=") || TN("sameas") ||
        TN("lt") || TN("<") || TN("le") || TN("<=") || TN("gt") || TN(">") || TN("ge") ||
        TN(">=") || TN("in")) {
        if (!x || a->n != 1 || a->nk) je_fail(e, at, "test '%s' takes one argument", name);
        if (TN("in")) return contains(e, at, x, v);
        if (TN("equalto") || TN("eq") || TN("==")) return py_eq(e, v, x);
        if (TN("ne") || TN("!=")) return !py_eq(e, v, x);
        if (TN("sameas")) return v->k == x->k && py_eq(e, v, x) && (v->k == V_NONE || v->k == V_BOOL || v->k == V_UNDEF);
        int c = py_cmp(e, at, v, x);
        if (TN("lt") || TN("<")) return c < 0;
        if (TN("le") || TN("<=")) return c <= 0;
        if (TN("gt") || TN(">")) return c > 0;
        return c >= 0;
    }
#undef TN
    je_fail(e, at, "unsupported test '%s'", name);
}

/* strftime_now(format): the time in opts.now (UTC), with the common conversions only. */
static jv fn_strftime(je *e, const jnode *at, const jargs *a) {
    arg_limit(e, at, a, 1, no_kw, "strftime_now");
    const jv *fmt = arg_str(e, at, a, 0, NULL, "strftime_now");
    if (fmt->n > 64) je_fail(e, at, "strftime_now: format longer than 64 bytes");
    char f[80];
    memcpy(f, fmt->u.s, fmt->n);
    f[fmt->n] = '\0';
    if (strlen(f) != fmt->n) je_fail(e, at, "strftime_now: NUL in the format");
    for (size_t i = 0; i < fmt->n; i++) {
        if (f[i] != '%') continue;
        if (++i >= fmt->n || !strchr("aAbBdHIjmMpSyYeZz%", f[i]))
            je_fail(e, at, "strftime_now: unsupported conversion '%%%c'", i < fmt->n ? f[i] : ' ');
    }
    time_t t = (time_t)e->o->now;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) je_fail(e, at, "strftime_now: bad time");
    char out[256];
    size_t n = strftime(out, sizeof out, f, &tm);
    if (n == 0 && fmt->n > 0) je_fail(e, at, "strftime_now: result too long");
    return v_str(jf_strdup(&e->f, out, n), n);
}

static jv fn_range(je *e, const jnode *at, const jargs *a) {
    arg_limit(e, at, a, 3, no_kw, "range");
    if (a->n == 0) je_fail(e, at, "range needs an argument");
    int64_t start = 0, stop, step = 1;
    if (a->n == 1) {
        stop = arg_int(e, at, a, 0, NULL, 0, "range");
    } else {
        start = arg_int(e, at, a, 0, NULL, 0, "range");
        stop = arg_int(e, at, a, 1, NULL, 0, "range");
        step = arg_int(e, at, a, 2, NULL, 1, "range");
    }
    if (step == 0) je_fail(e, at, "range step cannot be zero");
    if ((start > 0 && stop < start - INT64_MAX / 2) || (start < 0 && stop > start + INT64_MAX / 2) ||
        start > INT64_MAX / 2 || start < -INT64_MAX / 2 || stop > INT64_MAX / 2 || stop < -INT64_MAX / 2)
        je_fail(e, at, "range too large");
    int64_t n = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                         : (start > stop ? (start - stop - step - 1) / -step : 0);
    if (n > 1000000) je_fail(e, at, "range of more than a million items");
    je_cost(e, at, (uint64_t)n / 16 + 1);
    jv out = v_list(e, (size_t)n, false);
    for (int64_t i = 0; i < n; i++) out.u.l->v[i] = v_int(start + i * step);
    return out;
}

static jv call_function(je *e, const jnode *at, int fn, const jargs *a) {
    switch (fn) {
    case F_RAISE: {
        const jv *m = arg_at(a, 0, NULL);
        jv s = m ? to_str(e, m) : v_str("", 0);
        e->f.line = 0;
        jf_fail(&e->f, "template error: %.*s", (int)(s.n < 180 ? s.n : 180), s.u.s);
    }
    case F_NAMESPACE:
    case F_DICT: {
        if (a->n > (fn == F_NAMESPACE ? 1u : 0u))
            je_fail(e, at, "%s() takes keyword arguments", fn == F_NAMESPACE ? "namespace" : "dict");
        jdict *d = d_new(e);
        if (a->n) {
            if (a->pos[0].k != V_DICT) je_fail(e, at, "namespace(): the argument must be a dict");
            for (size_t i = 0; i < a->pos[0].u.d->n; i++) d_set(e, d, a->pos[0].u.d->keys[i], a->pos[0].u.d->vals[i]);
        }
        for (size_t k = 0; k < a->nk; k++) d_set_str(e, d, a->kn[k], a->kv[k]);
        return (jv){.k = fn == F_NAMESPACE ? V_NS : V_DICT, .u.d = d};
    }
    case F_RANGE: return fn_range(e, at, a);
    default: return fn_strftime(e, at, a);
    }
}

static void exec_body(je *e, const jnlist *body);
static jv eval(je *e, const jnode *n);

/* Frames are reused (emptied) when a scope is entered again: nothing else refers to them. */
static void push_frame(je *e, const jnode *at) {
    if (e->n_frames == JE_MAX_FRAMES) je_fail(e, at, "scopes nested deeper than %d", JE_MAX_FRAMES);
    if (!e->frames[e->n_frames]) e->frames[e->n_frames] = d_new(e);
    e->frames[e->n_frames++]->n = 0;
}

/* Renders body into a string of its own ({% set %} blocks and macro calls). */
static jv capture(je *e, const jnlist *body) {
    jbuf *saved = e->out;
    jbuf b = {NULL, 0, 0, e->max_out};
    e->out = &b;
    exec_body(e, body);
    e->out = saved;
    return b.p ? v_buf(&b) : v_str("", 0);
}

static jv call_macro(je *e, const jnode *at, const jnode *mac, const jargs *a) {
    if (a->n > mac->n_names) je_fail(e, at, "macro '%s' takes %zu arguments", mac->s, mac->n_names);
    if (++e->calls > JE_MAX_CALLS) je_fail(e, at, "macro calls nested deeper than %d", JE_MAX_CALLS);
    const int saved_base = e->base, saved_n = e->n_frames, saved_ctl = e->ctl;
    push_frame(e, at);
    jdict *fr = e->frames[e->n_frames - 1];
    e->base = e->n_frames - 1;
    for (size_t k = 0; k < a->nk; k++) {
        bool ok = false;
        for (size_t i = 0; i < mac->n_names; i++) ok = ok || !strcmp(mac->names[i], a->kn[k]);
        if (!ok) je_fail(e, at, "macro '%s' has no parameter '%s'", mac->s, a->kn[k]);
    }
    for (size_t i = 0; i < mac->n_names; i++) {
        const jv *given = arg_at(a, i, mac->names[i]);
        jv val = given ? *given : v_undef(mac->names[i]);
        if (!given && mac->kids2.v[i]) val = eval(e, mac->kids2.v[i]);
        d_set_str(e, fr, mac->names[i], val);
    }
    jv out = capture(e, &mac->kids);
    e->n_frames = saved_n;
    e->base = saved_base;
    e->ctl = saved_ctl;
    e->calls--;
    return out;
}

/* ------------------------------------------------------------------------------------------
 * Expressions
 * ---------------------------------------------------------------------------------------- */

static jv lookup(je *e, const char *name, size_t n) {
    jv v;
    for (int i = e->n_frames - 1; i >= e->base; i--)
        if (d_get_str(e->frames[i], name, n, &v)) return v;
    if (e->base > 0 && d_get_str(e->frames[0], name, n, &v)) return v;
    if (d_get_str(e->globals, name, n, &v)) return v;
    return v_undef(name);
}

#define JE_CHECKED(e, at, builtin, x, y, r)                                                  \
    do {                                                                                    \
        if (builtin(x, y, &(r))) je_fail(e, at, "integer overflow");                       \
    } while (0)

static jv repeat(je *e, const jnode *at, const jv *seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq->k == V_STR) {
        if (seq->n == 0) times = 0; /* empty repeated is empty: no loop of `times` no-ops */
        if (seq->n && (uint64_t)times > e->f.limit / seq->n) je_fail(e, at, "string repetition too large");
        jbuf b = jb_temp(e);
        je_cost(e, at, (uint64_t)times * seq->n / 64 + 1);
        for (int64_t i = 0; i < times; i++) jb_put(e, &b, seq->u.s, seq->n);
        return b.p ? v_buf(&b) : v_str("", 0);
    }
    const jlist *l = seq->u.l;
    if (l->n == 0) times = 0;
    if (l->n && (uint64_t)times > 1000000 / l->n) je_fail(e, at, "list repetition too large");
    jv out = v_list(e, l->n * (size_t)times, l->tuple);
    je_cost(e, at, l->n * (uint64_t)times / 16 + 1);
    for (int64_t i = 0; i < times; i++) memcpy(out.u.l->v + (size_t)i * l->n, l->v, l->n * sizeof(jv));
    return out;
}

static jv binary(je *e, const jnode *at, const char *op, jv a, jv b) {
    if (op[0] == '~') {
        jbuf buf = jb_temp(e);
        put_str(e, &buf, &a);
        put_str(e, &buf, &b);
        return buf.p ? v_buf(&buf) : v_str("", 0);
    }
    if (a.k == V_UNDEF) je_undefined(e, at, &a);
    if (b.k == V_UNDEF) je_undefined(e, at, &b);
    const bool ints = (a.k == V_INT || a.k == V_BOOL) && (b.k == V_INT || b.k == V_BOOL);
    const bool nums = is_num(&a) && is_num(&b);
    int64_t r = 0;
    switch (op[0]) {
    case '+':
        if (ints) {
            JE_CHECKED(e, at, __builtin_add_overflow, as_int(&a), as_int(&b), r);
            return v_int(r);
        }
        if (nums) return v_float(as_float(&a) + as_float(&b));
        if (a.k == V_STR && b.k == V_STR) {
            char *s = jf_alloc(&e->f, a.n + b.n + 1);
            memcpy(s, a.u.s, a.n);
            memcpy(s + a.n, b.u.s, b.n);
            s[a.n + b.n] = '\0';
            je_cost(e, at, (a.n + b.n) / 64 + 1);
            return v_str(s, a.n + b.n);
        }
        if (a.k == V_LIST && b.k == V_LIST && a.u.l->tuple == b.u.l->tuple) {
            jv out = v_list(e, a.u.l->n + b.u.l->n, a.u.l->tuple);
            if (a.u.l->n) memcpy(out.u.l->v, a.u.l->v, a.u.l->n * sizeof(jv));
            if (b.u.l->n) memcpy(out.u.l->v + a.u.l->n, b.u.l->v, b.u.l->n * sizeof(jv));
            je_cost(e, at, out.u.l->n / 16 + 1);
            return out;
        }
        break;
    case '-':
        if (ints) {
            JE_CHECKED(e, at, __builtin_sub_overflow, as_int(&a), as_int(&b), r);
            return v_int(r);
        }
        if (nums) return v_float(as_float(&a) - as_float(&b));
        break;
    case '*':
        if (op[1] == '*') {
            if (ints && as_int(&b) >= 0) {
                int64_t base = as_int(&a), x = 1;
                for (int64_t i = 0; i < as_int(&b); i++) {
                    if (base == 0 || base == 1 || x == 0) break;
                    if (base == -1) {
                        x = as_int(&b) % 2 ? -1 : 1;
                        break;
                    }
                    JE_CHECKED(e, at, __builtin_mul_overflow, x, base, r);
                    x = r;
                }
                if (base == 0) x = as_int(&b) == 0 ? 1 : 0;
                return v_int(x);
            }
            if (nums) {
                if (as_float(&a) == 0 && as_float(&b) < 0) je_fail(e, at, "zero to a negative power");
                double x = pow(as_float(&a), as_float(&b));
                if (isnan(x) && !isnan(as_float(&a)) && !isnan(as_float(&b)))
                    je_fail(e, at, "a negative number to a fractional power");
                return v_float(x);
            }
            break;
        }
        if (ints) {
            JE_CHECKED(e, at, __builtin_mul_overflow, as_int(&a), as_int(&b), r);
            return v_int(r);
        }
        if (nums) return v_float(as_float(&a) * as_float(&b));
        if ((a.k == V_STR || a.k == V_LIST) && (b.k == V_INT || b.k == V_BOOL)) return repeat(e, at, &a, as_int(&b));
        if ((b.k == V_STR || b.k == V_LIST) && (a.k == V_INT || a.k == V_BOOL)) return repeat(e, at, &b, as_int(&a));
        break;
    case '/':
        if (!nums) break;
        if (op[1] == '/') {
            if (ints) {
                int64_t x = as_int(&a), y = as_int(&b);
                if (y == 0) je_fail(e, at, "integer division by zero");
                if (x == INT64_MIN && y == -1) je_fail(e, at, "integer overflow");
                int64_t q = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
                return v_int(q);
            }
            if (as_float(&b) == 0) je_fail(e, at, "float division by zero");
            return v_float(floor(as_float(&a) / as_float(&b)));
        }
        if (as_float(&b) == 0) je_fail(e, at, "division by zero");
        return v_float(as_float(&a) / as_float(&b));
    case '%':
        if (a.k == V_STR) je_fail(e, at, "string formatting with '%%' is not supported");
        if (ints) {
            int64_t x = as_int(&a), y = as_int(&b);
            if (y == 0) je_fail(e, at, "integer modulo by zero");
            if (y == -1) return v_int(0);
            int64_t m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return v_int(m);
        }
        if (nums) {
            double x = as_float(&a), y = as_float(&b);
            if (y == 0) je_fail(e, at, "float modulo by zero");
            double m = fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return v_float(m);
        }
        break;
    default: break;
    }
    je_fail(e, at, "unsupported operand kinds for '%s': %s and %s", op, kind_name(a.k), kind_name(b.k));
}

static jv compare(je *e, const jnode *n) {
    jv left = eval(e, n->a);
    for (size_t i = 0; i < n->n_names; i++) {
        jv right = eval(e, n->kids.v[i]);
        const char *op = n->names[i];
        bool r;
        if (!strcmp(op, "==")) r = py_eq(e, &left, &right);
        else if (!strcmp(op, "!=")) r = !py_eq(e, &left, &right);
        else if (!strcmp(op, "in")) r = contains(e, n, &right, &left);
        else if (!strcmp(op, "not in")) r = !contains(e, n, &right, &left);
        else {
            int c = py_cmp(e, n, &left, &right);
            r = op[0] == '<' ? (op[1] ? c <= 0 : c < 0) : (op[1] ? c >= 0 : c > 0);
        }
        if (!r) return v_bool(false);
        left = right;
    }
    return v_bool(true);
}

/* Evaluates the positional and keyword arguments of a call, filter or test node. */
static jargs eval_args(je *e, const jnode *n) {
    jargs a = {0};
    jv *pos = jf_alloc(&e->f, jf_mul(&e->f, n->kids.n + 1, sizeof *pos));
    for (size_t i = 0; i < n->kids.n; i++) pos[i] = eval(e, n->kids.v[i]);
    jv *kv = jf_alloc(&e->f, jf_mul(&e->f, n->kids2.n + 1, sizeof *kv));
    for (size_t i = 0; i < n->kids2.n; i++) kv[i] = eval(e, n->kids2.v[i]);
    a.pos = pos;
    a.n = n->kids.n;
    a.kn = n->names;
    a.kv = kv;
    a.nk = n->n_names;
    return a;
}

static jv call(je *e, const jnode *n) {
    jv f = eval(e, n->a);
    jargs a = eval_args(e, n);
    switch (f.k) {
    case V_FUNC: return call_function(e, n, f.u.fn, &a);
    case V_METHOD: return call_method(e, n, f.u.m, &a);
    case V_MACRO: return call_macro(e, n, f.u.mac, &a);
    case V_UNDEF:
        if (f.u.s) je_fail(e, n, "'%.*s' is undefined or not a supported function", (int)(f.n < 60 ? f.n : 60), f.u.s);
        je_fail(e, n, "calling an undefined value");
    default: je_fail(e, n, "a %s is not callable", kind_name(f.k));
    }
}

static jv slice(je *e, const jnode *n) {
    jv obj = eval(e, n->a);
    jv start = n->b ? eval(e, n->b) : v_none();
    jv stop = n->c ? eval(e, n->c) : v_none();
    jv step = n->kids.v[0] ? eval(e, n->kids.v[0]) : v_none();
    if (obj.k == V_UNDEF) je_undefined(e, n, &obj);
    if (obj.k == V_STR) {
        size_t count, *off = u8_offsets(e, obj.u.s, obj.n, &count), k;
        size_t *idx = slice_indexes(e, n, (int64_t)count, &start, &stop, &step, &k);
        jbuf b = jb_temp(e);
        for (size_t i = 0; i < k; i++) jb_put(e, &b, obj.u.s + off[idx[i]], off[idx[i] + 1] - off[idx[i]]);
        return b.p ? v_buf(&b) : v_str("", 0);
    }
    if (obj.k != V_LIST) je_fail(e, n, "cannot slice a %s", kind_name(obj.k));
    size_t k, *idx = slice_indexes(e, n, (int64_t)obj.u.l->n, &start, &stop, &step, &k);
    jv out = v_list(e, k, obj.u.l->tuple);
    for (size_t i = 0; i < k; i++) out.u.l->v[i] = obj.u.l->v[idx[i]];
    return out;
}

static jv eval(je *e, const jnode *n) {
    je_cost(e, n, 1);
    switch (n->k) {
    case N_CONST: return n->val;
    case N_NAME: return lookup(e, n->s, n->n);
    case N_LIST:
    case N_TUPLE: {
        jv l = v_list(e, n->kids.n, n->k == N_TUPLE);
        for (size_t i = 0; i < n->kids.n; i++) l.u.l->v[i] = eval(e, n->kids.v[i]);
        return l;
    }
    case N_DICT: {
        jdict *d = d_new(e);
        for (size_t i = 0; i < n->kids.n; i++) {
            jv k = eval(e, n->kids.v[i]);
            if (k.k != V_STR && k.k != V_INT && k.k != V_BOOL && k.k != V_NONE && k.k != V_FLOAT &&
                !(k.k == V_LIST && k.u.l->tuple))
                je_fail(e, n->kids.v[i], "a %s cannot be a dict key", kind_name(k.k));
            d_set(e, d, k, eval(e, n->kids2.v[i]));
        }
        return (jv){.k = V_DICT, .u.d = d};
    }
    case N_ATTR: return get_attr(e, n, eval(e, n->a), n->s, n->n);
    case N_ITEM: {
        jv obj = eval(e, n->a);
        jv key = eval(e, n->b);
        return get_item(e, n, obj, &key);
    }
    case N_SLICE: return slice(e, n);
    case N_CALL: return call(e, n);
    case N_FILTER: {
        jv v = eval(e, n->a);
        jargs a = eval_args(e, n);
        return apply_filter(e, n, n->s, v, &a);
    }
    case N_TEST: {
        jv v = eval(e, n->a);
        jargs a = eval_args(e, n);
        return v_bool(run_test(e, n, n->s, &v, &a) != n->neg);
    }
    case N_NEG:
    case N_POS: {
        jv v = eval(e, n->a);
        if (v.k == V_FLOAT) return v_float(n->k == N_NEG ? -v.u.f : v.u.f);
        if (v.k != V_INT && v.k != V_BOOL) {
            if (v.k == V_UNDEF) je_undefined(e, n, &v);
            je_fail(e, n, "unary %c of a %s", n->k == N_NEG ? '-' : '+', kind_name(v.k));
        }
        if (n->k == N_POS) return v_int(as_int(&v));
        if (as_int(&v) == INT64_MIN) je_fail(e, n, "integer overflow");
        return v_int(-as_int(&v));
    }
    case N_NOT: {
        jv v = eval(e, n->a);
        return v_bool(!truthy(&v));
    }
    case N_BIN: {
        jv a = eval(e, n->a);
        jv b = eval(e, n->b);
        return binary(e, n, n->s, a, b);
    }
    case N_CMP: return compare(e, n);
    case N_AND: {
        jv a = eval(e, n->a);
        return truthy(&a) ? eval(e, n->b) : a;
    }
    case N_OR: {
        jv a = eval(e, n->a);
        return truthy(&a) ? a : eval(e, n->b);
    }
    case N_COND: {
        jv c = eval(e, n->a);
        if (truthy(&c)) return eval(e, n->b);
        return n->c ? eval(e, n->c) : v_undef(NULL);
    }
    default: je_fail(e, n, "internal error: a statement where an expression belongs");
    }
}

/* ------------------------------------------------------------------------------------------
 * Statements
 * ---------------------------------------------------------------------------------------- */

static void assign(je *e, const jnode *at, jdict *d, const char *const *names, size_t n_names, jv v) {
    if (n_names == 1) {
        d_set_str(e, d, names[0], v);
        return;
    }
    const jlist *items = iter_items(e, at, &v);
    if (items->n != n_names)
        je_fail(e, at, "cannot unpack %zu values into %zu names", items->n, n_names);
    for (size_t i = 0; i < n_names; i++) d_set_str(e, d, names[i], items->v[i]);
}

static void exec_for(je *e, const jnode *n) {
    jv seq = eval(e, n->a);
    const jlist *items = iter_items(e, n, &seq);
    if (n->b) { /* {% for x in xs if cond %}: filter first, then loop.* counts what is kept */
        push_frame(e, n);
        jv kept = v_list(e, 0, false);
        size_t cap = 0;
        for (size_t i = 0; i < items->n; i++) {
            je_cost(e, n, 1);
            jdict *fr = e->frames[e->n_frames - 1];
            fr->n = 0;
            assign(e, n, fr, n->names, n->n_names, items->v[i]);
            jv c = eval(e, n->b);
            if (truthy(&c)) l_push(e, &kept, &cap, items->v[i]);
        }
        e->n_frames--;
        items = kept.u.l;
    }
    if (items->n == 0) {
        exec_body(e, &n->kids2);
        return;
    }
    jloop *lp = jf_alloc(&e->f, sizeof *lp);
    lp->items = items;
    push_frame(e, n);
    jdict *fr = e->frames[e->n_frames - 1];
    for (size_t i = 0; i < items->n; i++) {
        je_cost(e, n, 1);
        lp->i = i;
        fr->n = 0; /* each pass starts from the outer scope, as in Jinja */
        d_set_str(e, fr, "loop", (jv){.k = V_LOOP, .u.lp = lp});
        assign(e, n, fr, n->names, n->n_names, items->v[i]);
        exec_body(e, &n->kids);
        if (e->ctl == CTL_BREAK) {
            e->ctl = CTL_NONE;
            break;
        }
        e->ctl = CTL_NONE;
    }
    e->n_frames--;
}

static void exec_set(je *e, const jnode *n) {
    jv v = n->k == N_SETBLOCK ? capture(e, &n->kids) : eval(e, n->a);
    if (n->s) {
        jv ns = lookup(e, n->names[0], strlen(n->names[0]));
        if (ns.k != V_NS) je_fail(e, n, "'%s' is not a namespace: cannot set '%s.%s'", n->names[0], n->names[0], n->s);
        d_set_str(e, ns.u.d, n->s, v);
        return;
    }
    assign(e, n, e->frames[e->n_frames - 1], n->names, n->n_names, v);
}

static void exec_node(je *e, const jnode *n) {
    je_cost(e, n, 1);
    switch (n->k) {
    case N_TEXT: jb_put(e, e->out, n->s, n->n); return;
    case N_OUT: {
        jv v = eval(e, n->a);
        put_str(e, e->out, &v);
        return;
    }
    case N_IF: {
        jv c = eval(e, n->a);
        exec_body(e, truthy(&c) ? &n->kids : &n->kids2);
        return;
    }
    case N_FOR: exec_for(e, n); return;
    case N_SET:
    case N_SETBLOCK: exec_set(e, n); return;
    case N_MACRO:
        d_set_str(e, e->frames[e->n_frames - 1], n->s, (jv){.k = V_MACRO, .u.mac = n});
        return;
    case N_BREAK: e->ctl = CTL_BREAK; return;
    case N_CONTINUE: e->ctl = CTL_CONTINUE; return;
    default: je_fail(e, n, "internal error: an expression where a statement belongs");
    }
}

static void exec_body(je *e, const jnlist *body) {
    for (size_t i = 0; i < body->n && e->ctl == CTL_NONE; i++) exec_node(e, body->v[i]);
}

/* ------------------------------------------------------------------------------------------
 * Rendering
 * ---------------------------------------------------------------------------------------- */

static jv msg_value(je *e, const jinja_msg *m) {
    jdict *d = d_new(e);
    d_set_str(e, d, "role", v_strz(m->role ? m->role : ""));
    d_set_str(e, d, "content", m->content ? v_strz(m->content) : v_none());
    return (jv){.k = V_DICT, .u.d = d};
}

static void set_globals(je *e, const jinja_msg *msgs, size_t n_msgs, const jinja_opts *o) {
    jdict *g = d_new(e);
    jv list = v_list(e, n_msgs, false);
    for (size_t i = 0; i < n_msgs; i++) list.u.l->v[i] = msg_value(e, &msgs[i]);
    d_set_str(e, g, "messages", list);
    d_set_str(e, g, "add_generation_prompt", v_bool(o->add_generation_prompt));
    d_set_str(e, g, "tools", v_none());
    d_set_str(e, g, "documents", v_none());
    if (o->bos_token) d_set_str(e, g, "bos_token", v_strz(o->bos_token));
    if (o->eos_token) d_set_str(e, g, "eos_token", v_strz(o->eos_token));
    if (o->enable_thinking >= 0) d_set_str(e, g, "enable_thinking", v_bool(o->enable_thinking > 0));
    static const struct { const char *name; int fn; } fns[] = {
        {"raise_exception", F_RAISE}, {"namespace", F_NAMESPACE}, {"range", F_RANGE},
        {"strftime_now", F_STRFTIME}, {"dict", F_DICT}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        d_set_str(e, g, fns[i].name, (jv){.k = V_FUNC, .u.fn = fns[i].fn});
    e->globals = g;
}

char *jinja_render(const jinja_tmpl *t, const jinja_msg *msgs, size_t n_msgs,
                   const jinja_opts *o, size_t *len, char *err, size_t err_size) {
    if (err && err_size) err[0] = '\0';
    if (!t || !o || (n_msgs && !msgs)) {
        if (err && err_size) snprintf(err, err_size, "jinja_render: bad arguments");
        return NULL;
    }
    je *e = ELM_CALLOC(1, sizeof *e);
    if (!e) {
        if (err && err_size) snprintf(err, err_size, "out of memory");
        return NULL;
    }
    e->o = o;
    e->max_out = o->max_output ? o->max_output : (4u << 20);
    e->max_steps = o->max_steps ? o->max_steps : 20000000u;
    e->f.limit = o->max_memory ? o->max_memory : (64u << 20);
    char *result = NULL;
    if (setjmp(e->f.jb)) {
        if (err && err_size) snprintf(err, err_size, "%s", e->f.msg);
        jf_release(&e->f);
        ELM_FREE(e);
        return NULL;
    }
    set_globals(e, msgs, n_msgs, o);
    jbuf out = {NULL, 0, 0, e->max_out};
    e->out = &out;
    push_frame(e, NULL);
    exec_body(e, &t->body);
    result = ELM_MALLOC(out.n + 1);
    if (result) {
        if (out.n) memcpy(result, out.p, out.n);
        result[out.n] = '\0';
        if (len) *len = out.n;
    } else if (err && err_size) {
        snprintf(err, err_size, "out of memory");
    }
    jf_release(&e->f);
    ELM_FREE(e);
    return result;
}
