/* JSON parser: valid and invalid documents, decoding, numbers, limits. */
#include "json.h"
#include "tf.h"

static elm_json_doc *parse(const char *s, gl_error *err) { return elm_json_parse(s, strlen(s), err); }

static bool parses(const char *s) {
    gl_error err = {0};
    elm_json_doc *d = parse(s, &err);
    elm_json_free(d);
    return d != NULL;
}

TF_TEST(json_valid_documents) {
    const char *ok[] = {
        "{}", "[]", "0", "-0", "1.5e-3", "\"\"", "true", "false", "null", " [1, 2 ,3 ] ",
        "{\"a\":{\"b\":[null,true,{\"c\":\"d\"}]}}", "\xEF\xBB\xBF{\"bom\":1}", "\"\\u00e9\\n\\t\\/\"",
        "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"", "1E+2", "[-1.25e+10]", "\r\n\t{\"k\" : 1 }\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) TF_CHECK(parses(ok[i]), "should parse: %s", ok[i]);
}

TF_TEST(json_invalid_documents) {
    const char *bad[] = {
        "", "   ", "{", "[", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "01", "-", "1.",
        ".5", "1e", "+1", "NaN", "Infinity", "-Infinity", "tru", "nul", "'x'", "\"abc", "\"a\\x\"",
        "\"\\u12\"", "\"\\uZZZZ\"", "\"tab\there\"", "[1] x", "{} {}", "1 2", "\"\xC3\"", "\"\xC0\xAF\"",
        "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xFF\"", "\"\\uD800\"", "\"\\uDC00\"",
        "\"\\uD800\\u0041\"", "\"\\uD83D x\"", "1e400", "-1e400", "[\"a\"]]", "{\"a\":}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gl_error err = {0};
        elm_json_doc *d = parse(bad[i], &err);
        TF_CHECK(d == NULL, "should fail: %s", bad[i]);
        TF_CHECK(err.msg[0] != '\0' && strstr(err.msg, "JSON"), "message for %s: '%s'", bad[i], err.msg);
        elm_json_free(d);
    }
}

TF_TEST(json_error_position) {
    gl_error err = {0};
    elm_json_doc *d = parse("{\n  \"a\": [1,\n  2,, 3]\n}", &err);
    TF_CHECK(d == NULL);
    TF_CHECK(strstr(err.msg, "line 3") != NULL, "%s", err.msg);
}

TF_TEST(json_strings_decoded) {
    gl_error err = {0};
    elm_json_doc *d = parse("{\"s\":\"a\\\"b\\\\c\\u0041\\u00e9\\u20ac\\ud83d\\ude00\",\"z\":\"x\\u0000y\"}", &err);
    TF_CHECK(d != NULL, "%s", err.msg);
    if (!d) return;
    const elm_json *s = elm_json_get(elm_json_root(d), "s");
    TF_CHECK(s && !strcmp(s->s, "a\"b\\cA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
    const elm_json *z = elm_json_get(elm_json_root(d), "z");
    TF_CHECK(z && z->len == 3 && z->s[1] == '\0' && z->s[2] == 'y');
    elm_json_free(d);
}

TF_TEST(json_numbers) {
    gl_error err = {0};
    elm_json_doc *d = parse("[0, -7, 9007199254740993, 9223372036854775807, -9223372036854775808, "
                            "9223372036854775808, 1.5, 2e3, 1e300, -0.0, 123456789012345678901234567890]",
                            &err);
    TF_CHECK(d != NULL, "%s", err.msg);
    if (!d) return;
    const elm_json *r = elm_json_root(d);
    TF_CHECK(elm_json_count(r) == 11);
    int64_t i;
    double x;
    TF_CHECK(elm_json_int(elm_json_at(r, 0), &i) && i == 0);
    TF_CHECK(elm_json_int(elm_json_at(r, 1), &i) && i == -7);
    TF_CHECK(elm_json_int(elm_json_at(r, 2), &i) && i == 9007199254740993LL); /* not a double */
    TF_CHECK(elm_json_int(elm_json_at(r, 3), &i) && i == INT64_MAX);
    TF_CHECK(elm_json_int(elm_json_at(r, 4), &i) && i == INT64_MIN);
    TF_CHECK(!elm_json_int(elm_json_at(r, 5), &i), "2^63 does not fit int64");
    TF_CHECK(elm_json_num(elm_json_at(r, 5), &x) && x == 9223372036854775808.0);
    TF_CHECK(!elm_json_int(elm_json_at(r, 6), &i) && elm_json_num(elm_json_at(r, 6), &x) && x == 1.5);
    TF_CHECK(elm_json_int(elm_json_at(r, 7), &i) && i == 2000);
    TF_CHECK(elm_json_num(elm_json_at(r, 8), &x) && x == 1e300 && !elm_json_int(elm_json_at(r, 8), &i));
    TF_CHECK(elm_json_num(elm_json_at(r, 9), &x) && x == 0.0);
    TF_CHECK(!elm_json_int(elm_json_at(r, 10), &i) && elm_json_num(elm_json_at(r, 10), &x) &&
             fabs(x / 1.2345678901234568e29 - 1) < 1e-15);
    elm_json_free(d);
}

TF_TEST(json_lookup) {
    gl_error err = {0};
    elm_json_doc *d = parse("{\"a\":1,\"b\":{\"c\":[true,\"x\"]},\"a\":2,\"n\":null}", &err);
    TF_CHECK(d != NULL);
    if (!d) return;
    const elm_json *r = elm_json_root(d);
    int64_t i;
    bool b;
    TF_CHECK(elm_json_get_int(r, "a", &i) && i == 2, "last duplicate wins");
    const elm_json *c = elm_json_get(elm_json_get(r, "b"), "c");
    TF_CHECK(elm_json_count(c) == 2);
    TF_CHECK(elm_json_bool(elm_json_at(c, 0), &b) && b);
    TF_CHECK(!strcmp(elm_json_str(elm_json_at(c, 1)), "x"));
    TF_CHECK(elm_json_at(c, 2) == NULL);
    TF_CHECK(elm_json_get(r, "missing") == NULL);
    TF_CHECK(elm_json_get(c, "a") == NULL, "arrays have no keys");
    TF_CHECK(elm_json_is(elm_json_get(r, "n"), ELM_JSON_NULL));
    TF_CHECK(elm_json_get_str(r, "a") == NULL, "type mismatch gives NULL");
    TF_CHECK(!strcmp(elm_json_at(r, 1)->key, "b"));
    elm_json_free(d);
}

static char *nested(int depth, char open, char close) {
    char *s = malloc((size_t)depth * 2 + 1);
    for (int k = 0; k < depth; k++) {
        s[k] = open;
        s[depth * 2 - 1 - k] = close;
    }
    s[depth * 2] = '\0';
    return s;
}

TF_TEST(json_depth_limit) {
    char *ok = nested(ELM_JSON_MAX_DEPTH, '[', ']');
    TF_CHECK(parses(ok), "depth %d is allowed", ELM_JSON_MAX_DEPTH);
    free(ok);
    char *deep = nested(ELM_JSON_MAX_DEPTH + 2, '[', ']');
    gl_error err = {0};
    elm_json_doc *d = parse(deep, &err);
    TF_CHECK(d == NULL && strstr(err.msg, "nesting"), "%s", err.msg);
    free(deep);
    /* Very deep unterminated input must not blow the stack either. */
    char *huge = malloc(1000001);
    memset(huge, '[', 1000000);
    huge[1000000] = '\0';
    TF_CHECK(!parses(huge));
    memset(huge, '{', 1000000);
    TF_CHECK(!parses(huge));
    free(huge);
}

TF_TEST(json_big_document) {
    /* 60 000 members, like a tokenizer.json vocabulary. */
    size_t cap = 60000 * 24 + 16, n = 0;
    char *s = malloc(cap);
    s[n++] = '{';
    for (int k = 0; k < 60000; k++) n += (size_t)snprintf(s + n, cap - n, "%s\"tok%d\":%d", k ? "," : "", k, k);
    s[n++] = '}';
    gl_error err = {0};
    elm_json_doc *d = elm_json_parse(s, n, &err);
    TF_CHECK(d != NULL, "%s", err.msg);
    if (d) {
        const elm_json *r = elm_json_root(d);
        TF_CHECK(elm_json_count(r) == 60000);
        int64_t v;
        TF_CHECK(elm_json_int(elm_json_at(r, 59999), &v) && v == 59999);
        TF_CHECK(!strcmp(elm_json_at(r, 12345)->key, "tok12345"));
    }
    elm_json_free(d);
    free(s);
}

TF_TEST(json_random_garbage_never_crashes) {
    /* Mutations of a valid document: each must parse or fail cleanly (run under ASan). */
    const char *base = "{\"a\":[1,-2.5e3,\"x\\u00e9\\ud83d\\ude00\",true,null],\"b\":{\"c\":\"\xC3\xA9\"}}";
    size_t n = strlen(base);
    char buf[128];
    tf_rng rng = {0x1234567};
    int ok = 0, bad = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, base, n);
        int muts = tf_rand_int(&rng, 1, 3);
        for (int m = 0; m < muts; m++) buf[tf_rand_int(&rng, 0, (int)n - 1)] = (char)tf_rand_int(&rng, 0, 255);
        size_t len = (size_t)tf_rand_int(&rng, 0, (int)n);
        gl_error err = {0};
        elm_json_doc *d = elm_json_parse(buf, len, &err);
        if (d) ok++;
        else bad++;
        elm_json_free(d);
    }
    TF_CHECK(bad > 0 && ok + bad == 20000);
}

TF_TEST(json_utf8_validate) {
    TF_CHECK(elm_utf8_validate("abc", 3) == 3);
    TF_CHECK(elm_utf8_validate("a\xC3\xA9", 3) == 3);
    TF_CHECK(elm_utf8_validate("ab\xC3", 3) == 2);
    TF_CHECK(elm_utf8_validate("a\xE0\x80\x80", 4) == 1, "overlong");
    TF_CHECK(elm_utf8_validate("\xF0\x9F\x98\x80", 4) == 4);
}

TF_TEST(json_file_errors) {
    gl_error err = {0};
    TF_CHECK(elm_json_parse_file("/nonexistent/x.json", &err) == NULL);
    TF_CHECK(strstr(err.msg, "/nonexistent/x.json") != NULL, "%s", err.msg);
}

TF_MAIN
