/*
 * opts.h — the one option parser of every `edgelm` subcommand: a table of options, each with
 * its spellings, kind, destination, range or choices and help text. The same table gives the
 * parsing, the validation, `--help` and the Markdown reference (docs/cli.md).
 *
 * Example (a command with a model, a count and a choice):
 *
 *     static const char *const pool_names[] = {"cls", "mean", "none", NULL};
 *     const char *model = NULL;
 *     int32_t n = 8, threads = opts_default_threads();
 *     int pool = 0;
 *     bool verbose = false;
 *     const opt_def defs[] = {
 *         OPT_SECTION("Options"),
 *         OPT_REQ_STR("-m,--model", &model, "FILE", "the model"),
 *         OPT_INT("-n,--n-predict", &n, 1, 1024, "N", "how many (default 8)"),
 *         OPT_ENUM("--pooling", &pool, pool_names, "pooling (default cls)"),
 *         OPT_THREADS(&threads),
 *         OPT_FLAG("-v,--verbose", &verbose, "more output"),
 *         OPT_END,
 *     };
 *     const opt_cmd cmd = OPT_CMD("mycmd", "-m MODEL.gguf [options]", "What it does.", defs);
 *     int r = opts_parse(&cmd, argc, argv);   // argv[0] is the command name
 *     if (r != OPTS_OK) return opts_exit(r);  // 0 after --help, 2 after an error
 *
 * Rules the parser applies for every command:
 *   - spellings are exact (llama.cpp's: "-m,--model"; no "--opt=value" form);
 *   - -h/--help prints the usage on stdout (exit 0); --help-markdown prints it as Markdown;
 *   - an unknown option, a missing value, a non-number, a number out of range, an unknown
 *     enum value or a missing OPT_REQUIRED option is one line on stderr,
 *     `edgelm CMD: what went wrong: what to do`, and exit status 2;
 *   - arguments that are not options go to cmd.pos (at most cmd.max_pos), else are an error.
 */
#ifndef EDGELM_OPTS_H
#define EDGELM_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum opt_kind {
    OPTK_END = 0,
    OPTK_SECTION, /* a heading in --help; no option */
    OPTK_FLAG,    /* bool *: set to true */
    OPTK_UNFLAG,  /* bool *: set to false (--no-x) */
    OPTK_STR,     /* const char **: the value as given */
    OPTK_STRS,    /* opt_strs *: repeatable, every value kept in order */
    OPTK_INT,     /* int32_t *, in [lo, hi] */
    OPTK_U64,     /* uint64_t * (any unsigned decimal) */
    OPTK_FLOAT,   /* float *, in [lo, hi] ((lo, hi] with OPT_LO_OPEN) */
    OPTK_ENUM,    /* int *: index into choices (NULL-terminated) */
    OPTK_FUNC,    /* custom check: fn(value, dst, why, why_size) */
} opt_kind;

enum {
    OPT_REQUIRED = 1u, /* the command refuses to run without it */
    OPT_LO_OPEN = 2u,  /* OPTK_FLOAT: the lower bound is excluded */
};

/* A custom value parser: stores into dst and returns true, or writes what to give into why. */
typedef bool (*opt_fn)(const char *value, void *dst, char *why, size_t why_size);

typedef struct opt_strs {
    const char **v; /* caller's array of cap entries */
    int n, cap;
} opt_strs;

typedef struct opt_def {
    const char *names; /* "-m,--model" (comma-separated spellings) */
    opt_kind kind;
    void *dst;
    const char *meta;  /* value placeholder in --help ("FILE", "N") */
    const char *help;
    double lo, hi;
    const char *const *choices;
    opt_fn fn;
    unsigned flags;
    bool *seen;        /* optional: set to true when the option is given */
} opt_def;

#define OPT_END {.kind = OPTK_END}
#define OPT_SECTION(title) {.kind = OPTK_SECTION, .help = (title)}
#define OPT_FLAG(names_, dst_, help_) {.names = (names_), .kind = OPTK_FLAG, .dst = (dst_), .help = (help_)}
#define OPT_UNFLAG(names_, dst_, help_) {.names = (names_), .kind = OPTK_UNFLAG, .dst = (dst_), .help = (help_)}
#define OPT_STR(names_, dst_, meta_, help_) \
    {.names = (names_), .kind = OPTK_STR, .dst = (dst_), .meta = (meta_), .help = (help_)}
#define OPT_REQ_STR(names_, dst_, meta_, help_) \
    {.names = (names_), .kind = OPTK_STR, .dst = (dst_), .meta = (meta_), .help = (help_), .flags = OPT_REQUIRED}
#define OPT_STRS(names_, dst_, meta_, help_) \
    {.names = (names_), .kind = OPTK_STRS, .dst = (dst_), .meta = (meta_), .help = (help_)}
#define OPT_INT(names_, dst_, lo_, hi_, meta_, help_) \
    {.names = (names_), .kind = OPTK_INT, .dst = (dst_), .meta = (meta_), .help = (help_), .lo = (lo_), .hi = (hi_)}
#define OPT_U64(names_, dst_, meta_, help_) \
    {.names = (names_), .kind = OPTK_U64, .dst = (dst_), .meta = (meta_), .help = (help_)}
#define OPT_FLOAT(names_, dst_, lo_, hi_, meta_, help_) \
    {.names = (names_), .kind = OPTK_FLOAT, .dst = (dst_), .meta = (meta_), .help = (help_), .lo = (lo_), .hi = (hi_)}
#define OPT_FLOAT_OPEN(names_, dst_, lo_, hi_, meta_, help_) \
    {.names = (names_), .kind = OPTK_FLOAT, .dst = (dst_), .meta = (meta_), .help = (help_), .lo = (lo_), \
     .hi = (hi_), .flags = OPT_LO_OPEN}
#define OPT_ENUM(names_, dst_, choices_, help_) \
    {.names = (names_), .kind = OPTK_ENUM, .dst = (dst_), .help = (help_), .choices = (choices_)}
#define OPT_FUNC(names_, dst_, fn_, meta_, help_) \
    {.names = (names_), .kind = OPTK_FUNC, .dst = (dst_), .meta = (meta_), .help = (help_), .fn = (fn_)}
/* The command description: OPT_CMD("name", "synopsis", "about", defs). */
#define OPT_CMD(name_, synopsis_, about_, defs_) \
    {.name = (name_), .synopsis = (synopsis_), .about = (about_), .defs = (defs_)}
/* The same for a command with up to max_ non-option arguments, stored in pos_ (count in *n_pos_). */
#define OPT_CMD_POS(name_, synopsis_, about_, defs_, pos_, max_, n_pos_) \
    {.name = (name_), .synopsis = (synopsis_), .about = (about_), .defs = (defs_), .pos = (pos_), .max_pos = (max_), \
     .n_pos = (n_pos_)}
/* The default thread count in --help (opts_default_threads). */
#define OPT_THREADS_DEFAULT "the physical cores, at most 4; the environment's EDGELM_MAX_THREADS sets that cap"
/* -t/--threads N in [1, 1024], default opts_default_threads(). */
#define OPT_THREADS(dst) OPT_INT("-t,--threads", (dst), 1, 1024, "N", "threads (default: " OPT_THREADS_DEFAULT ")")

typedef struct opt_cmd {
    const char *name;     /* "generate" */
    const char *synopsis; /* "-m MODEL.gguf [-p TEXT | -f FILE] [options]" */
    const char *about;    /* a paragraph after the synopsis (may be NULL) */
    const opt_def *defs;  /* ends with OPT_END */
    const char **pos;     /* non-option arguments go here (NULL: none accepted) */
    int max_pos;
    int *n_pos;
} opt_cmd;

enum { OPTS_OK = 0, OPTS_HELP = 1, OPTS_ERROR = 2 };

/* Every command takes -v/--verbose: a command whose table has no -v gets the common one, which
 * opts_parse records (opts_verbose) and main prints after the command: its exit status, time
 * and peak RSS. --help lists it. */
bool opts_verbose(void);
/* Parses argv[1..argc) (argv[0] is the command name) against cmd.defs. */
int opts_parse(const opt_cmd *cmd, int argc, char **argv);
/* The exit status for a non-OK opts_parse result: 0 after --help, 2 after an error. */
int opts_exit(int r);
/* Prints the --help text (plain) or the Markdown section of docs/cli.md. */
void opts_usage(const opt_cmd *cmd, FILE *out);
void opts_markdown(const opt_cmd *cmd, FILE *out);

/* Prints "edgelm CMD: <what>: <todo>" (one line, printf-style what) on stderr; returns 2. */
int opts_fail(const char *cmd, const char *todo, const char *what_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A library error in the same style: "edgelm CMD: [CONTEXT: ]MESSAGE: what to do", the advice
 * chosen by err->code (I/O, format, unsupported, memory, other) unless the message already ends
 * with it (its last ": " part starts with "give", "use", "run", "convert", "check" ..). context
 * (e.g. a path; NULL: none) is left out when the message names it already; fallback stands in
 * for an empty message. Returns 1, the exit status of a failed run. */
struct gl_error;
int opts_fail_err(const char *cmd, const char *context, const struct gl_error *err, const char *fallback);
/* Index of value in the NULL-terminated names, or -1 after printing the one-line error
 * "edgelm CMD: OPTION 'value' is not known: use one of a, b, c". */
int opts_choice(const char *cmd, const char *option, const char *value, const char *const *names);

/* Physical cores of this machine (sysfs core ids; the online CPUs when unknown), at most 4 or
 * at most the environment's EDGELM_MAX_THREADS (1..1024) when set. */
int32_t opts_default_threads(void);

/* Custom value parsers. dst: opt_ints (comma-separated positive integers, e.g. -t 1,2). */
typedef struct opt_ints {
    int32_t v[16];
    int n;
} opt_ints;
bool opt_parse_int_list(const char *value, void *dst, char *why, size_t why_size);
/* dst: elm_cache_type (-ctk/-ctv: f32, f16; q8_0 is parsed and refused by the context). */
bool opt_parse_cache_type(const char *value, void *dst, char *why, size_t why_size);

#endif /* EDGELM_OPTS_H */
