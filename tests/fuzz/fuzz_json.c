/* JSON parser: parse, then walk the whole tree through the accessors the converters use. */
#include "fuzz.h"
#include "json.h"

static void walk(const elm_json *v, int depth) {
    if (!v || depth > 64) return;
    int64_t i;
    double d;
    (void)elm_json_int(v, &i);
    (void)elm_json_num(v, &d);
    const char *s = elm_json_str(v);
    if (s) (void)strlen(s);
    for (size_t k = 0; k < elm_json_count(v); k++) {
        const elm_json *c = elm_json_at(v, k);
        if (c && c->key) (void)elm_json_get(v, c->key);
        walk(c, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    gl_error err = {0};
    elm_json_doc *doc = elm_json_parse((const char *)data, size, &err);
    if (doc) walk(elm_json_root(doc), 0);
    else if (!err.msg[0]) abort(); /* a failure must say why */
    elm_json_free(doc);
    return 0;
}
