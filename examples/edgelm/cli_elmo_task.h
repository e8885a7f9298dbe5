/*
 * cli_elmo_task.h — ELMo task heads: `finetune` on an ELMo model learns the scalar mix s, gamma
 * and a linear softmax classifier on the mean of each sentence's mixed vectors with the biLM
 * frozen (the library's elm_mix_trainer); the head is saved as a small GGUF of its own
 * (docs/FORMAT.md, "ELMo task heads") that `elmo --task` runs.
 */
#ifndef EDGELM_CLI_ELMO_TASK_H
#define EDGELM_CLI_ELMO_TASK_H

#include "edgelm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct elmo_task {
    int32_t n_layers, dim, n_labels;
    float *s, gamma, *w, *b; /* s[n_layers]; w[n_labels][dim]; b[n_labels] */
    char **labels;
    char *base; /* the ELMo file the head was trained on (as given to finetune) */
} elmo_task;

/* Writes the trained head of t (n_layers, dim, labels as given) pointing at base. */
bool elmo_task_save(const char *path, const char *base, const elm_mix_trainer *t, int32_t n_layers, int32_t dim,
                    const char *const *labels, int32_t n_labels, char *msg, size_t msz);
bool elmo_task_load(const char *path, elmo_task *t, char *msg, size_t msz);
void elmo_task_free(elmo_task *t);
/* Label scores (softmax) of one sentence from its layers [n_layers][n][dim]. */
bool elmo_task_probs(const elm_elmo *m, const elmo_task *t, const float *layers, int32_t n, float *probs, char *msg, size_t msz);

#endif
