/* Reading whole text inputs (see cli_io.h). */
#include "cli_io.h"
#include "edgelm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cli_read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            char *b = cap < ((size_t)1 << 40) ? realloc(buf, 2 * cap + 1) : NULL;
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
