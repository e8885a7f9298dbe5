#!/bin/sh
# Installs (or uninstalls) what `make install` puts under DESTDIR/PREFIX:
#   bin/edgelm, lib/libedgelm.a (public symbols only), lib/libedgelm.so.VERSION with its
#   soname link libedgelm.so.SOVERSION and the development link libedgelm.so,
#   include/edgelm.h, include/ggml-lite.h, lib/pkgconfig/edgelm.pc (prefix = PREFIX).
# usage: install.sh install|uninstall DESTDIR PREFIX BUILD VERSION SOVERSION
set -e
[ $# -eq 6 ] || { echo "usage: $0 install|uninstall DESTDIR PREFIX BUILD VERSION SOVERSION" >&2; exit 2; }
mode=$1 destdir=$2 prefix=$3 build=$4 version=$5 soversion=$6
case "$prefix" in /*) ;; *) echo "install.sh: PREFIX must be an absolute path, got '$prefix'" >&2; exit 2 ;; esac
root="$destdir$prefix"
files="bin/edgelm lib/libedgelm.a lib/libedgelm.so.$version lib/libedgelm.so.$soversion lib/libedgelm.so
include/edgelm.h include/ggml-lite.h lib/pkgconfig/edgelm.pc"

if [ "$mode" = uninstall ]; then
    for f in $files; do
        if [ -e "$root/$f" ] || [ -L "$root/$f" ]; then rm -f "$root/$f" && echo "removed $root/$f"; fi
    done
    exit 0
fi
[ "$mode" = install ] || { echo "install.sh: unknown mode '$mode'" >&2; exit 2; }

mkdir -p "$root/bin" "$root/lib/pkgconfig" "$root/include"
cp "$build/edgelm" "$root/bin/edgelm.tmp" && chmod 755 "$root/bin/edgelm.tmp" && mv "$root/bin/edgelm.tmp" "$root/bin/edgelm"
cp "$build/dist/libedgelm.a" "$root/lib/libedgelm.a" && chmod 644 "$root/lib/libedgelm.a"
if [ -f "$build/libedgelm.so.$version" ]; then
    cp "$build/libedgelm.so.$version" "$root/lib/libedgelm.so.$version.tmp"
    chmod 755 "$root/lib/libedgelm.so.$version.tmp"
    mv "$root/lib/libedgelm.so.$version.tmp" "$root/lib/libedgelm.so.$version"
    ln -sf "libedgelm.so.$version" "$root/lib/libedgelm.so.$soversion"
    ln -sf "libedgelm.so.$version" "$root/lib/libedgelm.so"
else # a STATIC=1 build (cross-compiled tests) has none; `make install` always builds it
    echo "install.sh: no $build/libedgelm.so.$version: installing the static library only" >&2
fi
cp include/edgelm.h ggml-lite/ggml-lite.h "$root/include/"
chmod 644 "$root/include/edgelm.h" "$root/include/ggml-lite.h"
cat > "$root/lib/pkgconfig/edgelm.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: edgelm
Description: quantized CPU runtime for pretrained language models (GPT decoders, BERT, ELMo, T5)
Version: $version
Libs: -L\${libdir} -ledgelm
Libs.private: -lm -lpthread
Cflags: -I\${includedir}
PC
echo "installed edgelm $version under $root"
