/*
 * hdf5.h — a small read-only HDF5 reader for untrusted files (ELMo weights, test outputs).
 *
 * Scope: what h5py/libhdf5 write for plain numeric datasets.
 *   - superblock versions 0-3 (user blocks of 512 * 2^k bytes are skipped)
 *   - object headers version 1 and 2 (with continuation blocks)
 *   - old-style groups (symbol table message → B-tree v1 group nodes → SNOD + local heap) and
 *     new-style groups (link messages; hard links only). Dense link storage (fractal heap,
 *     used by libver="latest" groups with more than 8 members) is refused as unsupported.
 *   - datasets with compact, contiguous or chunked layout (layout messages v1-v4; chunk index
 *     B-tree v1 for v1-v3, single-chunk / implicit / fixed-array index for v4), without filters:
 *     a dataset with a filter pipeline (gzip, shuffle ...) is refused as unsupported.
 *   - element types: IEEE float32/float64 and 1/2/4/8-byte integers, either byte order.
 * Every address and length is checked against the file before it is read; recursion and
 * chains are bounded, so a malformed or hostile file yields an error message, never a crash.
 * Checksums of v2 structures are not verified (a corrupted value is caught by the checks).
 */
#ifndef EDGELM_HDF5_H
#define EDGELM_HDF5_H

#include "ggml-lite.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELM_H5_MAX_RANK 32

typedef struct elm_h5 elm_h5;

typedef enum elm_h5_class {
    ELM_H5_FLOAT = 1, /* IEEE binary32 / binary64 */
    ELM_H5_SINT,      /* two's complement signed integer */
    ELM_H5_UINT,      /* unsigned integer */
} elm_h5_class;

typedef struct elm_h5_info {
    int rank;                        /* 0 for a scalar dataspace */
    uint64_t dims[ELM_H5_MAX_RANK];
    uint64_t n_elements;             /* product of dims (1 for scalars) */
    elm_h5_class cls;
    int elem_size;                   /* bytes: 4/8 for floats, 1/2/4/8 for integers */
    bool big_endian;
    int layout;                      /* 0 compact, 1 contiguous, 2 chunked */
} elm_h5_info;

/* Opens a file through mmap (read-only); the superblock is validated here. */
elm_h5 *elm_h5_open(const char *path, gl_error *err);
/* Same over memory the caller keeps alive until elm_h5_close. */
elm_h5 *elm_h5_open_buffer(const void *buf, size_t size, gl_error *err);
void elm_h5_close(elm_h5 *f);

/* Describes the dataset at path ("a/b/c", leading '/' optional). */
gl_status elm_h5_info_of(elm_h5 *f, const char *path, elm_h5_info *info, gl_error *err);

/* Reads the whole dataset at path, converted element by element, into out (n elements, which
 * must equal the dataset's element count). Integers convert to float exactly when they fit. */
gl_status elm_h5_read_f32(elm_h5 *f, const char *path, float *out, uint64_t n, gl_error *err);
gl_status elm_h5_read_f64(elm_h5 *f, const char *path, double *out, uint64_t n, gl_error *err);
/* Integers only (a float dataset is refused). Unsigned values above INT64_MAX are refused. */
gl_status elm_h5_read_i64(elm_h5 *f, const char *path, int64_t *out, uint64_t n, gl_error *err);

/* Calls fn for every dataset reachable from the root, depth first, with its full path
 * ("CNN/W_cnn_0"); fn returns non-zero to stop early (elm_h5_visit then returns GL_OK). */
typedef int (*elm_h5_visit_fn)(const char *path, const elm_h5_info *info, void *user);
gl_status elm_h5_visit(elm_h5 *f, elm_h5_visit_fn fn, void *user, gl_error *err);

#endif /* EDGELM_HDF5_H */
