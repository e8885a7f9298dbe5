/*
 * test-squad.c — the SQuAD answer metric of `finetune --task qa` (examples/edgelm/cli_qa.c)
 * against scripts/squad_metric_reference.py (our Python implementation of SQuAD's evaluation)
 * on fixed strings: the normalised prediction byte for byte, exact match and F1 within 1e-12;
 * and the entity spans of `finetune --task tag`'s F1 equal to those of the script's
 * re-implementation of seqeval's get_entities on fixed label sequences.
 */
#include "tf.h"

#include "../examples/edgelm/cli_qa.c"
#include "data/squad_ref.h"

TF_TEST(squad_normalize_equals_python) {
    for (size_t i = 0; i < sizeof squad_ref / sizeof squad_ref[0]; i++) {
        char out[256];
        TF_CHECK(squad_normalize(squad_ref[i].pred, out, sizeof out), "case %zu", i);
        TF_CHECK(!strcmp(out, squad_ref[i].norm_pred), "case %zu: '%s' vs '%s'", i, out, squad_ref[i].norm_pred);
    }
}

TF_TEST(squad_exact_and_f1_equal_python) {
    for (size_t i = 0; i < sizeof squad_ref / sizeof squad_ref[0]; i++) {
        const double em = squad_exact(squad_ref[i].pred, squad_ref[i].gold), f1 = squad_f1(squad_ref[i].pred, squad_ref[i].gold);
        TF_CHECK(em == squad_ref[i].em, "case %zu: exact %g vs %g", i, em, squad_ref[i].em);
        TF_CHECK(fabs(f1 - squad_ref[i].f1) <= 1e-12, "case %zu: F1 %.17g vs %.17g", i, f1, squad_ref[i].f1);
    }
}

TF_TEST(squad_normalize_refuses_a_small_buffer) {
    char out[4];
    TF_CHECK(!squad_normalize("a long answer", out, sizeof out) && out[0] == '\0');
}

TF_TEST(seqeval_entities_equal_python) {
    for (size_t i = 0; i < sizeof seqeval_ref / sizeof seqeval_ref[0]; i++) {
        char buf[256], *labels[32], *save = NULL;
        snprintf(buf, sizeof buf, "%s", seqeval_ref[i].labels);
        int64_t n = 0;
        for (char *tok = strtok_r(buf, " ", &save); tok && n < 32; tok = strtok_r(NULL, " ", &save)) labels[n++] = tok;
        seq_entity e[32];
        const int64_t k = seqeval_entities((const char *const *)labels, n, e);
        char got[512] = "";
        for (int64_t j = 0; j < k; j++) {
            size_t len = strlen(got);
            snprintf(got + len, sizeof got - len, "%s%.*s:%lld-%lld", j ? ";" : "", (int)e[j].type_len, e[j].type,
                     (long long)e[j].start, (long long)e[j].end);
        }
        TF_CHECK(!strcmp(got, seqeval_ref[i].entities), "case %zu: '%s' vs '%s'", i, got, seqeval_ref[i].entities);
        TF_CHECK(k == 0 || seqeval_same(&e[0], &e[0]));
    }
}

TF_MAIN
