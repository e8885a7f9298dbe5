/* The table-driven option parser of every edgelm subcommand (see opts.h). */
#include "opts.h"
#include "edgelm.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool opts_spelled(const char *names, const char *arg);

int opts_fail(const char *cmd, const char *todo, const char *what_fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);
    fprintf(stderr, "edgelm %s: %s: %s\n", cmd, what, todo);
    return OPTS_ERROR;
}

/* True when the last ": " part of msg already says what to do (starts with an imperative). */
static bool opts_has_todo(const char *msg) {
    static const char *const verbs[] = {"give", "use", "run", "convert", "check", "see", "set", "free", "install",
                                        "pass", "rebuild", "remove", "try", "choose", "add", "raise", "lower",
                                        "quantize", "re-convert", "put", "make", "build", "unset", "start", NULL};
    const char *last = msg;
    for (const char *p = strstr(msg, ": "); p; p = strstr(p + 2, ": ")) last = p + 2;
    if (last == msg) return false;
    for (int i = 0; verbs[i]; i++) {
        const size_t n = strlen(verbs[i]);
        if (!strncmp(last, verbs[i], n) && (last[n] == ' ' || last[n] == '\0')) return true;
    }
    return false;
}

int opts_fail_err(const char *cmd, const char *context, const elm_error *err, const char *fallback) {
    const char *msg = err && err->msg[0] ? err->msg : (fallback ? fallback : "failed");
    char todo[200];
    switch (err ? err->code : ELM_ERR_INVALID) {
    case ELM_ERR_IO: snprintf(todo, sizeof todo, "check the path, its permissions and (when writing) the free disk space"); break;
    case ELM_ERR_FORMAT:
        if (!strcmp(cmd, "convert"))
            snprintf(todo, sizeof todo, "give a Hugging Face folder, a llama2.c .bin or an ELMo folder (see 'edgelm convert --help')");
        else if (!strcmp(cmd, "info"))
            snprintf(todo, sizeof todo, "check that it is a complete GGUF file");
        else
            snprintf(todo, sizeof todo, "check that it is a complete GGUF file of the right model family ('edgelm info FILE' "
                                        "prints what it holds)");
        break;
    case ELM_ERR_UNSUPPORTED: snprintf(todo, sizeof todo, "see README (supported models) and 'edgelm %s --help'", cmd); break;
    case ELM_ERR_NOMEM: snprintf(todo, sizeof todo, "free memory, or use a smaller model, context (-c) or batch"); break;
    default: snprintf(todo, sizeof todo, "see 'edgelm %s --help'", cmd); break;
    }
    const bool ctx = context && !strstr(msg, context);
    if (opts_has_todo(msg)) fprintf(stderr, "edgelm %s: %s%s%s\n", cmd, ctx ? context : "", ctx ? ": " : "", msg);
    else opts_fail(cmd, todo, "%s%s%s", ctx ? context : "", ctx ? ": " : "", msg);
    return 1;
}

/* -v/--verbose of a command whose table has none (see opts.h); set by opts_parse. */
static bool opts_verbose_given;

bool opts_verbose(void) { return opts_verbose_given; }

/* The table's own -v (then the command handles it), or the common one. */
static bool opts_own_verbose(const opt_cmd *cmd) {
    for (const opt_def *d = cmd->defs; d->kind != OPTK_END; d++)
        if (d->names && opts_spelled(d->names, "-v")) return true;
    return false;
}

#define OPTS_VERBOSE_HELP "on stderr at the end: the exit status, the time taken and the peak resident memory"

int opts_exit(int r) { return r == OPTS_HELP ? 0 : 2; }

/* True when arg is one of the comma-separated spellings in names. */
static bool opts_spelled(const char *names, const char *arg) {
    const size_t n = strlen(arg);
    for (const char *p = names; *p;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !memcmp(p, arg, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* "a, b, c" into buf. */
static void opts_join(const char *const *names, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);
}

int opts_choice(const char *cmd, const char *option, const char *value, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], value)) return i;
    char list[512];
    opts_join(names, list, sizeof list);
    char todo[600];
    snprintf(todo, sizeof todo, "use one of %s", list);
    opts_fail(cmd, todo, "%s '%s' is not known", option, value);
    return -1;
}

static bool opts_number(const char *v, double *out) {
    char *end;
    errno = 0;
    const double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d)) return false;
    *out = d;
    return true;
}

/* "[lo, hi]" / "(lo, hi]" / ">= lo" for messages. */
static void opts_range(const opt_def *d, char *buf, size_t size) {
    const bool open = d->flags & OPT_LO_OPEN;
    if (d->hi >= 1e300) snprintf(buf, size, "a number %s %.15g", open ? ">" : ">=", d->lo);
    else snprintf(buf, size, "a number in %c%.15g, %.15g]", open ? '(' : '[', d->lo, d->hi);
}

static int opts_value(const opt_cmd *cmd, const opt_def *d, const char *opt, const char *v) {
    char todo[300];
    double x = 0;
    switch (d->kind) {
    case OPTK_STR:
        *(const char **)d->dst = v;
        return OPTS_OK;
    case OPTK_STRS: {
        opt_strs *s = d->dst;
        if (s->n >= s->cap) {
            snprintf(todo, sizeof todo, "give it at most %d times", s->cap);
            return opts_fail(cmd->name, todo, "too many %s", opt);
        }
        s->v[s->n++] = v;
        return OPTS_OK;
    }
    case OPTK_INT:
    case OPTK_FLOAT: {
        const bool is_int = d->kind == OPTK_INT;
        char range[128];
        opts_range(d, range, sizeof range);
        snprintf(todo, sizeof todo, "give %s", range);
        if (!opts_number(v, &x) || (is_int && x != floor(x)))
            return opts_fail(cmd->name, todo, "%s '%s' is not %s", opt, v, is_int ? "an integer" : "a number");
        if (x < d->lo || x > d->hi || ((d->flags & OPT_LO_OPEN) && x == d->lo))
            return opts_fail(cmd->name, todo, "%s %s is out of range", opt, v);
        if (is_int) *(int32_t *)d->dst = (int32_t)x;
        else *(float *)d->dst = (float)x;
        return OPTS_OK;
    }
    case OPTK_U64: {
        char *end;
        errno = 0;
        const unsigned long long u = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            return opts_fail(cmd->name, "give an unsigned integer", "%s '%s' is not an unsigned integer", opt, v);
        *(uint64_t *)d->dst = u;
        return OPTS_OK;
    }
    case OPTK_ENUM: {
        const int i = opts_choice(cmd->name, opt, v, d->choices);
        if (i < 0) return OPTS_ERROR;
        *(int *)d->dst = i;
        return OPTS_OK;
    }
    case OPTK_FUNC: {
        char why[256] = "see --help";
        if (d->fn(v, d->dst, why, sizeof why)) return OPTS_OK;
        return opts_fail(cmd->name, why, "%s '%s' is not valid", opt, v);
    }
    default:
        return OPTS_ERROR;
    }
}

int opts_parse(const opt_cmd *cmd, int argc, char **argv) {
    char see[128];
    snprintf(see, sizeof see, "see 'edgelm %s --help'", cmd->name);
    if (cmd->n_pos) *cmd->n_pos = 0;
    enum { MAX_DEFS = 256 };
    bool given[MAX_DEFS] = {false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            opts_usage(cmd, stdout);
            return OPTS_HELP;
        }
        if (!strcmp(a, "--help-markdown")) {
            opts_markdown(cmd, stdout);
            return OPTS_HELP;
        }
        const opt_def *d = cmd->defs;
        for (; d->kind != OPTK_END; d++)
            if (d->names && opts_spelled(d->names, a)) break;
        if (d->kind == OPTK_END && (!strcmp(a, "-v") || !strcmp(a, "--verbose"))) {
            opts_verbose_given = true; /* the common -v (the table has none) */
            continue;
        }
        if (d->kind == OPTK_END) {
            if (a[0] == '-' && a[1] && strcmp(a, "-") != 0)
                return opts_fail(cmd->name, see, "unknown option '%s'", a);
            if (!cmd->pos || *cmd->n_pos >= cmd->max_pos)
                return opts_fail(cmd->name, see, "unexpected argument '%s'", a);
            cmd->pos[(*cmd->n_pos)++] = a;
            continue;
        }
        if (d->seen) *d->seen = true;
        if (d - cmd->defs < MAX_DEFS) given[d - cmd->defs] = true;
        if (d->kind == OPTK_FLAG || d->kind == OPTK_UNFLAG) {
            *(bool *)d->dst = d->kind == OPTK_FLAG;
            continue;
        }
        if (i + 1 >= argc) {
            char todo[160];
            snprintf(todo, sizeof todo, "give %s %s", a, d->meta ? d->meta : "VALUE");
            return opts_fail(cmd->name, todo, "%s needs a value", a);
        }
        const int r = opts_value(cmd, d, a, argv[++i]);
        if (r != OPTS_OK) return r;
    }
    /* Required options: checked after the loop, so --help anywhere still answers. */
    for (const opt_def *d = cmd->defs; d->kind != OPTK_END && d - cmd->defs < MAX_DEFS; d++) {
        if ((d->flags & OPT_REQUIRED) && !given[d - cmd->defs]) {
            char todo[160], first[32];
            snprintf(first, sizeof first, "%s", d->names);
            char *comma = strchr(first, ',');
            if (comma) *comma = '\0';
            snprintf(todo, sizeof todo, "give %s %s", first, d->meta ? d->meta : "VALUE");
            char spelled[64];
            snprintf(spelled, sizeof spelled, "%s", d->names);
            for (char *c = spelled; *c; c++)
                if (*c == ',') *c = '/';
            return opts_fail(cmd->name, todo, "%s is required", spelled);
        }
    }
    return OPTS_OK;
}

/* "-m, --model FILE" for the help text. */
static void opts_spelling(const opt_def *d, char *buf, size_t size) {
    size_t o = 0;
    for (const char *p = d->names; *p && o < size; p++)
        o += (size_t)snprintf(buf + o, size - o, *p == ',' ? ", " : "%c", *p);
    if (d->kind == OPTK_ENUM && o < size) {
        o += (size_t)snprintf(buf + o, size - o, " ");
        for (int i = 0; d->choices[i] && o < size; i++)
            o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? "|" : "", d->choices[i]);
    } else if (d->kind != OPTK_FLAG && d->kind != OPTK_UNFLAG && o < size) {
        snprintf(buf + o, size - o, " %s", d->meta ? d->meta : "VALUE");
    }
}

/* Prints text wrapped at 100 columns, every line after the first indented by indent. */
static void opts_wrap(FILE *out, const char *text, int col, int indent) {
    const char *p = text;
    while (*p) {
        const char *w = p;
        while (*w && *w != ' ') w++;
        const int len = (int)(w - p);
        if (col > indent && col + 1 + len > 100) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, (size_t)len, out);
        col += len;
        p = *w ? w + 1 : w;
    }
    fputc('\n', out);
}

void opts_usage(const opt_cmd *cmd, FILE *out) {
    fprintf(out, "usage: edgelm %s %s\n", cmd->name, cmd->synopsis);
    if (cmd->about) {
        fputs("\n", out);
        opts_wrap(out, cmd->about, 0, 0);
    }
    for (const opt_def *d = cmd->defs; d->kind != OPTK_END; d++) {
        if (d->kind == OPTK_SECTION) {
            fprintf(out, "\n%s:\n", d->help);
            continue;
        }
        char sp[256];
        opts_spelling(d, sp, sizeof sp);
        int col = fprintf(out, "  %-26s", sp);
        if (col > 28) {
            fprintf(out, "\n%28s", "");
            col = 28;
        }
        opts_wrap(out, d->help ? d->help : "", col, 28);
    }
    fputc('\n', out);
    if (!opts_own_verbose(cmd)) {
        fprintf(out, "  %-26s", "-v, --verbose");
        opts_wrap(out, OPTS_VERBOSE_HELP, 28, 28);
    }
    fprintf(out, "  %-26sthis text\n", "-h, --help");
}

/* text for a Markdown table cell: '|' escaped. */
static void opts_md_cell(FILE *out, const char *text) {
    for (const char *p = text; *p; p++) {
        if (*p == '|') fputc('\\', out);
        fputc(*p, out);
    }
}

void opts_markdown(const opt_cmd *cmd, FILE *out) {
    fprintf(out, "## edgelm %s\n\n```\nedgelm %s %s\n```\n\n", cmd->name, cmd->name, cmd->synopsis);
    if (cmd->about) fprintf(out, "%s\n\n", cmd->about);
    bool table = false;
    for (const opt_def *d = cmd->defs; d->kind != OPTK_END; d++) {
        if (d->kind == OPTK_SECTION) {
            fprintf(out, "%s**%s**\n\n| option | meaning |\n|---|---|\n", table ? "\n" : "", d->help);
            table = true;
            continue;
        }
        if (!table) {
            fprintf(out, "| option | meaning |\n|---|---|\n");
            table = true;
        }
        char sp[256];
        opts_spelling(d, sp, sizeof sp);
        fputs("| `", out);
        opts_md_cell(out, sp);
        fputs("` | ", out);
        opts_md_cell(out, d->help ? d->help : "");
        fprintf(out, "%s |\n", d->flags & OPT_REQUIRED ? " (required)" : "");
    }
    if (!table) fprintf(out, "| option | meaning |\n|---|---|\n");
    if (!opts_own_verbose(cmd)) fprintf(out, "| `-v, --verbose` | %s |\n", OPTS_VERBOSE_HELP);
    fprintf(out, "| `-h, --help` | this text |\n\n");
}

/* Distinct (package, core) pairs among cpu0..cpu1023 in sysfs; 0 when sysfs says nothing. */
static int opts_physical_cores(void) {
    enum { MAX_CPUS = 1024 };
    static const int no_core = -1;
    int pairs[MAX_CPUS][2], n = 0;
    for (int cpu = 0; cpu < MAX_CPUS; cpu++) {
        char path[128];
        int ids[2] = {no_core, no_core};
        const char *const leaf[2] = {"physical_package_id", "core_id"};
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/%s", cpu, leaf[k]);
            FILE *f = fopen(path, "r");
            if (!f) break;
            if (fscanf(f, "%d", &ids[k]) != 1) ids[k] = no_core;
            fclose(f);
        }
        if (ids[1] == no_core) {
            if (cpu > 0) break;
            return 0;
        }
        bool known = false;
        for (int j = 0; j < n && !known; j++) known = pairs[j][0] == ids[0] && pairs[j][1] == ids[1];
        if (!known) {
            pairs[n][0] = ids[0];
            pairs[n][1] = ids[1];
            n++;
        }
    }
    return n;
}

/* The cap on the default: EDGELM_MAX_THREADS (an integer in [1, 1024]) or 4. A bad value is
 * named on stderr (once per call) and the cap stays 4. */
static int opts_thread_cap(void) {
    const char *v = getenv("EDGELM_MAX_THREADS");
    if (!v || !*v) return 4;
    double x = 0;
    if (opts_number(v, &x) && x == floor(x) && x >= 1 && x <= 1024) return (int)x;
    fprintf(stderr, "edgelm: EDGELM_MAX_THREADS '%s' is not an integer in [1, 1024]: the default thread count stays at "
                    "most 4 (unset it or give e.g. 8)\n", v);
    return 4;
}

int32_t opts_default_threads(void) {
    int n = opts_physical_cores();
    if (n <= 0) {
        const long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)(online > 1024 ? 1024 : online) : 1;
    }
    const int cap = opts_thread_cap();
    return n > cap ? cap : n;
}

bool opt_parse_int_list(const char *value, void *dst, char *why, size_t why_size) {
    opt_ints *l = dst;
    l->n = 0;
    for (const char *p = value;;) {
        char *end;
        errno = 0;
        const long v = strtol(p, &end, 10);
        if (errno || end == p || v < 1 || v > 1 << 24 || l->n == 16 || (*end && *end != ',')) {
            snprintf(why, why_size, "give up to 16 comma-separated positive integers, e.g. 1,2");
            return false;
        }
        l->v[l->n++] = (int32_t)v;
        if (!*end) return true;
        p = end + 1;
    }
}

bool opt_parse_cache_type(const char *value, void *dst, char *why, size_t why_size) {
    if (elm_cache_type_parse(value, dst)) return true;
    snprintf(why, why_size, "give f16 (the default) or f32");
    return false;
}
