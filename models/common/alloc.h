/*
 * alloc.h — the one allocator of libedgelm (internal). Every allocation of models/, convert/
 * and quant/ goes through these macros, and ggml-lite's GL_MALLOC ... GL_FREE take them when
 * they are defined (ggml-lite/gl-impl.h), so one set routes the whole library: stb-style
 * hooks for firmware, chosen at build time. Define all five (e.g. CFLAGS='-DELM_MALLOC=fw_malloc
 * -DELM_CALLOC=fw_calloc -DELM_REALLOC=fw_realloc -DELM_ALIGNED_ALLOC=fw_aligned_alloc
 * -DELM_FREE=fw_free') or none (the C library's). ELM_FREE receives whatever any of the other
 * four returned; ELM_REALLOC(NULL, n) must allocate. tests/test-alloc-hooks.c builds the
 * library with counting hooks; tests/cli-symbols.sh checks that no source calls the C
 * library's allocator directly.
 */
#ifndef EDGELM_ALLOC_H
#define EDGELM_ALLOC_H

#include <stdlib.h>
#include <string.h>

#if !defined(ELM_MALLOC) && !defined(ELM_CALLOC) && !defined(ELM_REALLOC) && !defined(ELM_ALIGNED_ALLOC) && \
    !defined(ELM_FREE)
#define ELM_MALLOC(n) malloc(n)
#define ELM_CALLOC(n, size) calloc(n, size)
#define ELM_REALLOC(p, n) realloc(p, n)
#define ELM_ALIGNED_ALLOC(align, n) aligned_alloc(align, n)
#define ELM_FREE(p) free(p)
#elif !defined(ELM_MALLOC) || !defined(ELM_CALLOC) || !defined(ELM_REALLOC) || !defined(ELM_ALIGNED_ALLOC) || \
    !defined(ELM_FREE)
#error "define all of ELM_MALLOC, ELM_CALLOC, ELM_REALLOC, ELM_ALIGNED_ALLOC and ELM_FREE, or none"
#else
/* the hooks are the firmware's functions, declared here */
void *ELM_MALLOC(size_t n);
void *ELM_CALLOC(size_t n, size_t size);
void *ELM_REALLOC(void *p, size_t n);
void *ELM_ALIGNED_ALLOC(size_t align, size_t n);
void ELM_FREE(void *p);
#endif

/* strdup through ELM_MALLOC (NULL: out of memory). */
static inline char *elm_strdup(const char *s) {
    const size_t n = strlen(s) + 1;
    char *p = (char *)ELM_MALLOC(n);
    if (p) memcpy(p, s, n);
    return p;
}

#endif /* EDGELM_ALLOC_H */
