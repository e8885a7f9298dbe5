/*
 * cli_hdf5.h — the CLI's minimal HDF5 writer (the counterpart of the library's reader,
 * convert/hdf5.h) for edgelm's own outputs: one file with a root group of float32 datasets and
 * fixed-length string datasets, as `edgelm elmo -o OUT.hdf5` writes them (AllenNLP's layout).
 *
 * Format (HDF5 specification 3.0): superblock version 2; object headers version 2; the root
 * group keeps its links in its object header (compact storage: link info, group info and one
 * link message per dataset); datasets have a version-2 dataspace, an IEEE little-endian
 * float32 or a fixed-length UTF-8 string datatype, a fill-value message and a contiguous
 * layout. Every checksum is Jenkins' lookup3, as the specification requires. Data is written as
 * it comes; the root group and the superblock's end-of-file address are written by
 * cli_h5w_close. The file is written under a temporary name in the destination folder and
 * renamed over path only when complete; cli_h5w_abort (or a failed close) removes it.
 */
#ifndef EDGELM_CLI_HDF5_H
#define EDGELM_CLI_HDF5_H

#include "ggml-lite.h"

#include <stdint.h>

typedef struct cli_h5w cli_h5w;

cli_h5w *cli_h5w_create(const char *path, gl_error *err);
/* A float32 dataset of the given shape (rank 0..8) named name (1..255 bytes, no '/'). */
gl_status cli_h5w_f32(cli_h5w *w, const char *name, int rank, const int64_t *dims, const float *data,
                      gl_error *err);
/* A dataset of shape (1,) holding text as one fixed-length UTF-8 string (null-padded). */
gl_status cli_h5w_string(cli_h5w *w, const char *name, const char *text, gl_error *err);
/* Writes the root group and the superblock, flushes, renames into place and frees w. */
gl_status cli_h5w_close(cli_h5w *w, gl_error *err);
/* Removes the temporary file and frees w (NULL is allowed). */
void cli_h5w_abort(cli_h5w *w);

/* Jenkins' lookup3 hash of data (initval 0), the HDF5 metadata checksum. */
uint32_t cli_h5_checksum(const void *data, size_t len);

#endif
