/* HTTP/1.1 request heads (examples/server/http.c): a byte of options choosing the limits, then
 * the bytes a client sent. Checks beyond "no crash": a parsed head lies inside the buffer and
 * within the limits (every header name and value, the Content-Length), an error has a status
 * and a reason, a head that parses is reported incomplete when cut short, and the accessors
 * (header lookup, bearer key, reason phrases, constant-time compare) agree with plain code. */
#include "fuzz.h"
#include "../../examples/server/http.c"

static void check_inside(const char *p, size_t n, const uint8_t *data, size_t head_len) {
    if (n && (p < (const char *)data || p + n > (const char *)data + head_len)) abort();
}

static void check_done(const char *buf, size_t len, const http_limits *lim, const http_request *req) {
    const uint8_t *data = (const uint8_t *)buf;
    if (req->head_len < 4 || req->head_len > len || req->head_len > lim->max_head) abort();
    if (memcmp(buf + req->head_len - 4, "\r\n\r\n", 4) != 0) abort();
    if (!req->method[0] || strlen(req->method) >= sizeof req->method) abort();
    if (req->path[0] != '/' || strlen(req->path) >= sizeof req->path) abort();
    if (req->minor != 0 && req->minor != 1) abort();
    if (req->n_headers < 0 || req->n_headers > lim->max_headers) abort();
    if (req->content_length < -1 || (req->content_length >= 0 && (uint64_t)req->content_length > lim->max_body))
        abort();
    for (int i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        if (h->name_len == 0) abort();
        check_inside(h->name, h->name_len, data, req->head_len);
        check_inside(h->value, h->value_len, data, req->head_len);
        /* lookup by the header's own name finds the first one with that name */
        char name[64];
        if (h->name_len < sizeof name) {
            memcpy(name, h->name, h->name_len);
            name[h->name_len] = '\0';
            const http_header *f = http_find_header(req, name);
            if (!f || f > h || !http_iequal(f->name, name, h->name_len)) abort();
        }
    }
    const char *key;
    size_t klen;
    if (http_bearer(req, &key, &klen)) check_inside(key, klen, data, req->head_len);
    else if (key || klen) abort();
    /* A complete head cut short is incomplete, never an error or a different parse. */
    http_request part;
    int st = 0;
    const char *msg = NULL;
    if (http_parse_head(buf, req->head_len - 1, lim, &part, &st, &msg) != HTTP_INCOMPLETE) abort();
    if (http_parse_head(buf, req->head_len / 2, lim, &part, &st, &msg) != HTTP_INCOMPLETE) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 65536) return 0;
    /* options: bits 0-1 the head limit, bits 2-4 the header count limit, bits 5-7 the body limit */
    static const size_t heads[] = {16384, 64, 1024, 65536};
    static const int counts[] = {48, 0, 1, 2, 8, 63, 64, 64};
    static const uint64_t bodies[] = {1 << 20, 0, 1, 9, 1000, (uint64_t)1 << 32, (uint64_t)1 << 60, 99999};
    http_limits lim = http_default_limits();
    lim.max_head = heads[data[0] & 3];
    lim.max_headers = counts[(data[0] >> 2) & 7];
    lim.max_body = bodies[data[0] >> 5];
    const char *buf = (const char *)data + 1;
    const size_t len = size - 1;
    http_request req;
    int status = 0;
    const char *msg = NULL;
    switch (http_parse_head(buf, len, &lim, &req, &status, &msg)) {
    case HTTP_DONE:
        check_done(buf, len, &lim, &req);
        break;
    case HTTP_INCOMPLETE:
        if (len >= lim.max_head) abort();
        break;
    case HTTP_ERROR:
        if (!msg || !msg[0] || status < 400 || status > 599 || !strcmp(http_reason(status), "Unknown")) abort();
        break;
    default:
        abort();
    }
    /* constant-time compare of the two halves agrees with memcmp */
    const size_t h = len / 2;
    if (http_secure_equal(buf, h, buf + h, len - h) != (h == len - h && memcmp(buf, buf + h, h) == 0)) abort();
    return 0;
}
