/*
 * llamacpp_logits.c — records llama.cpp's outputs for a GGUF file as a reference for
 * tests/test-arch.c (our program, compiled against a llama.cpp build by
 * scripts/record_arch_refs.sh; never part of the edgelm build).
 *
 *   llamacpp_logits MODEL.gguf SPEC > REF
 *
 * SPEC lines:
 *   pick ID ...     vocabulary ids whose logits are recorded (every position)
 *   seq ID ...      a token sequence, decoded from an empty cache in one batch
 *   tok HEX         a string (hex-encoded bytes) tokenized with add_special and parse_special
 * REF: the pick line, then per seq its line and one "logits POS V ..." line per position
 * (%.9g), and per tok line "tok HEX = ID ...".
 */
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static int parse_ids(char *s, int *ids, int cap) {
    int n = 0;
    for (char *t = strtok(s, " \t\n"); t && n < cap; t = strtok(NULL, " \t\n")) ids[n++] = atoi(t);
    return n;
}

static int unhex(const char *h, char *out, int cap) {
    int n = 0;
    while (h[0] && h[1] && h[0] != '\n' && n < cap - 1) {
        unsigned v;
        if (sscanf(h, "%2x", &v) != 1) break;
        out[n++] = (char)v;
        h += 2;
    }
    out[n] = '\0';
    return n;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SPEC\n", argv[0]);
        return 2;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.use_extra_bufts = false; /* no repacked/AMX buffers: AMX tiles fault in this sandbox */
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 256;
    cp.n_ubatch = 256;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    cp.type_k = GGML_TYPE_F32; /* the F32 KV cache the test compares with */
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED; /* its CPU flash path rounds Q/K/V to F16 */
    struct llama_context *ctx = llama_init_from_model(model, cp);
    FILE *f = fopen(argv[2], "r");
    if (!ctx || !f) {
        fprintf(stderr, "cannot create a context or open %s\n", argv[2]);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    static char line[1 << 16];
    static int pick[1024], ids[4096];
    int n_pick = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "pick ", 5)) {
            printf("%s", line);
            n_pick = parse_ids(line + 5, pick, 1024);
        } else if (!strncmp(line, "seq ", 4)) {
            printf("%s", line);
            int n = parse_ids(line + 4, ids, 4096);
            llama_memory_clear(llama_get_memory(ctx), true);
            struct llama_batch b = llama_batch_init(n, 0, 1);
            for (int i = 0; i < n; i++) {
                b.token[i] = ids[i];
                b.pos[i] = i;
                b.n_seq_id[i] = 1;
                b.seq_id[i][0] = 0;
                b.logits[i] = 1;
            }
            b.n_tokens = n;
            if (llama_decode(ctx, b) != 0) {
                fprintf(stderr, "llama_decode failed\n");
                return 1;
            }
            for (int i = 0; i < n; i++) {
                const float *lg = llama_get_logits_ith(ctx, i);
                printf("logits %d", i);
                for (int k = 0; k < n_pick; k++) printf(" %.9g", lg[pick[k]]);
                printf("\n");
            }
            llama_batch_free(b);
        } else if (!strncmp(line, "tok ", 4)) {
            char text[8192];
            line[strcspn(line, "\n")] = '\0';
            int len = unhex(line + 4, text, (int)sizeof text);
            int n = llama_tokenize(vocab, text, len, ids, 4096, true, true);
            printf("%s =", line);
            for (int i = 0; i < n; i++) printf(" %d", ids[i]);
            printf("\n");
        }
    }
    fclose(f);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
