/*
 * test-http — the server's HTTP request-head parser, its JSON writer and the OpenAI request
 * validators (examples/server/) against malformed and hostile input.
 */
#include "tf.h"

#include "../examples/server/http.h"
#include "../examples/server/jsonw.h"
#include "../examples/server/oai.h"

static http_parse_result parse(const char *s, int *status) {
    http_limits lim = http_default_limits();
    http_request req;
    const char *msg = NULL;
    *status = 0;
    return http_parse_head(s, strlen(s), &lim, &req, status, &msg);
}

/* Expects an error with the given status. */
static void expect_error(const char *s, int want) {
    int st;
    http_parse_result r = parse(s, &st);
    TF_CHECK(r == HTTP_ERROR && st == want, "%.60s: result %d status %d, want %d", s, (int)r, st, want);
}

TF_TEST(http_parses_a_post_with_body_length) {
    const char *s = "POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"
                    "Authorization: Bearer k1\r\n\r\n{\"prompt\":1}";
    http_limits lim = http_default_limits();
    http_request req;
    int st = 0;
    const char *msg = NULL;
    TF_CHECK(http_parse_head(s, strlen(s), &lim, &req, &st, &msg) == HTTP_DONE, "%s", msg ? msg : "");
    TF_CHECK(!strcmp(req.method, "POST") && !strcmp(req.path, "/v1/completions"));
    TF_CHECK(req.content_length == 12 && req.keep_alive && req.minor == 1 && req.n_headers == 3);
    TF_CHECK(req.head_len == strlen(s) - 12);
    const char *key;
    size_t len;
    TF_CHECK(http_bearer(&req, &key, &len) && len == 2 && !memcmp(key, "k1", 2));
    TF_CHECK(http_find_header(&req, "HOST") != NULL && http_find_header(&req, "x-none") == NULL);
}

TF_TEST(http_incomplete_heads_wait_for_more) {
    int st;
    TF_CHECK(parse("", &st) == HTTP_INCOMPLETE);
    TF_CHECK(parse("GET / HTTP/1.1", &st) == HTTP_INCOMPLETE);          /* truncated request line */
    TF_CHECK(parse("GET / HTTP/1.1\r\nHost: x\r\n", &st) == HTTP_INCOMPLETE);
    TF_CHECK(parse("GET / HTTP/1.0\r\n\r\n", &st) == HTTP_DONE);
}

TF_TEST(http_keep_alive_rules) {
    http_limits lim = http_default_limits();
    http_request req;
    int st;
    const char *msg;
    const char *a = "GET / HTTP/1.0\r\n\r\n", *b = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    TF_CHECK(http_parse_head(a, strlen(a), &lim, &req, &st, &msg) == HTTP_DONE && !req.keep_alive);
    TF_CHECK(http_parse_head(b, strlen(b), &lim, &req, &st, &msg) == HTTP_DONE && !req.keep_alive);
}

TF_TEST(http_rejects_malformed_request_lines) {
    expect_error("\r\n\r\n", 400);
    expect_error("GET\r\n\r\n", 400);
    expect_error("GET  / HTTP/1.1\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1 extra\r\n\r\n", 400);
    expect_error("GET http://x/ HTTP/1.1\r\n\r\n", 400);
    expect_error("GET / HTTP/2.0\r\n\r\n", 505);
    expect_error("GET / HTTP/1.9\r\n\r\n", 505);
    expect_error("GET / FTP/1.1\r\n\r\n", 400);
    expect_error("G(T / HTTP/1.1\r\n\r\n", 400);
    expect_error("GET /\x01 HTTP/1.1\r\n\r\n", 400);
    expect_error("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400); /* raw UTF-8 must be percent-encoded */
    expect_error("VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", 501);
    expect_error("GET / HTTP/1.1\n\n\r\n\r\n", 400); /* bare LF */
}

TF_TEST(http_rejects_bad_headers) {
    expect_error("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nA b: c\r\n\r\n", 400);
}

TF_TEST(http_content_length_is_strict) {
    expect_error("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400);
    expect_error("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    expect_error("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400);
    expect_error("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400);
    expect_error("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
    expect_error("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
    expect_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413);
    expect_error("POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413); /* default limit 1 MiB */
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411);
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400);
    int st;
    TF_CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n", &st) == HTTP_DONE);
}

TF_TEST(http_bounds_header_floods) {
    char *s = malloc(64 * 1024);
    strcpy(s, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 60; i++) strcat(s, "X-A: 1\r\n");
    strcat(s, "\r\n");
    expect_error(s, 431); /* too many fields */
    strcpy(s, "GET / HTTP/1.1\r\nX-Big: ");
    size_t n = strlen(s);
    memset(s + n, 'a', 20000);
    s[n + 20000] = '\0';
    expect_error(s, 431); /* a head over 16 KiB without its end */
    strcat(s, "\r\n\r\n");
    expect_error(s, 431);
    free(s);
    char nul[] = "GET / HTTP/1.1\r\nA: \0b\r\n\r\n";
    http_limits lim = http_default_limits();
    http_request req;
    int st;
    const char *msg;
    TF_CHECK(http_parse_head(nul, sizeof nul - 1, &lim, &req, &st, &msg) == HTTP_ERROR && st == 400);
}

TF_TEST(http_random_bytes_never_crash) {
    tf_rng rng = {0x1234567};
    http_limits lim = http_default_limits();
    http_request req;
    char buf[512];
    int done = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)tf_rand_int(&rng, 0, (int)sizeof buf);
        const char *base = "POST /v1/x HTTP/1.1\r\nContent-Length: 10\r\nA: b\r\n\r\n";
        size_t bl = strlen(base);
        for (size_t i = 0; i < n; i++) /* mutations of a valid head */
            buf[i] = i < bl && tf_rand_int(&rng, 0, 9) ? base[i] : (char)tf_rand_u64(&rng);
        int st;
        const char *msg;
        http_parse_result r = http_parse_head(buf, n, &lim, &req, &st, &msg);
        if (r == HTTP_DONE) done++;
        if (r == HTTP_DONE) TF_CHECK(req.head_len <= n && req.content_length <= (int64_t)lim.max_body);
        if (r == HTTP_ERROR) TF_CHECK(st >= 400 && st < 600 && msg);
    }
    TF_CHECK(done > 0, "no mutated head parsed at all");
}

TF_TEST(http_secure_equal) {
    TF_CHECK(http_secure_equal("abc", 3, "abc", 3));
    TF_CHECK(!http_secure_equal("abc", 3, "abd", 3));
    TF_CHECK(!http_secure_equal("abc", 3, "abcd", 4));
    TF_CHECK(!http_secure_equal("", 0, "a", 1));
    TF_CHECK(http_secure_equal("", 0, "", 0));
}

TF_TEST(jsonw_escapes_and_stays_valid) {
    jw w;
    jw_init(&w);
    jw_obj(&w);
    jw_key(&w, "s");
    jw_strn(&w, "a\"b\\c\n\x01\x7f\xff\xc3\xa9\xe2\x82", 13); /* quote, controls, bad UTF-8, é, cut € */
    jw_key(&w, "n");
    jw_num(&w, NAN);
    jw_key(&w, "i");
    jw_num(&w, INFINITY);
    jw_key(&w, "a");
    jw_arr(&w);
    jw_int(&w, -5);
    jw_bool(&w, true);
    jw_null(&w);
    jw_num(&w, 0.5);
    jw_arr_end(&w);
    jw_obj_end(&w);
    TF_CHECK(jw_ok(&w));
    const char *want = "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u007f\\ufffd\xc3\xa9\\ufffd\\ufffd\",\"n\":null,"
                       "\"i\":null,\"a\":[-5,true,null,0.5]}";
    TF_CHECK(!strcmp(w.buf, want), "got %s", w.buf);
    gl_error ge = {0};
    elm_json_doc *d = elm_json_parse(w.buf, w.len, &ge);
    TF_CHECK(d != NULL, "the writer's output does not parse: %s", ge.msg);
    elm_json_free(d);
    jw_free(&w);
}

/* Parses a body and the generation fields; returns whether they were accepted. */
static bool gen_ok(const char *body, bool chat, oai_gen *g) {
    char msg[256];
    elm_json_doc *d = oai_parse_body(body, strlen(body), msg, sizeof msg);
    if (!d) return false;
    bool ok = oai_parse_gen(elm_json_root(d), chat, g, msg, sizeof msg);
    if (ok) TF_CHECK(g->n_stop >= 0);
    elm_json_free(d);
    return ok;
}

TF_TEST(oai_rejects_invalid_json_bodies) {
    char msg[256];
    const char *bad[] = {"", "{", "[1]", "\"x\"", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":1}x",
                         "{\"a\":\"\xff\"}", "{\"a\":\"\\ud800\"}", "{'a':1}", "{\"a\":01}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        elm_json_doc *d = oai_parse_body(bad[i], strlen(bad[i]), msg, sizeof msg);
        TF_CHECK(d == NULL && msg[0], "accepted %s", bad[i]);
        elm_json_free(d);
    }
    /* a nesting bomb: refused by depth, not by the stack */
    size_t n = 100000;
    char *bomb = malloc(2 * n + 3);
    memset(bomb, '[', n);
    memset(bomb + n, ']', n);
    bomb[2 * n] = '\0';
    char *obj = malloc(2 * n + 16);
    snprintf(obj, 2 * n + 16, "{\"a\":%s}", bomb);
    elm_json_doc *d = oai_parse_body(obj, strlen(obj), msg, sizeof msg);
    TF_CHECK(d == NULL, "a 100000-deep document was accepted");
    elm_json_free(d);
    free(bomb);
    free(obj);
}

TF_TEST(oai_generation_fields_are_validated) {
    oai_gen g;
    TF_CHECK(gen_ok("{\"temperature\":0,\"max_tokens\":5,\"seed\":-3,\"stop\":[\"a\",\"bc\"],"
                    "\"top_k\":4,\"top_p\":0.5,\"min_p\":0.1,\"stream\":true,"
                    "\"stream_options\":{\"include_usage\":true}}", true, &g));
    TF_CHECK(g.sp.temp == 0 && g.max_tokens == 5 && g.seed_set && g.n_stop == 2 && g.sp.top_k == 4);
    TF_CHECK(g.stream && g.include_usage && g.logprobs == -1);
    TF_CHECK(gen_ok("{\"max_completion_tokens\":7,\"logprobs\":true,\"top_logprobs\":3}", true, &g));
    TF_CHECK(g.max_tokens == 7 && g.logprobs == 3);
    TF_CHECK(gen_ok("{\"logprobs\":2,\"echo\":true,\"stop\":\"x\"}", false, &g));
    TF_CHECK(g.logprobs == 2 && g.echo && g.n_stop == 1);
    const char *bad[] = {
        "{\"temperature\":\"hot\"}", "{\"temperature\":-1}", "{\"temperature\":1e999}",
        "{\"max_tokens\":1.5}", "{\"max_tokens\":-2}", "{\"max_tokens\":99999999999}",
        "{\"top_p\":2}", "{\"top_k\":-1}", "{\"n\":2}", "{\"stream\":1}", "{\"stop\":5}",
        "{\"stop\":[\"\"]}", "{\"stop\":[1]}", "{\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}",
        "{\"stream_options\":true}", "{\"seed\":\"1\"}", "{\"model\":5}", "{\"frequency_penalty\":1}",
        "{\"logprobs\":true}", "{\"logprobs\":21}", "{\"stream\":true,\"logprobs\":1}",
        "{\"min_p\":null,\"top_p\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TF_CHECK(!gen_ok(bad[i], false, &g), "accepted %s", bad[i]);
    TF_CHECK(!gen_ok("{\"top_logprobs\":2}", true, &g)); /* needs logprobs: true */
}

static bool msgs_ok(const char *body, size_t *n) {
    char msg[256];
    elm_json_doc *d = oai_parse_body(body, strlen(body), msg, sizeof msg);
    if (!d) return false;
    elm_chat_msg *m = NULL;
    bool ok = oai_parse_messages(elm_json_root(d), &m, n, msg, sizeof msg);
    if (ok && *n >= 2) TF_CHECK(!strcmp(m[1].content, "ab"), "parts joined: %s", m[1].content);
    oai_free_messages(m, ok ? *n : 0);
    elm_json_free(d);
    return ok;
}

TF_TEST(oai_messages_are_validated) {
    size_t n;
    TF_CHECK(msgs_ok("{\"messages\":[{\"role\":\"developer\",\"content\":\"s\"},{\"role\":\"user\","
                     "\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
                     "{\"role\":\"assistant\",\"content\":null}]}", &n) && n == 3);
    const char *bad[] = {"{}", "{\"messages\":[]}", "{\"messages\":{}}", "{\"messages\":[1]}",
                         "{\"messages\":[{\"content\":\"x\"}]}", "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
                         "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
                         "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
                         "{\"messages\":[{\"role\":7,\"content\":\"x\"}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) TF_CHECK(!msgs_ok(bad[i], &n), "accepted %s", bad[i]);
}

TF_TEST(oai_prompt_and_inputs_are_validated) {
    char msg[256];
    struct { const char *body; bool ok; } cases[] = {
        {"{\"prompt\":\"hi\"}", true}, {"{\"prompt\":[1,2,3]}", true}, {"{\"prompt\":[\"hi\"]}", true},
        {"{\"prompt\":[[1,2]]}", true}, {"{\"prompt\":[]}", true}, {"{}", false},
        {"{\"prompt\":5}", false}, {"{\"prompt\":[1,512]}", false}, {"{\"prompt\":[-1]}", false},
        {"{\"prompt\":[1.5]}", false}, {"{\"prompt\":[\"a\",\"b\"]}", false}, {"{\"prompt\":[1,\"a\"]}", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        elm_json_doc *d = oai_parse_body(cases[i].body, strlen(cases[i].body), msg, sizeof msg);
        const char *text;
        size_t len;
        int32_t *ids, n;
        bool ok = d && oai_parse_prompt(elm_json_root(d), 512, &text, &len, &ids, &n, msg, sizeof msg);
        TF_CHECK(ok == cases[i].ok, "%s: %s", cases[i].body, ok ? "accepted" : msg);
        if (ok) TF_CHECK((text != NULL) != (ids != NULL));
        if (ok) free(ids);
        elm_json_free(d);
    }
    const char *emb_bad[] = {"{}", "{\"input\":[]}", "{\"input\":5}", "{\"input\":[\"a\",1]}",
                             "{\"input\":\"a\",\"encoding_format\":\"hex\"}"};
    for (size_t i = 0; i < sizeof emb_bad / sizeof emb_bad[0]; i++) {
        elm_json_doc *d = oai_parse_body(emb_bad[i], strlen(emb_bad[i]), msg, sizeof msg);
        const elm_json **t;
        size_t n;
        bool b64;
        TF_CHECK(!oai_parse_embed(elm_json_root(d), &t, &n, &b64, msg, sizeof msg), "accepted %s", emb_bad[i]);
        elm_json_free(d);
    }
    const char *good = "{\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\"}";
    elm_json_doc *d = oai_parse_body(good, strlen(good), msg, sizeof msg);
    const elm_json **t = NULL;
    size_t n = 0;
    bool b64 = false;
    TF_CHECK(oai_parse_embed(elm_json_root(d), &t, &n, &b64, msg, sizeof msg) && n == 2 && b64);
    free(t);
    elm_json_free(d);
}

TF_TEST(oai_base64_matches_rfc4648) {
    char out[16];
    oai_base64((const unsigned char *)"foobar", 6, out);
    TF_CHECK(!strcmp(out, "Zm9vYmFy"));
    oai_base64((const unsigned char *)"fooba", 5, out);
    TF_CHECK(!strcmp(out, "Zm9vYmE="));
    oai_base64((const unsigned char *)"f", 1, out);
    TF_CHECK(!strcmp(out, "Zg=="));
}

TF_MAIN
