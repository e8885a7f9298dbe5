// The two public headers in a C++17 translation unit (tests/cli-install.sh compiles it with
// -Wall -Wextra -Werror -pedantic and, where it can, links and runs it): extern "C" linkage,
// no C-only constructs, and initialisers that C++ accepts.
#include "edgelm.h"
#include "ggml-lite.h"

#include <cstdio>
#include <cstring>

int main() {
    elm_error err = {ELM_OK, ""};
    gl_error gerr = {GL_OK, ""};
    elm_model_params mp = elm_model_default_params();
    elm_ctx_params cp = elm_ctx_default_params();
    elm_sampler_params sp = elm_sampler_default_params();
    elm_t5_gen_params tp = elm_t5_default_gen_params();
    (void)mp;
    (void)cp;
    (void)sp;
    (void)tp;
    // A call that fails tells why, through the C structs.
    elm_file *f = elm_file_open("/nonexistent/model.gguf", &err);
    gl_gguf *g = gl_gguf_open("/nonexistent/model.gguf", &gerr);
    const bool ok = f == nullptr && g == nullptr && err.code != ELM_OK && gerr.code != GL_OK &&
                    std::strlen(err.msg) > 0 && std::strcmp(gl_type_name(GL_TYPE_Q8_0), "q8_0") == 0;
    std::printf("%s %s %s\n", elm_version(), elm_simd(), ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
