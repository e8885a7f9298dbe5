# What libedgelm exports: libedgelm.so (nm -D) and the installable libedgelm.a define exactly
# the functions the public headers declare (ELM_API / GL_API): nothing internal leaks, nothing
# declared is missing. Also: the soname is versioned and the library needs only libc, libm
# (and libpthread on older glibc).
. tests/tf-lib.sh
. tests/public-api.sh
so="$BUILD/libedgelm.so"
dista="$BUILD/dist/libedgelm.a"
NM=${NM:-$(${CC:-cc} -print-prog-name=nm)}
public_functions > "$TMPD/declared"
check headers_declare_functions test "$(wc -l < "$TMPD/declared")" -gt 200
check every_declaration_marked sh -c ". tests/public-api.sh; unmarked_declarations > '$TMPD/unmarked'; test ! -s '$TMPD/unmarked' || { echo 'declared without ELM_API/GL_API (not exported):'; cat '$TMPD/unmarked'; false; }"
if [ ! -f "$so" ]; then
    skip so_exports_only_public "no $so in this build (STATIC=1)"
elif ! "$NM" -D --defined-only "$so" > "$TMPD/so.nm" 2> "$TMPD/nm.err"; then
    skip so_exports_only_public "$NM cannot read $so ($(head -n 1 "$TMPD/nm.err"))"
else
    # Sanitizer builds add their own instrumentation symbols (__asan_*, __odr_asan_*, __ubsan_*).
    awk '{print $NF}' "$TMPD/so.nm" | grep -v -E '^(__(asan|odr_asan|ubsan|sanitizer)|_init$|_fini$)' | sort -u > "$TMPD/so"
    check so_exports_only_public sh -c "comm -23 '$TMPD/so' '$TMPD/declared' > '$TMPD/extra'; test ! -s '$TMPD/extra' || { echo 'exported but in no public header:'; cat '$TMPD/extra'; false; }"
    check so_exports_every_declared sh -c "comm -13 '$TMPD/so' '$TMPD/declared' > '$TMPD/missing'; test ! -s '$TMPD/missing' || { echo 'declared but not exported:'; cat '$TMPD/missing'; false; }"
    check so_exports_functions_only sh -c "! awk '\$2 != \"T\" && \$2 != \"W\" {print}' '$TMPD/so.nm' | grep -v -E ' (__(asan|odr_asan|ubsan|sanitizer)|_init|_fini|_edata|_end|__bss_start)' | grep ."
    check so_versioned_soname sh -c "readelf -d '$so' | grep -q 'SONAME.*\\[libedgelm\\.so\\.[0-9][0-9]*\\]'"
fi
if "$NM" -g --defined-only "$dista" > "$TMPD/a.nm" 2>/dev/null; then
    awk 'NF == 3 {print $3}' "$TMPD/a.nm" | grep -v -E '^__(asan|odr_asan|ubsan|sanitizer)' | sort -u > "$TMPD/a"
    check static_lib_globals_only_public sh -c "comm -23 '$TMPD/a' '$TMPD/declared' > '$TMPD/extra'; test ! -s '$TMPD/extra' || { echo 'global in libedgelm.a but in no public header:'; cat '$TMPD/extra'; false; }"
else
    skip static_lib_globals_only_public "$NM cannot read $dista"
fi
# ggml-lite allocates only through its hooks (GL_MALLOC ... GL_FREE, gl-impl.h), so that a
# firmware build of the amalgamation can route every allocation; the rest of the library only
# through ELM_MALLOC ... ELM_FREE (models/common/alloc.h, which ggml-lite's hooks follow when set).
check ggml_lite_allocates_through_hooks sh -c "! grep -n -E '(^|[^A-Za-z0-9_])(malloc|calloc|realloc|aligned_alloc|free|strdup|strndup)\(' ggml-lite/*.c"
check library_allocates_through_hooks sh -c "! grep -n -E '(^|[^A-Za-z0-9_])(malloc|calloc|realloc|aligned_alloc|free|strdup|strndup)\(' models/*/*.c convert/*.c quant/*.c"
# The CLI (examples/edgelm and the server it runs, examples/server) is an application of the
# public API: it includes edgelm.h, ggml-lite.h and headers of examples/ only. The internal
# headers it still needs are named below, file by file, so that no other one creeps in:
# the library's JSON reader (tokenize's --compare file, finetune's data, the server's requests)
# and the Unicode classes (the QA span mapping).
cli_internal_includes() { # ROOT: prints "FILE: HEADER" for each include outside that rule
    for f in "$1"/examples/edgelm/*.[ch] "$1"/examples/server/*.[ch]; do
        d=$(dirname "$f")
        sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | while read -r h; do
            case "$h" in edgelm.h|ggml-lite.h) continue ;; esac
            if [ -f "$d/$h" ]; then
                case "$(realpath "$d/$h")" in "$(realpath "$1")"/examples/*) continue ;; esac
            fi
            case "$(basename "$f"):$h" in
            cmd_tokenize.c:json.h|cmd_finetune.c:json.h) continue ;;
            cli_qa.c:unicode.h|cmd_tag_qa.c:unicode.h) continue ;;
            jsonw.c:json.h|oai.h:json.h|server_impl.h:json.h) continue ;;
            esac
            echo "$f: $h"
        done
    done
}
no_cli_internal_includes() { cli_internal_includes "$1" > "$TMPD/cli-inc"; cat "$TMPD/cli-inc"; test ! -s "$TMPD/cli-inc"; }
check cli_includes_only_public_headers no_cli_internal_includes .
# ... and the check sees one: a copy of the CLI with an internal header added to a command.
mkdir -p "$TMPD/copy/examples" && cp -r examples/edgelm examples/server "$TMPD/copy/examples/" &&
    sed -i '1i #include "arch.h"' "$TMPD/copy/examples/edgelm/cmd_info.c" &&
    sed -i '1i #include "vocab.h"' "$TMPD/copy/examples/edgelm/cmd_generate.c"
sees_internal() { cli_internal_includes "$TMPD/copy" > "$TMPD/seen"; cat "$TMPD/seen"; test "$(wc -l < "$TMPD/seen")" -eq 2 && grep -q 'cmd_info.c: arch.h$' "$TMPD/seen" && grep -q 'cmd_generate.c: vocab.h$' "$TMPD/seen"; }
check cli_include_check_sees_internal_headers sees_internal
finish
