/* tokenizer.json (Hugging Face tokenizers) as the converter loads it from a model folder:
 * vocabulary, merges, added tokens, pre-tokenizer detection and special ids. */
#include "fuzz.h"
#include "convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    const char *dir = fuzz_tmp_dir();
    char path[320];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!fuzz_write_file(path, data, size)) return 0;
    elm_cv_vocab v;
    gl_error err = {0};
    if (elm_cv_vocab_load_dir(dir, -1, &v, NULL, NULL, &err) == GL_OK) elm_cv_vocab_free(&v);
    else if (!err.msg[0]) abort();
    return 0;
}
