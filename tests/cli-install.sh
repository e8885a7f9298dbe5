# The library as an application embeds it: scripts/install.sh (what `make install` runs) into a
# temporary prefix, uninstall, pkg-config, the examples built against the installed headers and
# libraries only (shared with an rpath, and static) and run on the fixtures with results
# compared to the CLI's, and the public headers / examples in a C++17 translation unit.
. tests/tf-lib.sh
CC=${CC:-cc}
CXX=${CXX:-g++}
ver=$(sed -n 's/^#define ELM_VERSION "\(.*\)"/\1/p' include/edgelm.h)
so_ver=${ver%%.*}
prefix="$TMPD/prefix"
lib_flags=$(echo " $ELM_LDFLAGS " | sed 's/ -static / /')

check install_into_prefix sh scripts/install.sh install "" "$prefix" "$BUILD" "$ver" "$so_ver"
check installed_files sh -c "cd '$prefix' && test -x bin/edgelm && test -f lib/libedgelm.a && test -f include/edgelm.h && test -f include/ggml-lite.h && test -f lib/pkgconfig/edgelm.pc"
have_so=false
if [ -f "$BUILD/libedgelm.so.$ver" ]; then
    have_so=true
    check installed_shared_library sh -c "cd '$prefix' && test -f lib/libedgelm.so.$ver && test -L lib/libedgelm.so.$so_ver && test -L lib/libedgelm.so"
fi
check destdir_staging sh -c "sh scripts/install.sh install '$TMPD/stage' /usr/local '$BUILD' '$ver' '$so_ver' >/dev/null && grep -q '^prefix=/usr/local\$' '$TMPD/stage/usr/local/lib/pkgconfig/edgelm.pc' && sh scripts/install.sh uninstall '$TMPD/stage' /usr/local '$BUILD' '$ver' '$so_ver' >/dev/null && test -z \"\$(find '$TMPD/stage' -type f -o -type l)\""
check install_refuses_relative_prefix sh -c "! sh scripts/install.sh install '' relative '$BUILD' '$ver' '$so_ver' 2>/dev/null"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# Static linking through pkg-config --static: libedgelm.a picked over libedgelm.so; a -static
# build (the aarch64 runs) links everything statically anyway.
case " $ELM_LDFLAGS " in
    *" -static "*) static_libs="$(pkg-config --static --libs edgelm)" ;;
    *) static_libs="$(pkg-config --libs-only-L edgelm) -Wl,-Bstatic -ledgelm -Wl,-Bdynamic $(pkg-config --static --libs-only-l edgelm | sed 's/-ledgelm//')" ;;
esac
check pkg_config_flags sh -c "test \"\$(pkg-config --modversion edgelm)\" = '$ver' && pkg-config --cflags edgelm | grep -q -- '-I$prefix/include' && pkg-config --libs edgelm | grep -q -- '-ledgelm' && pkg-config --static --libs edgelm | grep -q -- '-lpthread'"

# Builds examples/embed/$1.c against the installed copy: $2 = shared | static.
build_example() {
    name=$1 kind=$2 out="$TMPD/$1-$2"
    if [ "$kind" = shared ]; then
        $CC -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags edgelm) "examples/embed/$name.c" -o "$out" \
            $lib_flags $(pkg-config --libs edgelm) -Wl,-rpath,"$prefix/lib" -lm
    else
        $CC -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags edgelm) "examples/embed/$name.c" -o "$out" \
            $ELM_LDFLAGS $static_libs
    fi
}
kinds="static"
if [ -z "$EMU" ] && $have_so; then kinds="shared static"; fi
examples="generate-memory sentence-similarity elmo-vectors t5-translate model-info"
for k in $kinds; do
    for e in $examples; do
        check "example_builds_${k}_$e" build_example "$e" "$k"
    done
done
# The installed static library hides its internals: an application may define functions with
# the library's internal names (here two of them) and still link it.
cat > "$TMPD/clash.c" <<'SRC'
#include "edgelm.h"
#include <stdio.h>
int gl_compute_forward(void) { return 1; }
int elm_vocab_free(int x) { return x + 1; }
int main(void) { printf("%s %d\n", elm_version(), gl_compute_forward() + elm_vocab_free(1)); return 0; }
SRC
check static_lib_internal_names_free_for_apps sh -c "$CC -std=c11 -Wall -Werror $(pkg-config --cflags edgelm) '$TMPD/clash.c' -o '$TMPD/clash' $ELM_LDFLAGS $static_libs && $EMU '$TMPD/clash' | grep -q ' 3\$'"

# Libraries for distribution are built for the architecture's baseline with the faster kernel
# sets chosen at run time: what `make lib` / `make install` would run (make -n in a fresh
# folder, outside this make's variables) compiles every library object with the baseline flag,
# the kernel-set copies with their own flags, gl-cpu.c knowing them, and nothing -march=native;
# `make native` keeps -march=native. And the installed libedgelm.a was built so: every compile
# unit's producer (DWARF, gcc's recorded switches) names the baseline and none names native.
case "$(uname -m)" in
x86_64) baseline=-march=x86-64-v2 kset_flag=-mavx512vnni kset_def=-DGL_KSET_HAVE_avx2 native_flag=-march=native ;;
aarch64) baseline=-march=armv8-a kset_flag=-march=armv8.2-a+dotprod kset_def=-DGL_KSET_HAVE_dotprod native_flag=-mcpu=native ;;
*) baseline= ;;
esac
dry_make() { # TARGET: the commands `make TARGET` would run in a fresh build folder
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CC -u ARCH_FLAGS -u KSETS -u SIMD -u SAN -u STATIC \
        ${MAKE:-make} -n -B "$1" BUILD="$TMPD/dry" PREFIX="$TMPD/dry-prefix"
}
dist_baseline() { # TARGET: every library compile has the baseline, kernel sets and dispatch are in
    dry_make "$1" > "$TMPD/dry-out-$1" || return 1
    grep -E -- " -c (ggml-lite|models|convert|quant)/" "$TMPD/dry-out-$1" > "$TMPD/dry-lib"
    echo "$(wc -l < "$TMPD/dry-lib") library compiles"
    test "$(wc -l < "$TMPD/dry-lib")" -ge 40 &&
        ! grep -v -- " $baseline " "$TMPD/dry-lib" && ! grep -e '-march=native' -e '-mcpu=native' "$TMPD/dry-lib" &&
        grep -q -- "$kset_flag .*-DGL_KSET_COPY" "$TMPD/dry-lib" && grep -q -- "$kset_def .* -c ggml-lite/gl-cpu.c" "$TMPD/dry-lib"
}
installed_baseline() { # every compile unit of the installed libedgelm.a: the baseline, never native
    readelf --debug-dump=info "$prefix/lib/libedgelm.a" 2>/dev/null | sed -n 's/.*DW_AT_producer *: *\(([^)]*): *\)\{0,1\}//p' > "$TMPD/producers"
    echo "$(wc -l < "$TMPD/producers") compile units"; sort "$TMPD/producers" | uniq -c | cut -c1-160
    test "$(wc -l < "$TMPD/producers")" -ge 40 && ! grep -v -- " $baseline " "$TMPD/producers" &&
        ! grep -e '-march=native' -e '-mcpu=native' "$TMPD/producers"
}
if [ -z "$baseline" ]; then
    skip make_lib_builds_portable_baseline "no baseline named for $(uname -m)"
elif ! command -v "${MAKE:-make}" > /dev/null 2>&1; then
    skip make_lib_builds_portable_baseline "no make"
else
    check make_lib_builds_portable_baseline dist_baseline lib
    check make_install_builds_portable_baseline dist_baseline install
    check make_native_keeps_native sh -c "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CC ${MAKE:-make} -n -B native BUILD='$TMPD/dry' | grep -q -- ' $native_flag .* -c ggml-lite/gl-matmul.c'"
fi
lib_machine=$(readelf -h "$prefix/lib/libedgelm.a" 2>/dev/null | sed -n 's/^ *Machine: *//p' | head -n 1)
case "$lib_machine:$(uname -m)" in
*X86-64:x86_64|AArch64:aarch64) ;;
*) lib_machine= ;;
esac
if [ -z "$baseline" ] || [ -z "$lib_machine" ]; then
    skip installed_library_is_baseline "the installed library ($lib_machine) is not built for $(uname -m)"
elif ! readelf --debug-dump=info "$prefix/lib/libedgelm.a" 2>/dev/null | grep -q "DW_AT_producer.* -march="; then
    skip installed_library_is_baseline "the compiler records no -march in DW_AT_producer"
else
    check installed_library_is_baseline installed_baseline
fi

# Every example includes only edgelm.h (and the C library).
check examples_include_only_edgelm sh -c "! grep -h '^#include \"' examples/embed/*.c | grep -v '\"edgelm.h\"'"

# Runs the examples; each result is compared with the CLI's on the same model.
stories="$FIXTURES/stories260K/stories260K.gguf"
if [ -f "$stories" ]; then
    for k in $kinds; do
        check "generate_memory_equals_cli_$k" sh -c "$EMU '$TMPD/generate-memory-$k' '$stories' 'Once upon a time' 24 > '$TMPD/ex' && $EMU '$EDGELM' generate -m '$stories' -p 'Once upon a time' -n 24 --temp 0 > '$TMPD/cli' 2>/dev/null && test -s '$TMPD/ex' && cmp '$TMPD/ex' '$TMPD/cli'"
    done
    check generate_memory_reports_errors sh -c "printf 'GGUF' > '$TMPD/bad.gguf'; ! $EMU '$TMPD/generate-memory-static' '$TMPD/bad.gguf' hi 2> '$TMPD/e' && grep -q 'error: ' '$TMPD/e'"
else
    skip generate_memory_equals_cli "fixture $stories is absent"
fi
bert="$FIXTURES/hf-reference/bert"
if [ -f "$bert/config.json" ] && $EMU "$EDGELM" convert "$bert" -o "$TMPD/bert.gguf" 2>/dev/null; then
    # Cosine of the CLI's normalised embeddings of the same two sentences.
    check sentence_similarity_matches_cli sh -c "$EMU '$TMPD/sentence-similarity-static' '$TMPD/bert.gguf' 'the cat sat on the mat' 'a dog sat on a rug' 'hello world' > '$TMPD/sim' && test \$(wc -l < '$TMPD/sim') -eq 3 && $EMU '$EDGELM' embed -m '$TMPD/bert.gguf' -p 'the cat sat on the mat' -p 'a dog sat on a rug' --normalize > '$TMPD/emb' && awk -v got=\$(awk '\$1==0 && \$2==1 {print \$3}' '$TMPD/sim') 'NR==1{for(i=1;i<=NF;i++)a[i]=\$i; n=NF} NR==2{for(i=1;i<=NF;i++){ab+=a[i]*\$i; aa+=a[i]*a[i]; bb+=\$i*\$i}} END{c=ab/sqrt(aa*bb); d=c-got; if (d<0) d=-d; print \"cli\", c, \"example\", got; exit !(n>0 && d<2e-4)}' '$TMPD/emb'"
else
    skip sentence_similarity_matches_cli "fixture $bert is absent"
fi
elmo="$FIXTURES/elmo-bilm-tf/model"
if [ -f "$elmo/options.json" ] && $EMU "$EDGELM" convert "$elmo" -o "$TMPD/elmo.gguf" 2>/dev/null; then
    check elmo_vectors_runs sh -c "$EMU '$TMPD/elmo-vectors-static' '$TMPD/elmo.gguf' 'The cat sat on the mat .' > '$TMPD/ev' && grep -q '^layers 3, dim [0-9]*, words 7\$' '$TMPD/ev' && test \$(grep -c '|v| = ' '$TMPD/ev') -eq 7"
else
    skip elmo_vectors_runs "fixture $elmo is absent"
fi
t5="$FIXTURES/hf-reference/t5"
if [ -f "$t5/config.json" ] && $EMU "$EDGELM" convert "$t5" -o "$TMPD/t5.gguf" 2>/dev/null; then
    p="translate English to German: the quick brown fox"
    check t5_translate_equals_cli sh -c "$EMU '$TMPD/t5-translate-static' '$TMPD/t5.gguf' '$p' 16 > '$TMPD/tx' && $EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p '$p' -n 16 > '$TMPD/tc' 2>/dev/null && test -s '$TMPD/tx' && cmp '$TMPD/tx' '$TMPD/tc'"
else
    skip t5_translate_equals_cli "fixture $t5 is absent"
fi

# C++: the public headers and every example compile as C++17 with warnings as errors.
if command -v "$CXX" > /dev/null 2>&1; then
    check cxx17_public_headers "$CXX" -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -Iggml-lite -c tests/cxx-headers.cpp -o "$TMPD/cxx.o"
    for e in $examples; do
        check "cxx17_example_$e" "$CXX" -std=c++17 -Wall -Wextra -Werror -Iinclude -Iggml-lite -x c++ -fsyntax-only "examples/embed/$e.c"
    done
    if [ -z "$EMU" ] && $have_so; then
        check cxx17_links_and_runs sh -c "'$CXX' '$TMPD/cxx.o' -o '$TMPD/cxx' $lib_flags -L'$prefix/lib' -ledgelm -Wl,-rpath,'$prefix/lib' && '$TMPD/cxx' | grep -q ' ok\$'"
    fi
else
    skip cxx17_public_headers "no C++ compiler ($CXX)"
fi
check uninstall_removes_everything sh -c "sh scripts/install.sh uninstall '' '$prefix' '$BUILD' '$ver' '$so_ver' > /dev/null && test -z \"\$(find '$prefix' -type f -o -type l)\""
finish
