/*
 * cli_npy.h — the CLI writing NumPy .npy files (format 1.0, little-endian float32, C order).
 */
#ifndef EDGELM_CLI_NPY_H
#define EDGELM_CLI_NPY_H

#include "ggml-lite.h"

/* Writes data (prod(shape) floats) as a float32 array of n_dims (1..8) dims. */
gl_status cli_npy_write_f32(const char *path, const float *data, int n_dims,
                            const int64_t *shape, gl_error *err);

#endif /* EDGELM_CLI_NPY_H */
