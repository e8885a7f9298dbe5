/*
 * tf-models.h — fixture models for tests that run them (after tf.h): each converter call
 * writes a temporary GGUF named after the process (and, for tfm_convert_hf, the call), or
 * skips the test when the fixture is absent (a failure with EDGELM_REQUIRE_FIXTURES=1).
 *   tfm_convert(src, out, outtype, vocab_only, stats, err)    elm_convert with default params
 *   tfm_convert_hf("hf-reference/t5", outtype, path, size)   a Hugging Face folder (elm_convert)
 *   tfm_convert_elmo(path, size)                             the bilm-tf ELMo checkpoint
 *   tfm_slurp(path, &size)                                   a file's bytes (malloc-ed)
 */
#ifndef TF_MODELS_H
#define TF_MODELS_H

#include "edgelm.h" /* elm_convert: the public converter, ELMo folders included */

#include <unistd.h>

/* elm_convert of src into out with the default parameters but these (outtype -1: keep the
 * source precision; stats may be NULL). */
static inline gl_status tfm_convert(const char *src, const char *out, int outtype, bool vocab_only,
                                    elm_convert_stats *stats, gl_error *err) {
    elm_convert_params p;
    p = elm_convert_default_params();
    p.src = src;
    p.out = out;
    p.outtype = outtype;
    p.vocab_only = vocab_only;
    return elm_convert(&p, stats, err);
}

/* Converts fixture folder rel (outtype -1: keep the source precision) to a temporary file. */
static inline bool tfm_convert_hf(const char *rel, int outtype, char *out, size_t size) {
    char dir[512], cfg[600];
    snprintf(dir, sizeof dir, "%s/%s", tf_fixtures_dir(), rel);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (!tf_file_exists(cfg)) {
        tf_skip_fixture("fixture %s not found", rel);
        return false;
    }
    static int n_converted; /* one file per call: two folders at one outtype never collide */
    snprintf(out, size, "/tmp/edgelm-tfm-%d-%d-%d.gguf", (int)getpid(), outtype, n_converted++);
    gl_error err = {GL_OK, ""};
    gl_status st = tfm_convert(dir, out, outtype, false, NULL, &err);
    TF_CHECK(st == GL_OK, "convert %s: %s", rel, err.msg);
    return st == GL_OK;
}

static inline bool tfm_convert_elmo(char *out, size_t size) {
    char dir[512], opt[600];
    snprintf(dir, sizeof dir, "%s/elmo-bilm-tf/model", tf_fixtures_dir());
    snprintf(opt, sizeof opt, "%s/options.json", dir);
    if (!tf_file_exists(opt)) {
        tf_skip_fixture("fixture %s not found", dir);
        return false;
    }
    snprintf(out, size, "/tmp/edgelm-tfm-elmo-%d.gguf", (int)getpid());
    elm_error err = {ELM_OK, ""};
    elm_convert_params p = elm_convert_default_params();
    p.src = dir;
    p.out = out;
    elm_convert_stats st;
    const elm_status s = elm_convert(&p, &st, &err);
    TF_CHECK(s == ELM_OK && !strcmp(st.arch, "elmo"), "convert elmo: %s", err.msg);
    return s == ELM_OK;
}

static inline void *tfm_slurp(const char *path, size_t *size) { return tf_read_file(path, size); }

#endif /* TF_MODELS_H */
