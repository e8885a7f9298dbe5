/*
 * convert_elmo.h — AllenNLP / bilm-tf ELMo checkpoint (options.json + weights .hdf5) → GGUF.
 *
 * The file gets architecture "elmo", every option of options.json as elmo.* metadata, and
 * the weights under the names listed in docs/FORMAT.md ("ELMo (architecture elmo)"), already
 * laid out for ggml-lite's ops: LSTM gates reordered from TensorFlow's (i, j, f, o) to
 * (i, f, g, o), the highway carry gate negated (AllenNLP's convention), matrices transposed so
 * that rows are output units. The forget-gate bias +1.0 that TensorFlow adds at run time is
 * stored as elmo.lstm.forget_bias and added by the runtime (the stored biases are the file's).
 */
#ifndef EDGELM_CONVERT_ELMO_H
#define EDGELM_CONVERT_ELMO_H

#include "ggml-lite.h"

#include <stdbool.h>

/* dir: a folder holding options.json and one weights .hdf5 (either may be NULL when the
 * explicit paths are given); options / weights: explicit paths (NULL: found in dir);
 * outtype: "f32" (default when NULL), "f16", "bf16", or a block type such as "q8_0" applied to
 * the weight matrices (rows that do not divide into blocks fall back to f16; biases and the
 * character embedding stay f32). Returns GL_OK or a negative gl_status with err filled. */
gl_status elm_convert_elmo(const char *dir, const char *options, const char *weights, const char *out,
                           const char *outtype, gl_error *err);

/* The same, calling progress->fn (when not NULL) after each tensor is written with the weights
 * read so far and their total (bytes). */
typedef struct elm_cve_progress {
    void (*fn)(void *user, int64_t done, int64_t total);
    void *user;
} elm_cve_progress;
int elm_convert_elmo_progress(const char *dir, const char *options, const char *weights, const char *out,
                              const char *outtype, const elm_cve_progress *progress, gl_error *err);

/* The same, checking that every dataset of the weights file is converted (convert.h, converter
 * honesty): each one no planned tensor reads is named in a "warning: ..." line to check->log,
 * and check->strict refuses the checkpoint. check NULL: no log, not strict. */
typedef struct elm_cve_check {
    bool strict;
    void (*log)(void *user, const char *msg);
    void *user;
} elm_cve_check;
int elm_convert_elmo_checked(const char *dir, const char *options, const char *weights, const char *out,
                             const char *outtype, const elm_cve_progress *progress, const elm_cve_check *check,
                             gl_error *err);

/* True when dir looks like an ELMo checkpoint folder (it holds options.json). */
int elm_convert_is_elmo_dir(const char *dir);

#endif /* EDGELM_CONVERT_ELMO_H */
