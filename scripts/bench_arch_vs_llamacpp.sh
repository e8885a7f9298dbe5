#!/bin/sh
# edgelm beside llama.cpp b10573 on random-weight files with the shapes of the small chat models
# of issue #11 (BENCHMARKS.md, "Small chat models"): Qwen3-0.6B, Llama-3.2-1B, Gemma-3-270M,
# LFM2-350M (scripts/make_arch_checkpoints.py --real).
#
#   sh scripts/bench_arch_vs_llamacpp.sh [-t 1,2] [-p 64,512] [-n 128] [-r 3]
#                                        [-q "Q4_K_M Q8_0 Q4_0"] [NAME ...]
#
# For each NAME (default: gemma3 lfm2 qwen3 llama): the Hugging Face folder is generated in
# $WORK (default build/arch-real), converted to F16 GGUF by `edgelm convert` (kept for the next
# call; `rm build/arch-real/*-f16.gguf` when done: Llama-3.2-1B's is 2.5 GB), quantized to each
# type by `edgelm quantize` (llama-quantize's mixes), then scripts/bench_vs_llamacpp.py runs the
# two programs alternately, one repetition each, -r times, and prints medians and ratios.
# llama.cpp's side is scripts/llamacpp_bench.c (llama-bench's method, compiled here against
# $LCPP, default /work/peer/llama.cpp): llama-bench itself always enables llama.cpp's extra
# buffer types, whose AMX kernels die with SIGILL on this VM for every quantized model. Both use
# an F16 KV cache and no flash attention; edgelm measures the read bandwidth with a 1 GiB buffer
# (--bw-mib 1024: the VM reports a 480 MiB L3, so the default 16x L3 would be 7.5 GiB).
# EDGELM (default build/edgelm) names our program; KEEP=1 keeps the quantized files; everything
# runs under nice -n 19.
set -eu
T=1,2 P=64,512 N=128 R=3 TYPES="Q4_K_M Q8_0 Q4_0"
while [ $# -gt 0 ]; do
    case $1 in
    -t) T=$2; shift 2 ;;
    -p) P=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    -r) R=$2; shift 2 ;;
    -q) TYPES=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench_arch_vs_llamacpp.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
NAMES=${*:-gemma3 lfm2 qwen3 llama}
LCPP=${LCPP:-/work/peer/llama.cpp}
EL=${EDGELM:-build/edgelm}
W=${WORK:-build/arch-real}
mkdir -p "$W"
LB=$W/llamacpp_bench
cc -O2 -o "$LB" scripts/llamacpp_bench.c -I"$LCPP/include" -I"$LCPP/ggml/include" \
    -L"$LCPP/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$LCPP/build/bin"
for n in $NAMES; do
    if [ ! -f "$W/$n-f16.gguf" ]; then
        nice -n 19 /usr/bin/python3 scripts/make_arch_checkpoints.py --real "$W" "$n"
        nice -n 19 "$EL" convert "$W/$n" -o "$W/$n-f16.gguf" --outtype f16 > /dev/null
        rm -rf "${W:?}/$n"
    fi
    files=
    for q in $TYPES; do
        lq=$(echo "$q" | tr 'A-Z' 'a-z')
        [ -f "$W/$n-$lq.gguf" ] || nice -n 19 "$EL" quantize "$W/$n-f16.gguf" "$W/$n-$lq.gguf" "$q" > /dev/null
        files="$files $W/$n-$lq.gguf"
    done
    # shellcheck disable=SC2086
    nice -n 19 /usr/bin/python3 scripts/bench_vs_llamacpp.py --llama-bench "$LB" --edgelm "$EL" \
        --reps "$R" -t "$T" -p "$P" -n "$N" --edgelm-args="--bw-mib 1024" --quiet 1.01 \
        --raw "$W/$n.raw.json" $files
    [ -n "${KEEP:-}" ] || rm -f $files
done
