/*
 * model-info — the smallest program that embeds libedgelm: open a model file, ask it what it
 * is, close it. Build: cc -Iinclude examples/embed/model-info.c build/libedgelm.a -lm -lpthread
 */
#include "edgelm.h"

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    elm_error err = {ELM_OK, ""};
    elm_file *f = elm_file_open(argv[1], &err);
    if (!f) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    int64_t n_ctx = 0;
    char key[96];
    snprintf(key, sizeof key, "%s.context_length", elm_file_arch(f));
    printf("architecture: %s\n", elm_file_arch(f));
    printf("name:         %s\n", elm_file_name(f));
    printf("tensors:      %lld (%lld parameters, %.2f MiB)\n", (long long)elm_file_n_tensors(f),
           (long long)elm_file_n_params(f), (double)elm_file_tensor_bytes(f) / (1 << 20));
    if (elm_file_get_int(f, key, &n_ctx)) printf("context:      %lld\n", (long long)n_ctx);
    elm_file_close(f);
    return 0;
}
