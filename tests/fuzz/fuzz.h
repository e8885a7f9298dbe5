/*
 * fuzz.h — shared helpers of the libFuzzer harnesses in tests/fuzz/ (docs/fuzzing.md).
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize). `make
 * fuzz` links them with clang's libFuzzer (-fsanitize=fuzzer,address,undefined); `make tests`
 * links the same entry points with tests/fuzz/driver.c, which replays the files under
 * tests/fuzz/regress/<harness>/ (run by tests/cli-fuzz-regress.sh in `make test`).
 */
#ifndef EDGELM_FUZZ_H
#define EDGELM_FUZZ_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are ignored: the parsers' own limits are tested by the unit tests,
 * and small inputs keep the executions per second high. */
#define FUZZ_MAX_INPUT ((size_t)1 << 20)

/* Writes data to path (for the parsers that read files); false on an I/O error. */
static inline int fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    const int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

/* Removes the folder of fuzz_tmp_dir() and the files in it (at exit). */
static inline void fuzz_tmp_remove(void);

/* A private folder for this process's temporary files, made once: $TMPDIR/edgelm-fuzz-PID, or
 * under /dev/shm when TMPDIR is unset and that is a folder (a file written per input costs
 * ~3 ms on a disk file system and ~0.1 ms in memory), else under /tmp. Removed at exit. */
static inline const char *fuzz_tmp_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        struct stat sb;
        if (!t || !*t) t = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/edgelm-fuzz-%d", t, (int)getpid());
        if (mkdir(dir, 0700) == 0) atexit(fuzz_tmp_remove); /* (an existing folder is fine) */
    }
    return dir;
}

static inline void fuzz_tmp_remove(void) {
    const char *dir = fuzz_tmp_dir();
    DIR *d = opendir(dir);
    if (!d) return;
    char path[512];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Folder of the vocabularies the tokenizer harnesses load (made by scripts/fuzz_corpus.sh):
 * $EDGELM_FUZZ_VOCAB_DIR, default build/fuzz/vocab. */
static inline const char *fuzz_vocab_dir(void) {
    const char *d = getenv("EDGELM_FUZZ_VOCAB_DIR");
    return d && *d ? d : "build/fuzz/vocab";
}

#endif
