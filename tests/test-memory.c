/*
 * test-memory — resident memory of a repacked model, read from /proc/self/status.
 *
 * A random Q4_0 llama (1024 wide, 10 blocks, ~75 MB: Q4_0 is the type every SIMD build
 * repacks) is written to a temporary file, loaded with repacking, and run for a prompt of 8
 * tokens and 4 single-token steps. Bound (issue 15): the growth of the peak resident set
 * (VmHWM) over the resident set before the model existed is at most
 *     file size + KV cache bytes + 10 % of the file + 32 MiB.
 * With both the repacked copy and the file's pages of the same matrices resident, the peak
 * is about twice the file, 30-40 MB over the bound, so the test fails if the release after
 * repacking stops working. Also: gl_gguf_release_pages drops pages (VmRSS falls) and the data
 * read afterwards are the file's; it refuses buffers it did not map.
 * Skipped under AddressSanitizer (its shadow memory is part of the resident set).
 */
#include "tf.h"

#include "edgelm.h"
#include "ggml-lite.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEM_ASAN 1
#endif
#endif

enum { E = 1024, NL = 10, FF = 2816, NH = 8, V = 2048, NCTX = 256 };

/* kB value of a "Key:   N kB" line of /proc/self/status; -1 when absent. */
static long mem_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    const size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* Q4_0 blocks with random nibbles and scales 0.01 .. 0.02 (fp16), one tensor at a time. */
static bool mem_put_q4_0(gl_gguf_writer *w, int64_t n, tf_rng *rng) {
    const size_t bytes = (size_t)(n / 32) * 18;
    uint8_t *b = malloc(bytes);
    if (!b) return false;
    for (size_t i = 0; i < bytes; i += 18) {
        const gl_fp16 d = gl_fp32_to_fp16(tf_rand_uniform(rng, 0.01f, 0.02f));
        memcpy(b + i, &d, 2);
        for (int j = 2; j < 18; j += 8) {
            const uint64_t r = tf_rand_u64(rng);
            memcpy(b + i + j, &r, 8);
        }
    }
    const bool ok = gl_gguf_w_tensor_data(w, b, bytes) == GL_OK;
    free(b);
    return ok;
}

static bool mem_put_ones(gl_gguf_writer *w, int64_t n) {
    float *v = malloc(sizeof(float) * (size_t)n);
    if (!v) return false;
    for (int64_t i = 0; i < n; i++) v[i] = 1.0f;
    const bool ok = gl_gguf_w_tensor_data(w, v, sizeof(float) * (size_t)n) == GL_OK;
    free(v);
    return ok;
}

/* The model file; false (with a failed check) when it cannot be written. */
static bool mem_write_model(const char *path) {
    gl_error gerr = {0};
    gl_gguf_writer *w = gl_gguf_writer_open(path, &gerr);
    if (!TF_CHECK(w != NULL, "%s", gerr.msg)) return false;
    gl_gguf_w_kv_str(w, "general.architecture", "llama");
    gl_gguf_w_kv_u32(w, "llama.embedding_length", E);
    gl_gguf_w_kv_u32(w, "llama.block_count", NL);
    gl_gguf_w_kv_u32(w, "llama.feed_forward_length", FF);
    gl_gguf_w_kv_u32(w, "llama.attention.head_count", NH);
    gl_gguf_w_kv_u32(w, "llama.context_length", NCTX);
    static const char *const blk[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    const int64_t blk_ne[7][2] = {{E, E}, {E, E}, {E, E}, {E, E}, {E, FF}, {E, FF}, {FF, E}};
    char name[64];
    const int64_t emb[2] = {E, V}, vec[1] = {E};
    gl_gguf_w_tensor_info(w, "token_embd.weight", GL_TYPE_Q4_0, 2, emb);
    for (int l = 0; l < NL; l++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        gl_gguf_w_tensor_info(w, name, GL_TYPE_F32, 1, vec);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        gl_gguf_w_tensor_info(w, name, GL_TYPE_F32, 1, vec);
        for (int j = 0; j < 7; j++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, blk[j]);
            gl_gguf_w_tensor_info(w, name, GL_TYPE_Q4_0, 2, blk_ne[j]);
        }
    }
    gl_gguf_w_tensor_info(w, "output_norm.weight", GL_TYPE_F32, 1, vec);
    gl_gguf_w_tensor_info(w, "output.weight", GL_TYPE_Q4_0, 2, emb);
    tf_rng rng = {41};
    bool ok = mem_put_q4_0(w, (int64_t)E * V, &rng);
    for (int l = 0; l < NL && ok; l++) {
        ok = mem_put_ones(w, E) && mem_put_ones(w, E);
        for (int j = 0; j < 7 && ok; j++) ok = mem_put_q4_0(w, blk_ne[j][0] * blk_ne[j][1], &rng);
    }
    ok = ok && mem_put_ones(w, E) && mem_put_q4_0(w, (int64_t)E * V, &rng);
    return TF_CHECK(gl_gguf_writer_close(w, &gerr) == GL_OK && ok, "%s", gerr.msg);
}

static long mem_file_bytes(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fclose(f);
    return n;
}

TF_TEST(repacked_model_peak_rss_bound) {
#if defined(MEM_ASAN)
    tf_skip("AddressSanitizer's shadow memory counts as resident");
    return;
#endif
    const long base_kb = mem_status_kb("VmRSS");
    if (base_kb < 0 || mem_status_kb("VmHWM") < 0) {
        tf_skip("no VmRSS/VmHWM in /proc/self/status");
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/edgelm-test-memory-%d.gguf", (int)getpid());
    if (!mem_write_model(path)) return;
    const long file = mem_file_bytes(path);
    elm_error err = {0};
    elm_model *m = elm_model_load(path, &(elm_model_params){.no_vocab = true}, &err);
    if (TF_CHECK(m != NULL, "%s", err.msg)) {
        elm_ctx_params cp = elm_ctx_default_params();
        cp.n_ctx = NCTX;
        elm_ctx *c = elm_ctx_new_ext(m, &cp, &err);
        if (TF_CHECK(c != NULL, "%s", err.msg)) {
            int32_t ids[8] = {1, 5, 9, 200, 7, 1000, 3, 2047};
            TF_CHECK(elm_decode(c, ids, 8, ELM_OUT_LOGITS_LAST, &err) == ELM_OK, "%s", err.msg);
            for (int i = 0; i < 4; i++)
                TF_CHECK(elm_decode(c, &ids[i], 1, ELM_OUT_LOGITS_LAST, &err) == ELM_OK, "%s", err.msg);
            const long kv = (long)elm_kv_cache_bytes(m, NCTX, ELM_CACHE_DEFAULT, ELM_CACHE_DEFAULT); /* F16 */
            const long peak_kb = mem_status_kb("VmHWM") - base_kb;
            const long bound_kb = (file + kv + file / 10) / 1024 + 32 * 1024;
            printf("    file %.1f MB, repacked %.1f MB, KV %.1f MB: peak RSS growth %.1f MB, "
                   "steady %.1f MB, bound %.1f MB\n",
                   file / 1048576.0, elm_model_repacked_bytes(m) / 1048576.0, kv / 1048576.0,
                   peak_kb / 1024.0, (mem_status_kb("VmRSS") - base_kb) / 1024.0, bound_kb / 1024.0);
            TF_CHECK(peak_kb <= bound_kb, "peak RSS growth %ld kB > bound %ld kB", peak_kb, bound_kb);
            elm_ctx_free(c);
        }
        elm_model_free(m);
    }
    unlink(path);
}

/* --mlock: the weights are locked (VmLck grows by about the file) or the load fails with a
 * message naming the locked-memory limit. */
TF_TEST(mlock_locks_or_names_the_limit) {
#if defined(MEM_ASAN)
    tf_skip("AddressSanitizer's shadow memory counts as resident");
    return;
#endif
    char path[64];
    snprintf(path, sizeof path, "/tmp/edgelm-test-memory-l-%d.gguf", (int)getpid());
    if (!mem_write_model(path)) return;
    const long file = mem_file_bytes(path), lck0 = mem_status_kb("VmLck");
    elm_error err = {0};
    elm_model *m = elm_model_load(path, &(elm_model_params){.no_vocab = true, .mlock = true}, &err);
    if (m) {
        const long lck = mem_status_kb("VmLck") - lck0;
        printf("    locked %.1f MB for a %.1f MB file\n", lck / 1024.0, file / 1048576.0);
        /* the repacked copies plus the file's pages that were not repacked */
        TF_CHECK(lck >= file / 1024 * 9 / 10 && lck <= file / 1024 * 11 / 10 + 1024, "VmLck %ld kB", lck);
        elm_model_free(m);
    } else {
        TF_CHECK(strstr(err.msg, "ulimit -l") != NULL, "message: %s", err.msg);
    }
    unlink(path);
}

TF_TEST(release_pages_keeps_data) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/edgelm-test-memory-r-%d.gguf", (int)getpid());
    gl_error gerr = {0};
    gl_gguf_writer *w = gl_gguf_writer_open(path, &gerr);
    if (!TF_CHECK(w != NULL, "%s", gerr.msg)) return;
    enum { N = 1 << 20 }; /* 4 MiB of floats */
    const int64_t ne[1] = {N};
    gl_gguf_w_tensor_info(w, "t", GL_TYPE_F32, 1, ne);
    float *v = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) v[i] = (float)i * 0.5f;
    gl_gguf_w_tensor_data(w, v, sizeof(float) * N);
    TF_CHECK(gl_gguf_writer_close(w, &gerr) == GL_OK, "%s", gerr.msg);
    gl_gguf *f = gl_gguf_open(path, &gerr);
    if (TF_CHECK(f != NULL, "%s", gerr.msg)) {
        const gl_gguf_tensor_info *ti = gl_gguf_tensor(f, 0);
        volatile float sink = 0;
        for (int i = 0; i < N; i += 256) sink += ((const float *)ti->data)[i]; /* fault it in */
        const long before = mem_status_kb("VmRSS");
        TF_CHECK(gl_gguf_release_pages(f, ti->data, ti->nbytes), "release");
        const long after = mem_status_kb("VmRSS");
        printf("    VmRSS %ld kB -> %ld kB after releasing 4 MiB\n", before, after);
        TF_CHECK(after <= before - 3 * 1024, "VmRSS %ld -> %ld kB", before, after);
        TF_CHECK(memcmp(ti->data, v, sizeof(float) * N) == 0, "data after release");
        TF_CHECK(!gl_gguf_release_pages(f, v, 4096), "outside the mapping");
        TF_CHECK(!gl_gguf_release_pages(f, ti->data, 100), "no whole page");
        TF_CHECK(!gl_gguf_release_pages(NULL, ti->data, ti->nbytes), "NULL file");
        (void)sink;
        gl_gguf_close(f);
    }
    void *buf = NULL;
    size_t size = 0;
    if (TF_CHECK(gl_map_file(path, "t", &buf, &size, &gerr) == GL_OK, "%s", gerr.msg)) {
        gl_gguf *fb = gl_gguf_open_buffer(buf, size, &gerr);
        if (TF_CHECK(fb != NULL, "%s", gerr.msg)) {
            const gl_gguf_tensor_info *ti = gl_gguf_tensor(fb, 0);
            TF_CHECK(!gl_gguf_release_pages(fb, ti->data, ti->nbytes), "a caller's buffer is left alone");
            gl_gguf_close(fb);
        }
        gl_unmap_file(buf, size);
    }
    free(v);
    unlink(path);
}

TF_MAIN
