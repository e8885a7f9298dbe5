/* Reading whole text inputs (see cli_io.h). */
#include "cli_io.h"
#include "edgelm.h"
#include "opts.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest buffer cli_read_all grows to (1 TiB; a quarter of the address space on 32-bit). */
#if SIZE_MAX > 0xFFFFFFFFu
#define CLI_READ_MAX ((size_t)1 << 40)
#else
#define CLI_READ_MAX (SIZE_MAX / 4)
#endif

char *cli_read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            char *b = cap < CLI_READ_MAX ? realloc(buf, 2 * cap + 1) : NULL;
            if (!b) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
        const size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    const bool bad = ferror(f) != 0;
    if (f != stdin) fclose(f);
    if (buf && bad) {
        free(buf);
        buf = NULL;
        errno = EIO;
    }
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char **cli_split_lines(char *text, size_t len, int *n) {
    char **lines = NULL;
    int count = 0, cap = 0;
    for (char *p = text; p < text + len;) {
        char *e = memchr(p, '\n', (size_t)(text + len - p));
        if (e) *e = '\0';
        if (e && e > p && e[-1] == '\r') e[-1] = '\0';
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            char **l = cap < (1 << 28) ? realloc(lines, (size_t)cap * sizeof *l) : NULL;
            if (!l) {
                free(lines);
                *n = -1;
                return NULL;
            }
            lines = l;
        }
        lines[count++] = p;
        if (!e) break;
        p = e + 1;
    }
    *n = count;
    return lines;
}

void cli_chomp(char *text, size_t *len) {
    size_t n = len ? *len : strlen(text);
    if (n > 0 && text[n - 1] == '\n') text[--n] = '\0';
    if (n > 0 && text[n - 1] == '\r') text[--n] = '\0';
    if (len) *len = n;
}

bool cli_file_is_arch(const char *path, const char *arch) {
    elm_file *f = path ? elm_file_open(path, NULL) : NULL;
    const bool yes = f && !strcmp(elm_file_arch(f), arch);
    elm_file_close(f);
    return yes;
}

bool cli_prompt_or_file(const char *cmd, const char *prompt, const char *file, const char **text, char **owned) {
    *owned = NULL;
    *text = prompt;
    if (!prompt == !file) {
        opts_fail(cmd, "give -p TEXT or -f FILE", prompt ? "-p and -f are alternatives" : "no text");
        return false;
    }
    if (prompt) return true;
    size_t len = 0;
    *owned = cli_read_all(file, &len);
    if (!*owned) {
        opts_fail(cmd, "check the path and its permissions", "cannot read '%s': %s", file, strerror(errno));
        return false;
    }
    cli_chomp(*owned, &len);
    *text = *owned;
    return true;
}
