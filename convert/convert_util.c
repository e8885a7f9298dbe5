/*
 * convert_util.c — small helpers every converter (convert_llm.c, convert_bert.c,
 * convert_elmo.c, convert_t5.c, hf_tokenizer.c, tensor_source.c) shares. See convert.h.
 */
#include "convert.h"
#include "quantize.h"

#include <stdlib.h>
#include <string.h>

bool elm_cv_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

elm_json_doc *elm_cv_json_opt(const char *dir, const char *name, gl_error *err, bool *failed) {
    char *p = elm_cv_path_join(dir, name);
    elm_json_doc *d = NULL;
    if (p && elm_cv_file_exists(p)) {
        d = elm_json_parse_file(p, err);
        if (!d) *failed = true;
    }
    free(p);
    return d;
}

/* llama.cpp's LLAMA_FTYPE numbers for the types our converters write (quant/quantize.c holds
 * the one table). */
uint32_t elm_cv_file_type(int type) { return elm_quant_file_type_of((gl_type)type); }
