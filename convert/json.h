/*
 * json.h — a strict JSON (RFC 8259) reader for untrusted input (config.json, tokenizer.json …).
 *
 * The whole document is parsed into a tree that lives in one arena owned by elm_json_doc;
 * freeing the document frees every node and string. Strings are decoded (escapes resolved,
 * \uXXXX surrogate pairs joined into UTF-8) and NUL-terminated, with their byte length kept
 * (a string may contain "\u0000"). Anything that is not valid JSON is refused with a message
 * that names the line and column: invalid UTF-8, lone surrogates, control characters in
 * strings, leading zeros, NaN/Infinity, trailing garbage, nesting deeper than
 * ELM_JSON_MAX_DEPTH. A leading UTF-8 byte-order mark is skipped.
 *
 * Numbers are kept as a double; when the value is integral and fits, also as an exact int64
 * (digit strings such as 9007199254740993 keep every digit in the int64).
 */
#ifndef EDGELM_JSON_H
#define EDGELM_JSON_H

#include "ggml-lite.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELM_JSON_MAX_DEPTH 256

typedef enum elm_json_type {
    ELM_JSON_NULL = 0,
    ELM_JSON_BOOL,
    ELM_JSON_NUMBER,
    ELM_JSON_STRING,
    ELM_JSON_ARRAY,
    ELM_JSON_OBJECT,
} elm_json_type;

typedef struct elm_json elm_json;
struct elm_json {
    elm_json_type type;
    bool b;            /* BOOL */
    bool is_int;       /* NUMBER: i holds the exact integral value */
    int64_t i;
    double num;        /* NUMBER */
    const char *s;     /* STRING: decoded UTF-8, NUL-terminated */
    size_t len;        /* STRING: bytes; ARRAY/OBJECT: number of items */
    elm_json **items;  /* ARRAY/OBJECT: children in document order */
    const char *key;   /* set on members of an OBJECT: decoded key, NUL-terminated */
    size_t key_len;
};

typedef struct elm_json_doc elm_json_doc;

/* Parses len bytes of text (need not be NUL-terminated). NULL + err on failure. */
elm_json_doc *elm_json_parse(const char *text, size_t len, gl_error *err);
/* Reads and parses a file; the message names the file on failure. */
elm_json_doc *elm_json_parse_file(const char *path, gl_error *err);
void elm_json_free(elm_json_doc *doc);
const elm_json *elm_json_root(const elm_json_doc *doc);

/* Member of an object by key (the last one when a key repeats); NULL when v is not an
 * object or has no such key. */
const elm_json *elm_json_get(const elm_json *v, const char *key);
/* Item i of an array or object; NULL when out of range or v is neither. */
const elm_json *elm_json_at(const elm_json *v, size_t i);
/* Number of items of an array or object (0 otherwise, or for NULL). */
size_t elm_json_count(const elm_json *v);

/* Typed accessors: NULL / false when v is NULL or of another type. */
const char *elm_json_str(const elm_json *v);
bool elm_json_is(const elm_json *v, elm_json_type t);
bool elm_json_int(const elm_json *v, int64_t *out);   /* integral numbers only */
bool elm_json_num(const elm_json *v, double *out);
bool elm_json_bool(const elm_json *v, bool *out);

/* Shorthands: member key of object v. */
const char *elm_json_get_str(const elm_json *v, const char *key);
bool elm_json_get_int(const elm_json *v, const char *key, int64_t *out);
bool elm_json_get_num(const elm_json *v, const char *key, double *out);
bool elm_json_get_bool(const elm_json *v, const char *key, bool *out);

/* Validates UTF-8 strictly (no overlongs, surrogates or code points above U+10FFFF).
 * Returns the byte offset of the first invalid sequence, or len when all is valid. */
size_t elm_utf8_validate(const char *s, size_t len);

#endif /* EDGELM_JSON_H */
