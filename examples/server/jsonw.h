/*
 * jsonw.h — the server's one JSON writer: a growable buffer with commas, escaping and number
 * formatting handled here. Output is always valid JSON in UTF-8: invalid byte sequences in a
 * string become U+FFFD, NaN and infinities become null. A failed allocation sets oom; the
 * text is then unusable (callers check jw_ok before sending it).
 */
#ifndef EDGELM_SERVER_JSONW_H
#define EDGELM_SERVER_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 32

typedef struct jw {
    char *buf;
    size_t len, cap;
    bool oom;
    int depth;
    bool first[JW_MAX_DEPTH]; /* no item written yet at this level */
    bool after_key;
} jw;

void jw_init(jw *w);
void jw_free(jw *w);
void jw_reset(jw *w);              /* empties the text, keeps the buffer */
bool jw_ok(const jw *w);

void jw_obj(jw *w);                /* { */
void jw_obj_end(jw *w);            /* } */
void jw_arr(jw *w);                /* [ */
void jw_arr_end(jw *w);            /* ] */
void jw_key(jw *w, const char *key);
void jw_str(jw *w, const char *s);
void jw_strn(jw *w, const char *s, size_t n);
void jw_int(jw *w, int64_t v);
void jw_num(jw *w, double v);
void jw_bool(jw *w, bool v);
void jw_null(jw *w);

/* A member: key and value in one call. */
void jw_key_str(jw *w, const char *key, const char *s);
void jw_key_int(jw *w, const char *key, int64_t v);
void jw_key_num(jw *w, const char *key, double v);

/* Bytes appended as they are (no comma handling): for framing such as "data: ". */
void jw_raw(jw *w, const char *s, size_t n);

#endif
