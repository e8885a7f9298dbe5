/*
 * test-hdf5.c — the converter's HDF5 reader (convert/hdf5.c) against files written by h5py
 * (tests/data/hdf5/, made by scripts/make_hdf5_fixtures.py: every value is a formula of its
 * index, checked exactly), against the ELMo fixture's files, and against truncated and
 * corrupted copies, which must fail with a message (or read correct values), never crash.
 */
#include "hdf5.h"
#include "cli_hdf5.h"
#include "tf.h"

#include <unistd.h>

#define DATA_DIR "tests/data/hdf5/"

typedef struct ds_case {
    const char *name;  /* path in earliest.h5 */
    const char *kind;  /* formula: f32 f64 sint uint */
    elm_h5_class cls;
    int elem_size;
    bool big_endian;
    int rank;
    uint64_t dims[3];
} ds_case;

/* Mirrors DATASETS in scripts/make_hdf5_fixtures.py. */
static const ds_case cases[] = {
    {"f32", "f32", ELM_H5_FLOAT, 4, false, 2, {3, 4}},
    {"f32be", "f32", ELM_H5_FLOAT, 4, true, 1, {5}},
    {"f16", "f32", ELM_H5_FLOAT, 2, false, 1, {6}},
    {"f64", "f64", ELM_H5_FLOAT, 8, false, 3, {2, 3, 4}},
    {"f64be", "f64", ELM_H5_FLOAT, 8, true, 1, {7}},
    {"i8", "sint", ELM_H5_SINT, 1, false, 1, {9}},
    {"i16be", "sint", ELM_H5_SINT, 2, true, 2, {4, 2}},
    {"i32", "sint", ELM_H5_SINT, 4, false, 1, {10}},
    {"i32be", "sint", ELM_H5_SINT, 4, true, 1, {10}},
    {"i64be", "sint", ELM_H5_SINT, 8, true, 1, {3}},
    {"u8", "uint", ELM_H5_UINT, 1, false, 1, {5}},
    {"u16", "uint", ELM_H5_UINT, 2, false, 1, {5}},
    {"u32be", "uint", ELM_H5_UINT, 4, true, 1, {5}},
    {"u64", "uint", ELM_H5_UINT, 8, false, 1, {5}},
    {"scalar", "f64", ELM_H5_FLOAT, 8, false, 0, {0}},
    {"compact", "f32", ELM_H5_FLOAT, 4, false, 1, {4}},
    {"chunked/a", "f32", ELM_H5_FLOAT, 4, false, 2, {7, 5}},
    {"chunked/b", "f64", ELM_H5_FLOAT, 8, true, 3, {4, 3, 5}},
    {"chunked/one", "f32", ELM_H5_FLOAT, 4, false, 2, {4, 4}},
    {"chunked/big", "f32", ELM_H5_FLOAT, 4, false, 2, {100, 40}},
    {"deep/er/still/x", "sint", ELM_H5_SINT, 4, false, 2, {2, 2}},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static double expected(const char *kind, int64_t i) {
    if (!strcmp(kind, "f32")) return (double)i * 0.25 - 3;
    if (!strcmp(kind, "f64")) return (double)i * 0.1 - 1;
    if (!strcmp(kind, "sint")) return (double)((i * 7919) % 251 - 125);
    return (double)((i * 7919) % 251);
}

/* The path of case k in latest.h5: datasets spread over groups g0.. (6 per group). */
static void latest_name(int k, char *buf, size_t size) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", cases[k].name);
    for (char *p = tmp; *p; p++)
        if (*p == '/') *p = '_';
    snprintf(buf, size, "g%d/%s", k / 6, tmp);
}

static uint64_t n_of(const ds_case *c) {
    uint64_t n = 1;
    for (int i = 0; i < c->rank; i++) n *= c->dims[i];
    return n;
}

/* Reads case k as f64 (and i64 for integers); returns true when it was read and exact. */
static bool read_case(elm_h5 *f, const char *path, const ds_case *c, bool report, gl_error *err) {
    uint64_t n = n_of(c);
    double *v = malloc(n * sizeof *v);
    int64_t *iv = malloc(n * sizeof *iv);
    bool ok = elm_h5_read_f64(f, path, v, n, err) == GL_OK;
    for (uint64_t i = 0; ok && i < n; i++) {
        double e = expected(c->kind, (int64_t)i);
        if (!strcmp(c->kind, "f64") && c->elem_size == 8) {
            ok = v[i] == e;
        } else {
            ok = v[i] == (double)(float)e;
        }
        if (!ok && report) TF_CHECK(false, "%s[%llu] = %.17g, want %.17g", path, (unsigned long long)i, v[i], e);
    }
    if (ok && c->cls != ELM_H5_FLOAT) {
        ok = elm_h5_read_i64(f, path, iv, n, err) == GL_OK;
        for (uint64_t i = 0; ok && i < n; i++) ok = iv[i] == (int64_t)expected(c->kind, (int64_t)i);
        if (!ok && report) TF_CHECK(false, "%s as int64", path);
    }
    free(v);
    free(iv);
    return ok;
}

static void check_file(const char *file, bool latest) {
    char path[256];
    snprintf(path, sizeof path, DATA_DIR "%s", file);
    gl_error err = {0};
    elm_h5 *f = elm_h5_open(path, &err);
    TF_CHECK(f != NULL, "%s: %s", path, err.msg);
    if (!f) return;
    for (int k = 0; k < N_CASES; k++) {
        char name[96];
        if (latest) latest_name(k, name, sizeof name);
        else snprintf(name, sizeof name, "%s", cases[k].name);
        elm_h5_info info;
        gl_status st = elm_h5_info_of(f, name, &info, &err);
        TF_CHECK(st == GL_OK, "%s %s: %s", file, name, err.msg);
        if (st != GL_OK) continue;
        TF_CHECK(info.rank == cases[k].rank && info.cls == cases[k].cls &&
                     info.elem_size == cases[k].elem_size && info.big_endian == cases[k].big_endian,
                 "%s %s: rank %d class %d size %d be %d", file, name, info.rank, info.cls,
                 info.elem_size, info.big_endian);
        for (int i = 0; i < info.rank && i < 3; i++) TF_CHECK(info.dims[i] == cases[k].dims[i]);
        TF_CHECK(info.n_elements == n_of(&cases[k]));
        TF_CHECK(read_case(f, name, &cases[k], true, &err), "%s %s: %s", file, name, err.msg);
    }
    /* f32 output converts exactly for these values */
    float v[12];
    TF_CHECK(elm_h5_read_f32(f, latest ? "g0/f32" : "/f32", v, 12, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(v[11] == 11 * 0.25f - 3);
    /* wrong element count, missing names, a group read as a dataset, floats as integers */
    TF_CHECK(elm_h5_read_f32(f, latest ? "g0/f32" : "f32", v, 11, &err) != GL_OK);
    TF_CHECK(strstr(err.msg, "elements") != NULL, "%s", err.msg);
    TF_CHECK(elm_h5_read_f32(f, "nope", v, 1, &err) != GL_OK && strstr(err.msg, "nope"), "%s", err.msg);
    TF_CHECK(elm_h5_read_f32(f, latest ? "g0" : "chunked", v, 1, &err) != GL_OK);
    int64_t iv[12];
    TF_CHECK(elm_h5_read_i64(f, latest ? "g0/f32" : "f32", iv, 12, &err) != GL_OK);
    elm_h5_close(f);
}

TF_TEST(hdf5_earliest_old_style_groups) { check_file("earliest.h5", false); }
TF_TEST(hdf5_latest_new_style_groups) { check_file("latest.h5", true); }

typedef struct visit_acc {
    int n;
    char names[64][96];
} visit_acc;

static int visit_cb(const char *path, const elm_h5_info *info, void *user) {
    (void)info;
    visit_acc *a = user;
    if (a->n < 64) snprintf(a->names[a->n], sizeof a->names[0], "%s", path);
    a->n++;
    return 0;
}

TF_TEST(hdf5_visit_lists_every_dataset) {
    gl_error err = {0};
    for (int latest = 0; latest < 2; latest++) {
        elm_h5 *f = elm_h5_open(latest ? DATA_DIR "latest.h5" : DATA_DIR "earliest.h5", &err);
        TF_CHECK(f != NULL, "%s", err.msg);
        if (!f) return;
        visit_acc acc = {0};
        TF_CHECK(elm_h5_visit(f, visit_cb, &acc, &err) == GL_OK, "%s", err.msg);
        TF_CHECK(acc.n == N_CASES, "visited %d datasets", acc.n);
        for (int k = 0; k < N_CASES; k++) {
            char want[96];
            if (latest) latest_name(k, want, sizeof want);
            else snprintf(want, sizeof want, "%s", cases[k].name);
            bool found = false;
            for (int j = 0; j < acc.n && j < 64; j++) found |= !strcmp(acc.names[j], want);
            TF_CHECK(found, "%s not visited", want);
        }
        elm_h5_close(f);
    }
}

TF_TEST(hdf5_user_block) {
    gl_error err = {0};
    elm_h5 *f = elm_h5_open(DATA_DIR "userblock.h5", &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (!f) return;
    for (int k = 0; k < 3; k++) TF_CHECK(read_case(f, cases[k].name, &cases[k], true, &err), "%s", err.msg);
    elm_h5_close(f);
}

TF_TEST(hdf5_unsupported_features_are_named) {
    gl_error err = {0};
    float v[64];
    elm_h5 *f = elm_h5_open(DATA_DIR "gzip.h5", &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (f) {
        TF_CHECK(elm_h5_read_f32(f, "z", v, 64, &err) == GL_ERR_UNSUPPORTED);
        TF_CHECK(strstr(err.msg, "filter") != NULL, "%s", err.msg);
        elm_h5_close(f);
    }
    f = elm_h5_open(DATA_DIR "dense.h5", &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (f) {
        TF_CHECK(elm_h5_read_f32(f, "d00", v, 2, &err) == GL_ERR_UNSUPPORTED);
        TF_CHECK(strstr(err.msg, "dense") != NULL, "%s", err.msg);
        elm_h5_close(f);
    }
    f = elm_h5_open(DATA_DIR "resizable.h5", &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (f) {
        TF_CHECK(elm_h5_read_f32(f, "r", v, 24, &err) == GL_ERR_UNSUPPORTED);
        TF_CHECK(strstr(err.msg, "not supported") != NULL, "%s", err.msg);
        elm_h5_close(f);
    }
    TF_CHECK(elm_h5_open("tests/test-hdf5.c", &err) == NULL && strstr(err.msg, "not an HDF5"), "%s", err.msg);
    TF_CHECK(elm_h5_open(DATA_DIR "no-such-file.h5", &err) == NULL && err.code == GL_ERR_IO);
}

TF_TEST(hdf5_elmo_fixture_weights) {
    char path[512];
    snprintf(path, sizeof path, "%s/elmo-bilm-tf/model/lm_weights.hdf5", tf_fixtures_dir());
    if (!tf_file_exists(path)) {
        tf_skip_fixture("%s not found", path);
        return;
    }
    gl_error err = {0};
    elm_h5 *f = elm_h5_open(path, &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (!f) return;
    visit_acc acc = {0};
    TF_CHECK(elm_h5_visit(f, visit_cb, &acc, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(acc.n == 33, "%d datasets", acc.n);
    elm_h5_info info;
    TF_CHECK(elm_h5_info_of(f, "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0", &info, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(info.rank == 2 && info.dims[0] == 32 && info.dims[1] == 256 && info.cls == ELM_H5_FLOAT);
    TF_CHECK(elm_h5_info_of(f, "CNN/W_cnn_4", &info, &err) == GL_OK && info.rank == 4 && info.dims[1] == 5 &&
             info.dims[3] == 64);
    float *emb = malloc(261 * 4 * sizeof *emb);
    TF_CHECK(elm_h5_read_f32(f, "char_embed", emb, 261 * 4, &err) == GL_OK, "%s", err.msg);
    double s = 0;
    for (int i = 0; i < 261 * 4; i++) s += fabs(emb[i]);
    TF_CHECK(s > 1 && isfinite(s), "char_embed sum |x| = %g", s);
    free(emb);
    elm_h5_close(f);
}

/* Opens a (damaged) buffer and reads everything; counts failures. Each failure must carry a
 * message; each success must give the right values (only checked when exact_or_fail). */
static int exercise(const unsigned char *buf, size_t n, bool latest, bool exact_or_fail, int *wrong) {
    gl_error err = {0};
    int fails = 0;
    /* a private copy of exactly n bytes, so that ASan sees any read past the end */
    unsigned char *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    elm_h5 *f = elm_h5_open_buffer(copy, n, &err);
    if (!f) {
        free(copy);
        TF_CHECK(err.msg[0] != '\0', "open failed without a message");
        return 1;
    }
    visit_acc acc = {0};
    if (elm_h5_visit(f, visit_cb, &acc, &err) != GL_OK) {
        fails++;
        if (!err.msg[0]) (*wrong)++;
    }
    for (int k = 0; k < N_CASES; k++) {
        char name[96];
        if (latest) latest_name(k, name, sizeof name);
        else snprintf(name, sizeof name, "%s", cases[k].name);
        err.msg[0] = '\0';
        elm_h5_info info;
        if (elm_h5_info_of(f, name, &info, &err) != GL_OK) {
            fails++;
            if (!err.msg[0]) (*wrong)++;
            continue;
        }
        if (info.n_elements > 100000) continue; /* a corrupted dimension: nothing to compare */
        err.msg[0] = '\0';
        gl_error e2 = {0};
        bool ok = read_case(f, name, &cases[k], false, &e2);
        if (!ok) {
            fails++;
            /* a failed read must have said why; a wrong value is only acceptable when bytes
             * were corrupted (not when the file was merely cut short) */
            if (!e2.msg[0] && exact_or_fail) (*wrong)++;
        }
    }
    elm_h5_close(f);
    free(copy);
    return fails;
}

TF_TEST(hdf5_truncated_files_fail_cleanly) {
    for (int latest = 0; latest < 2; latest++) {
        size_t n;
        unsigned char *b = (unsigned char *)tf_read_file(latest ? DATA_DIR "latest.h5" : DATA_DIR "earliest.h5", &n);
        TF_CHECK(b != NULL);
        if (!b) return;
        int wrong = 0, cuts = 0, cuts_failing = 0;
        /* data sits up to the end; a file cut anywhere before its last quarter must fail */
        for (size_t len = 0; len < n; len += (len < 1024 ? 7 : 211)) {
            int fails = exercise(b, len, latest, true, &wrong);
            if (len > n * 3 / 4) continue;
            cuts++;
            cuts_failing += fails > 0;
        }
        TF_CHECK(wrong == 0, "%d reads gave wrong values or errors without a message", wrong);
        TF_CHECK(cuts_failing == cuts, "%d of %d truncations read everything", cuts - cuts_failing, cuts);
        TF_CHECK(exercise(b, n, latest, true, &wrong) == 0 && wrong == 0, "the whole file must read");
        free(b);
    }
}

TF_TEST(hdf5_corrupted_bytes_never_crash) {
    tf_rng rng = {0x5eed};
    for (int latest = 0; latest < 2; latest++) {
        size_t n;
        unsigned char *b = (unsigned char *)tf_read_file(latest ? DATA_DIR "latest.h5" : DATA_DIR "earliest.h5", &n);
        TF_CHECK(b != NULL);
        if (!b) return;
        int wrong = 0, runs = 0, failing = 0;
        /* every metadata-dense early byte set to 0xff (undefined / huge addresses), then random
         * bytes and random 8-byte offsets further in */
        for (size_t pos = 0; pos < n; pos += (pos < 2048 ? 3 : 37)) {
            unsigned char keep = b[pos];
            b[pos] = (pos & 1) ? 0xff : (unsigned char)tf_rand_u64(&rng);
            failing += exercise(b, n, latest, false, &wrong) > 0;
            runs++;
            b[pos] = keep;
        }
        for (int t = 0; t < 300; t++) {
            size_t pos = (size_t)tf_rand_int(&rng, 0, (int)n - 8);
            unsigned char keep[8];
            memcpy(keep, b + pos, 8);
            uint64_t v = tf_rand_u64(&rng) >> tf_rand_int(&rng, 0, 63);
            memcpy(b + pos, &v, 8);
            failing += exercise(b, n, latest, false, &wrong) > 0;
            runs++;
            memcpy(b + pos, keep, 8);
        }
        TF_CHECK(wrong == 0, "%d failures without a message", wrong);
        TF_CHECK(failing > runs / 20, "only %d of %d corruptions were noticed", failing, runs);
        printf("    %s: %d of %d corrupted copies gave at least one error\n",
               latest ? "latest.h5" : "earliest.h5", failing, runs);
        free(b);
    }
}

static int count_visit(const char *path, const elm_h5_info *info, void *user) {
    (void)path;
    (void)info;
    (*(int *)user)++;
    return 0;
}

/* Regression (issue 14): a group linking back to an enclosing group was skipped silently;
 * the visitor now reports the cycle (paths through the file stay readable). */
TF_TEST(hdf5_cyclic_groups_reported) {
    gl_error err = {0};
    elm_h5 *f = elm_h5_open(DATA_DIR "cyclic.h5", &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (!f) return;
    int n = 0;
    TF_CHECK(elm_h5_visit(f, count_visit, &n, &err) == GL_ERR_FORMAT && strstr(err.msg, "cyclic") &&
                 strstr(err.msg, "g/up"),
             "%s", err.msg);
    elm_h5_info info;
    TF_CHECK(elm_h5_info_of(f, "g/up/g/x", &info, &err) == GL_OK && info.n_elements == 2, "%s", err.msg);
    elm_h5_close(f);
}

/* The writer (examples/edgelm/cli_hdf5.c): lookup3 against its published values, then a file of two
 * float32 datasets and a string read back by the reader (h5py reads the same files in
 * tests/cli-elmo.sh). */
TF_TEST(hdf5_writer_round_trip) {
    TF_CHECK(cli_h5_checksum("", 0) == 0xdeadbeefu);
    TF_CHECK(cli_h5_checksum("Four score and seven years ago", 30) == 0x17770551u, "0x%08x",
             cli_h5_checksum("Four score and seven years ago", 30));
    char path[64];
    snprintf(path, sizeof path, "/tmp/edgelm-h5w-%d.hdf5", (int)getpid());
    gl_error err = {0};
    cli_h5w *w = cli_h5w_create(path, &err);
    TF_CHECK(w != NULL, "%s", err.msg);
    if (!w) return;
    float a[24], b[1] = {0};
    for (int i = 0; i < 24; i++) a[i] = 0.5f * (float)i - 3.0f;
    const int64_t da[3] = {2, 3, 4}, db[2] = {0, 4};
    TF_CHECK(cli_h5w_f32(w, "0", 3, da, a, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(cli_h5w_f32(w, "1", 2, db, b, &err) == GL_OK, "%s", err.msg);
    TF_CHECK(cli_h5w_f32(w, "0", 3, da, a, &err) != GL_OK, "a repeated name is refused");
    TF_CHECK(cli_h5w_f32(w, "a/b", 3, da, a, &err) != GL_OK, "a name with '/' is refused");
    TF_CHECK(cli_h5w_string(w, "sentence_to_index", "{\"x\": \"0\"}", &err) == GL_OK, "%s", err.msg);
    TF_CHECK(access(path, F_OK) != 0, "the target appears only at close");
    TF_CHECK(cli_h5w_close(w, &err) == GL_OK, "%s", err.msg);
    elm_h5 *f = elm_h5_open(path, &err);
    TF_CHECK(f != NULL, "%s", err.msg);
    if (f) {
        elm_h5_info info;
        TF_CHECK(elm_h5_info_of(f, "0", &info, &err) == GL_OK, "%s", err.msg);
        TF_CHECK(info.rank == 3 && info.dims[0] == 2 && info.dims[1] == 3 && info.dims[2] == 4 && info.cls == ELM_H5_FLOAT);
        float back[24] = {0};
        TF_CHECK(elm_h5_read_f32(f, "/0", back, 24, &err) == GL_OK, "%s", err.msg);
        TF_CHECK(memcmp(back, a, sizeof a) == 0);
        TF_CHECK(elm_h5_info_of(f, "1", &info, &err) == GL_OK && info.n_elements == 0, "%s", err.msg);
        elm_h5_close(f);
    }
    remove(path);
    cli_h5w *w2 = cli_h5w_create(path, &err);
    TF_CHECK(w2 != NULL, "%s", err.msg);
    cli_h5w_abort(w2);
    TF_CHECK(access(path, F_OK) != 0, "an aborted file leaves nothing");
}

TF_MAIN
