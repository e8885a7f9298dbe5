/* Bench result tables as Markdown, CSV or JSON (see cli_table.h). */
#include "cli_table.h"
#include "edgelm.h"

#include <ctype.h>
#include <string.h>

void cli_file_type_name(int64_t ft, bool upper, char *buf, size_t size) {
    const char *name = ft >= 0 && ft <= UINT32_MAX ? elm_quant_file_type_name((uint32_t)ft) : NULL;
    snprintf(buf, size, "%s", name ? name : "other");
    for (char *p = buf; !upper && *p; p++) *p = (char)tolower((unsigned char)*p);
}

const char *const cli_fmt_names[] = {"md", "csv", "json", NULL};

/* s quoted for CSV (when it holds a comma or a quote) or JSON. */
static void cli_table_quoted(FILE *out, const char *s, bool json) {
    if (!json && !strpbrk(s, ",\"\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"') fputs(json ? "\\\"" : "\"\"", out);
        else if (json && *p == '\\') fputs("\\\\", out);
        else if (json && (unsigned char)*p < 0x20) fprintf(out, "\\u%04x", (unsigned char)*p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

void cli_table_begin(cli_table *t) {
    t->n_rows = 0;
    if (t->fmt == CLI_FMT_JSON) {
        fputs("[", t->out);
        return;
    }
    for (int c = 0; c < t->n_cols; c++) {
        if (t->fmt == CLI_FMT_MD) fprintf(t->out, "| %s ", t->cols[c]);
        else fprintf(t->out, "%s%s", c ? "," : "", t->cols[c]);
    }
    if (t->fmt == CLI_FMT_MD) {
        fputs("|\n", t->out);
        for (int c = 0; c < t->n_cols; c++) fputs(t->numeric[c] ? "| ---: " : "| --- ", t->out);
        fputs("|\n", t->out);
    } else {
        fputc('\n', t->out);
    }
}

void cli_table_row(cli_table *t, const char *const *cells) {
    for (int c = 0; c < t->n_cols; c++) {
        if (t->fmt == CLI_FMT_MD) {
            fprintf(t->out, "| %s ", cells[c]);
        } else if (t->fmt == CLI_FMT_CSV) {
            if (c) fputc(',', t->out);
            cli_table_quoted(t->out, cells[c], false);
        } else {
            fprintf(t->out, "%s\"%s\": ", c ? ", " : t->n_rows ? ",\n  {" : "\n  {", t->cols[c]);
            if (t->numeric[c]) fputs(cells[c], t->out);
            else cli_table_quoted(t->out, cells[c], true);
        }
    }
    fputs(t->fmt == CLI_FMT_MD ? "|\n" : t->fmt == CLI_FMT_CSV ? "\n" : "}", t->out);
    fflush(t->out);
    t->n_rows++;
}

void cli_table_end(cli_table *t) {
    if (t->fmt == CLI_FMT_JSON) fputs(t->n_rows ? "\n]\n" : "]\n", t->out);
    fflush(t->out);
}
