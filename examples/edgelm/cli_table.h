/*
 * cli_table.h — the result tables of the bench commands in one of three formats (-o md|csv|json):
 * a Markdown table, CSV with a header line, or a JSON array of objects (numeric columns as
 * JSON numbers).
 */
#ifndef EDGELM_CLI_TABLE_H
#define EDGELM_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_FMT_MD = 0, CLI_FMT_CSV = 1, CLI_FMT_JSON = 2 };
extern const char *const cli_fmt_names[]; /* "md", "csv", "json", NULL (index = CLI_FMT_*) */

typedef struct cli_table {
    FILE *out;
    int fmt;
    const char *const *cols; /* column names (JSON keys) */
    const bool *numeric;     /* per column: a number (unquoted in JSON) */
    int n_cols;
    int n_rows;
} cli_table;

void cli_table_begin(cli_table *t);
void cli_table_row(cli_table *t, const char *const *cells);
void cli_table_end(cli_table *t);
/* A "type" cell: the name of llama.cpp's general.file_type ft (quant/quantize.c's table),
 * lowercase unless upper; "other" when unknown. */
void cli_file_type_name(int64_t ft, bool upper, char *buf, size_t size);

#endif
