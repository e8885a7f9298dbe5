/*
 * cli_quant.h — the quantize summary shared by `edgelm quantize` and `edgelm convert --outtype
 * K-quant`: tensors counted per resulting type ("F32 13, Q4_K 6, Q6_K 1").
 */
#ifndef EDGELM_CLI_QUANT_H
#define EDGELM_CLI_QUANT_H

#include "edgelm.h"

#include <stdio.h>

typedef struct cli_quant_counts {
    int64_t per_type[GL_TYPE_COUNT]; /* tensors written per resulting type */
} cli_quant_counts;

/* Counts r's resulting type. */
void cli_quant_count(cli_quant_counts *c, const elm_quant_tensor_report *r);
/* "OUT: N tensors: F32 13, Q4_K 6, Q6_K 1" and the quantized/requantized/fallback line. */
void cli_quant_summary(FILE *out, const char *path, const cli_quant_counts *c, const elm_quantize_stats *st);

#endif
