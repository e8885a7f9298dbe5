# Sourced by tests/cli-*.sh (not itself a test): the functions the public headers declare.
#   public_functions  prints, one per line and sorted, every function declared with ELM_API in
#                     include/edgelm.h or GL_API in ggml-lite/ggml-lite.h (preprocessed, so
#                     comments never count)
public_functions() {
    for h in include/edgelm.h ggml-lite/ggml-lite.h; do
        ${HOSTCC:-cc} -E -P -Iggml-lite -DELM_API=@api@ -DGL_API=@api@ "$h"
    done | tr '\n' ' ' | tr ';' '\n' | grep '@api@' |
        sed -E 's/^.*@api@[^(]*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*$/\1/' | sort -u
}
#   unmarked_declarations  prints every elm_/gl_ function declaration of those headers that
#                     lacks its ELM_API / GL_API mark (it would not be exported: should be none)
unmarked_declarations() {
    for h in include/edgelm.h ggml-lite/ggml-lite.h; do
        ${HOSTCC:-cc} -E -P -Iggml-lite -DELM_API=@api@ -DGL_API=@api@ "$h"
    done | tr '\n' ' ' | tr ';{}' '\n\n\n' | grep -v -e '@api@' -e typedef | grep -E '(^|[^A-Za-z0-9_])(elm|gl)_[a-z0-9_]+ *\(' || true
}
