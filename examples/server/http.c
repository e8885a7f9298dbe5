/* http.c — see http.h. */
#include "http.h"

#include <string.h>

http_limits http_default_limits(void) {
    http_limits l = {.max_head = 16384, .max_headers = 48, .max_body = 1 << 20};
    return l;
}

static bool http_is_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Position of the first CRLF at or after from, or len when none. */
static size_t http_find_crlf(const char *buf, size_t from, size_t len) {
    for (size_t i = from; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n') return i;
    return len;
}

static http_parse_result http_fail(int *status, const char **msg, int st, const char *m) {
    *status = st;
    *msg = m;
    return HTTP_ERROR;
}

bool http_iequal(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return false;
    }
    return true;
}

static bool http_eq(const char *s, size_t n, const char *lit) {
    return strlen(lit) == n && http_iequal(s, lit, n);
}

/* Request line: METHOD SP /target SP HTTP/1.x */
static http_parse_result http_request_line(const char *p, size_t n, http_request *req,
                                           int *status, const char **msg) {
    size_t i = 0;
    while (i < n && http_is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= n || p[i] != ' ') return http_fail(status, msg, 400, "malformed request line");
    if (i >= sizeof req->method) return http_fail(status, msg, 501, "unknown method");
    memcpy(req->method, p, i);
    req->method[i] = '\0';
    size_t t0 = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7F) return http_fail(status, msg, 400, "bad character in the request target");
        i++;
    }
    if (i >= n || i == t0) return http_fail(status, msg, 400, "malformed request line");
    if (p[t0] != '/') return http_fail(status, msg, 400, "the request target must start with '/'");
    size_t tlen = i - t0, plen = 0;
    while (plen < tlen && p[t0 + plen] != '?' && p[t0 + plen] != '#') plen++;
    if (plen >= sizeof req->path) return http_fail(status, msg, 414, "request target too long");
    memcpy(req->path, p + t0, plen);
    req->path[plen] = '\0';
    i++;
    if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7))
        return http_fail(status, msg, n - i == 8 && !memcmp(p + i, "HTTP/", 5) ? 505 : 400,
                         n - i == 8 && !memcmp(p + i, "HTTP/", 5) ? "HTTP version not supported"
                                                                  : "malformed request line");
    if (p[i + 7] != '0' && p[i + 7] != '1') return http_fail(status, msg, 505, "HTTP version not supported");
    req->minor = p[i + 7] - '0';
    return HTTP_DONE;
}

static http_parse_result http_header_line(const char *p, size_t n, const http_limits *lim,
                                          http_request *req, int *status, const char **msg) {
    if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
        return http_fail(status, msg, 400, "obsolete header line folding");
    size_t i = 0;
    while (i < n && http_is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= n || p[i] != ':') return http_fail(status, msg, 400, "malformed header line");
    if (req->n_headers >= lim->max_headers || req->n_headers >= HTTP_MAX_HEADERS)
        return http_fail(status, msg, 431, "too many header fields");
    http_header *h = &req->headers[req->n_headers++];
    h->name = p;
    h->name_len = i;
    size_t v = i + 1, e = n;
    while (v < e && (p[v] == ' ' || p[v] == '\t')) v++;
    while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t')) e--;
    for (size_t k = v; k < e; k++) {
        unsigned char c = (unsigned char)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7F) return http_fail(status, msg, 400, "control character in a header value");
    }
    h->value = p + v;
    h->value_len = e - v;
    return HTTP_DONE;
}

/* Content-Length: digits only, once, within max_body. */
static http_parse_result http_content_length(const http_header *h, const http_limits *lim,
                                             http_request *req, int *status, const char **msg) {
    if (req->content_length >= 0) return http_fail(status, msg, 400, "duplicate Content-Length");
    if (h->value_len == 0) return http_fail(status, msg, 400, "empty Content-Length");
    uint64_t v = 0;
    for (size_t k = 0; k < h->value_len; k++) {
        char c = h->value[k];
        if (c < '0' || c > '9') return http_fail(status, msg, 400, "Content-Length is not a number");
        v = v * 10 + (uint64_t)(c - '0');
        if (v > lim->max_body) return http_fail(status, msg, 413, "request body too large");
    }
    if (v > lim->max_body) return http_fail(status, msg, 413, "request body too large");
    req->content_length = (int64_t)v;
    return HTTP_DONE;
}

http_parse_result http_parse_head(const char *buf, size_t len, const http_limits *lim,
                                  http_request *req, int *status, const char **msg) {
    memset(req, 0, sizeof *req);
    req->content_length = -1;
    /* The head ends at the first empty line; look only within the limit. */
    size_t scan = len < lim->max_head ? len : lim->max_head;
    size_t end = 0;
    bool found = false;
    for (size_t i = 0; i + 3 < scan; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
            end = i + 2;
            found = true;
            break;
        }
    if (!found) {
        for (size_t i = 0; i < scan; i++)
            if (buf[i] == '\0') return http_fail(status, msg, 400, "NUL byte in the request head");
        if (len >= lim->max_head) return http_fail(status, msg, 431, "request head too large");
        return HTTP_INCOMPLETE;
    }
    req->head_len = end + 2;
    size_t eol = http_find_crlf(buf, 0, end);
    if (eol == 0) return http_fail(status, msg, 400, "empty request line");
    for (size_t i = 0; i < end; i++)
        if (buf[i] == '\0' || (buf[i] == '\r' && buf[i + 1] != '\n') || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
            return http_fail(status, msg, 400, "bare CR, LF or NUL in the request head");
    http_parse_result r = http_request_line(buf, eol, req, status, msg);
    if (r != HTTP_DONE) return r;
    bool te = false, conn_close = false, conn_keep = false;
    for (size_t pos = eol + 2; pos < end;) {
        size_t e = http_find_crlf(buf, pos, end + 2);
        r = http_header_line(buf + pos, e - pos, lim, req, status, msg);
        if (r != HTTP_DONE) return r;
        const http_header *h = &req->headers[req->n_headers - 1];
        if (http_eq(h->name, h->name_len, "content-length")) {
            r = http_content_length(h, lim, req, status, msg);
            if (r != HTTP_DONE) return r;
        } else if (http_eq(h->name, h->name_len, "transfer-encoding")) {
            te = true;
        } else if (http_eq(h->name, h->name_len, "connection")) {
            if (http_eq(h->value, h->value_len, "close")) conn_close = true;
            else if (http_eq(h->value, h->value_len, "keep-alive")) conn_keep = true;
        }
        pos = e + 2;
    }
    if (te && req->content_length >= 0)
        return http_fail(status, msg, 400, "both Transfer-Encoding and Content-Length");
    if (te) return http_fail(status, msg, 411, "chunked request bodies are not supported: send a Content-Length");
    req->keep_alive = req->minor == 1 ? !conn_close : conn_keep;
    return HTTP_DONE;
}

const http_header *http_find_header(const http_request *req, const char *name) {
    for (int i = 0; i < req->n_headers; i++)
        if (http_eq(req->headers[i].name, req->headers[i].name_len, name)) return &req->headers[i];
    return NULL;
}

const char *http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

bool http_secure_equal(const char *a, size_t alen, const char *b, size_t blen) {
    /* Walks the longer string whatever the contents; the lengths are not secret. */
    size_t n = alen > blen ? alen : blen;
    unsigned diff = (unsigned)(alen ^ blen) | (alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

bool http_bearer(const http_request *req, const char **key, size_t *len) {
    const http_header *h = http_find_header(req, "authorization");
    *key = NULL;
    *len = 0;
    if (!h || h->value_len < 7 || !http_iequal(h->value, "Bearer ", 7)) return false;
    size_t i = 7;
    while (i < h->value_len && h->value[i] == ' ') i++;
    *key = h->value + i;
    *len = h->value_len - i;
    return true;
}
