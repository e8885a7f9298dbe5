/* jsonw.c — see jsonw.h. */
#include "jsonw.h"

#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jw *w) {
    memset(w, 0, sizeof *w);
    w->first[0] = true;
}

void jw_free(jw *w) {
    free(w->buf);
    jw_init(w);
}

void jw_reset(jw *w) {
    char *b = w->buf;
    size_t cap = w->cap;
    jw_init(w);
    w->buf = b;
    w->cap = cap;
    if (b) b[0] = '\0';
}

bool jw_ok(const jw *w) { return !w->oom && w->buf != NULL; }

void jw_raw(jw *w, const char *s, size_t n) {
    if (w->oom) return;
    if (n > SIZE_MAX / 2 - w->len - 1) {
        w->oom = true;
        return;
    }
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1) cap *= 2;
        char *b = realloc(w->buf, cap);
        if (!b) {
            w->oom = true;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

/* Comma before a value or key unless it is the first at its level or follows a key. */
static void jw_sep(jw *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth]) jw_raw(w, ",", 1);
    w->first[w->depth] = false;
}

static void jw_open(jw *w, char c) {
    jw_sep(w);
    jw_raw(w, &c, 1);
    if (w->depth + 1 >= JW_MAX_DEPTH) {
        w->oom = true; /* a writer bug, never input-driven: refuse rather than overflow */
        return;
    }
    w->first[++w->depth] = true;
}

static void jw_close(jw *w, char c) {
    jw_raw(w, &c, 1);
    if (w->depth > 0) w->depth--;
}

void jw_obj(jw *w) { jw_open(w, '{'); }
void jw_obj_end(jw *w) { jw_close(w, '}'); }
void jw_arr(jw *w) { jw_open(w, '['); }
void jw_arr_end(jw *w) { jw_close(w, ']'); }

static size_t jw_utf8_len(unsigned char c) {
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static void jw_quoted(jw *w, const char *s, size_t n) {
    jw_raw(w, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one piece */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char ubuf[8];
        size_t step = 1;
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20 || c == 0x7F) {
            snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
            esc = ubuf;
        } else if (c >= 0x80) {
            step = jw_utf8_len(c);
            if (step > n - i || elm_utf8_validate(s + i, step) != step) {
                esc = "\\ufffd";
                step = 1;
            }
        }
        if (esc) {
            jw_raw(w, s + i - run, run);
            run = 0;
            jw_raw(w, esc, strlen(esc));
        } else {
            run += step;
        }
        i += step;
    }
    jw_raw(w, s + n - run, run);
    jw_raw(w, "\"", 1);
}

void jw_key(jw *w, const char *key) {
    jw_sep(w);
    jw_quoted(w, key, strlen(key));
    jw_raw(w, ":", 1);
    w->after_key = true;
}

void jw_strn(jw *w, const char *s, size_t n) {
    jw_sep(w);
    jw_quoted(w, s ? s : "", s ? n : 0);
}

void jw_str(jw *w, const char *s) { jw_strn(w, s, s ? strlen(s) : 0); }

void jw_int(jw *w, int64_t v) {
    char b[32];
    jw_sep(w);
    int n = snprintf(b, sizeof b, "%lld", (long long)v);
    jw_raw(w, b, (size_t)n);
}

void jw_num(jw *w, double v) {
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    char b[40];
    jw_sep(w);
    int n = snprintf(b, sizeof b, "%.9g", v);
    jw_raw(w, b, (size_t)n);
}

void jw_bool(jw *w, bool v) {
    jw_sep(w);
    jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(jw *w) {
    jw_sep(w);
    jw_raw(w, "null", 4);
}

void jw_key_str(jw *w, const char *key, const char *s) {
    jw_key(w, key);
    jw_str(w, s);
}

void jw_key_int(jw *w, const char *key, int64_t v) {
    jw_key(w, key);
    jw_int(w, v);
}

void jw_key_num(jw *w, const char *key, double v) {
    jw_key(w, key);
    jw_num(w, v);
}
