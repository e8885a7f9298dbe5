/*
 * driver.c — replays inputs through a harness's LLVMFuzzerTestOneInput without libFuzzer, so
 * that the regression files of tests/fuzz/regress/ run in every build (`make test`, and under
 * ASan/UBSan in `make test-asan`).
 *
 *   fuzz_X FILE...   runs each file once; prints "# tf: N passed, 0 failed, 0 skipped"
 * A crash or sanitizer report ends the process (tests/run-tests.sh counts that as a failure).
 */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            printf("FAIL %s: cannot open\n# tf: %d passed, 1 failed, 0 skipped\n", argv[i], n);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        const long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
        const size_t got = buf ? fread(buf, 1, (size_t)(len > 0 ? len : 0), f) : 0;
        fclose(f);
        if (!buf || got != (size_t)(len > 0 ? len : 0)) {
            printf("FAIL %s: cannot read\n# tf: %d passed, 1 failed, 0 skipped\n", argv[i], n);
            free(buf);
            return 1;
        }
        LLVMFuzzerTestOneInput(buf, got);
        free(buf);
        printf("ok   %s\n", argv[i]);
        n++;
    }
    printf("# tf: %d passed, 0 failed, 0 skipped\n", n);
    return 0;
}
