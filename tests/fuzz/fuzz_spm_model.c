/* SentencePiece tokenizer.model (protobuf) parser. */
#include "fuzz.h"
#include "spm_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT) return 0;
    elm_spm_model m;
    gl_error err = {0};
    if (elm_spm_parse(size ? data : NULL, size, &m, &err) == GL_OK) {
        for (int32_t i = 0; i < m.n_pieces; i++)
            if (m.pieces[i].len) (void)((volatile const char *)m.pieces[i].text)[m.pieces[i].len - 1];
        elm_spm_free(&m);
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
