/*
 * http.h — HTTP/1.1 request-head parsing for the server (pure functions over a buffer, no I/O,
 * so that every malformed input can be tested without a socket).
 *
 * A request head is the request line and the header lines up to the empty line, all ending
 * in CRLF. The parser is strict: a method of token characters, one space, an origin-form
 * target ("/..."), one space, HTTP/1.0 or HTTP/1.1; header names of token characters, values
 * without control characters, no obsolete line folding; at most max_headers headers and
 * max_head bytes. Content-Length must be plain digits, appear once and not exceed max_body;
 * Transfer-Encoding is refused (411: send a Content-Length body).
 */
#ifndef EDGELM_SERVER_HTTP_H
#define EDGELM_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 64

typedef struct http_limits {
    size_t max_head;   /* bytes of request line + headers (default 16 KiB) */
    int max_headers;   /* at most HTTP_MAX_HEADERS */
    uint64_t max_body; /* largest Content-Length accepted (at most 2^60: no overflow while parsing) */
} http_limits;

typedef struct http_header {
    const char *name, *value; /* point into the caller's buffer, not NUL-terminated */
    size_t name_len, value_len;
} http_header;

typedef struct http_request {
    char method[16];
    char path[1024];       /* target without the query, NUL-terminated */
    int minor;             /* HTTP/1.<minor> */
    http_header headers[HTTP_MAX_HEADERS];
    int n_headers;
    int64_t content_length; /* -1: none */
    bool keep_alive;
    size_t head_len;        /* bytes of the head, the final CRLF CRLF included */
} http_request;

typedef enum http_parse_result {
    HTTP_INCOMPLETE = 0, /* more bytes needed (and the head is still within the limit) */
    HTTP_DONE = 1,
    HTTP_ERROR = -1,     /* *status and *msg say why */
} http_parse_result;

http_limits http_default_limits(void);

/* Parses the head at the start of buf[0..len). On HTTP_ERROR, *status is the response status
 * (400, 411, 413, 414, 431, 501, 505) and *msg a short reason. */
http_parse_result http_parse_head(const char *buf, size_t len, const http_limits *lim,
                                  http_request *req, int *status, const char **msg);

/* Header value by case-insensitive name (first occurrence); NULL when absent. */
const http_header *http_find_header(const http_request *req, const char *name);

/* Reason phrase of a status code ("Not Found"). */
const char *http_reason(int status);

/* Constant-time comparison of two byte strings (time depends only on the lengths). */
/* ASCII case-insensitive equality of n bytes (header names and tokens). */
bool http_iequal(const char *a, const char *b, size_t n);
bool http_secure_equal(const char *a, size_t alen, const char *b, size_t blen);

/* The key of an "Authorization: Bearer KEY" header (NULL/0 when absent or another scheme). */
bool http_bearer(const http_request *req, const char **key, size_t *len);

#endif
