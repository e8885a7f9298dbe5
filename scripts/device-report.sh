#!/bin/sh
# Measures edgelm on this machine (a Raspberry Pi, a laptop ..) and prints a Markdown report to
# paste into an issue: the board, CPU, kernels, RAM and OS, then prompt and generation tokens/s,
# the share of the memory read bandwidth generation reached, and the peak resident memory, per
# model and thread count (`edgelm bench -m`, like llama-bench).
#
# usage: sh scripts/device-report.sh [-t LIST] [-p N] [-n N] [-r N] [--bw-mib N] MODEL.gguf [MODEL2.gguf ..]
#   -t LIST    thread counts (default: bench's, 1 and the physical cores up to 4)
#   -p N       prompt tokens (default 64)       -n N   generated tokens (default 128)
#   -r N       repetitions (default 3)          --bw-mib N   bandwidth buffer (default: bench's)
# EDGELM: the edgelm binary (default build/edgelm, else edgelm on the PATH).
set -u
usage() { sed -n '7,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
fail() { echo "device-report: $1" >&2; exit "${2:-1}"; }

EDGELM=${EDGELM:-build/edgelm}
[ -x "$EDGELM" ] || EDGELM=$(command -v edgelm 2>/dev/null) || fail "no edgelm: build it (make) or set EDGELM=PATH"
threads="" prompt=64 gen=128 reps=3 bw=""
while [ $# -gt 0 ]; do
    case "$1" in
    -t|--threads) [ $# -ge 2 ] || usage; threads=$2; shift 2 ;;
    -p|--n-prompt) [ $# -ge 2 ] || usage; prompt=$2; shift 2 ;;
    -n|--n-gen) [ $# -ge 2 ] || usage; gen=$2; shift 2 ;;
    -r|--repetitions) [ $# -ge 2 ] || usage; reps=$2; shift 2 ;;
    --bw-mib) [ $# -ge 2 ] || usage; bw=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "device-report: unknown option '$1'" >&2; usage ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || usage
models=""
for m in "$@"; do
    [ -r "$m" ] || fail "cannot read '$m': give GGUF model files" 2
    models="${models:+$models,}$m"
done

# The CPU's name: x86's "model name", else lscpu's, else the ARM part number of /proc/cpuinfo.
cpu_name() {
    n=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
    [ -n "$n" ] || n=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
    if [ -z "$n" ]; then
        case $(sed -n 's/^CPU part[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1) in
        0xd03) n="Cortex-A53" ;; 0xd08) n="Cortex-A72" ;; 0xd0b) n="Cortex-A76" ;; 0xd05) n="Cortex-A55" ;;
        0xc07) n="Cortex-A7" ;; "") n="unknown" ;; *) n="ARM part $(sed -n 's/^CPU part[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" ;;
        esac
    fi
    echo "$n"
}
board=$({ tr -d "\000" < /proc/device-tree/model; } 2>/dev/null || true)
[ -n "$board" ] || board=$(cat /sys/devices/virtual/dmi/id/product_name 2>/dev/null || true)
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
ram=$(awk '/^MemTotal:/ { printf "%.0f MiB", $2 / 1024 }' /proc/meminfo 2>/dev/null)
version=$("$EDGELM" version 2>/dev/null) || fail "'$EDGELM version' failed"
# `edgelm version` prints the build on its first line, the CPU features and the kernel set after
kernels=$(printf '%s\n' "$version" | sed -n 's/^kernel set: //p')
version=$(printf '%s\n' "$version" | head -n 1)

csv=$(mktemp) || exit 1
trap 'rm -f "$csv"' EXIT
set -- -m "$models" -p "$prompt" -n "$gen" -r "$reps" -o csv
[ -n "$threads" ] && set -- "$@" -t "$threads"
[ -n "$bw" ] && set -- "$@" --bw-mib "$bw"
"$EDGELM" bench "$@" > "$csv" || fail "edgelm bench failed (its message is above)"

echo "### edgelm on ${board:-this machine}"
echo
echo "| | |"
echo "| --- | --- |"
echo "| board | ${board:-unknown} |"
echo "| CPU | $(cpu_name), $ncpu CPUs online |"
echo "| edgelm | ${version#edgelm } |"
[ -n "$kernels" ] && echo "| kernels | $kernels |"
echo "| RAM | ${ram:-unknown} |"
echo "| OS | $(uname -srm) |"
echo "| command | \`edgelm bench -m MODEL -p $prompt -n $gen -r $reps${threads:+ -t $threads}\` |"
echo
# One row per model and thread count: the pp and tg rows of the CSV side by side.
awk -F, -v p="pp$prompt" -v g="tg$gen" '
    NR == 1 { next }
    {
        k = $1 SUBSEP $4 SUBSEP $5 SUBSEP $6
        if (!(k in seen)) { seen[k] = 1; order[++n] = k; name[k] = $1; type[k] = $4 ($5 == 1 ? " (x8)" : ""); thr[k] = $6 }
        if ($7 == p) pp[k] = sprintf("%.2f ± %.2f", $8, $9)
        if ($7 == g) { tg[k] = sprintf("%.2f ± %.2f", $8, $9); bw[k] = sprintf("%.0f %% of %.1f GB/s", 100 * $11, $10) }
        rss = $12 / 1048576; if (rss > peak[k]) peak[k] = rss
        mb[k] = $2 / 1048576
    }
    END {
        printf "| model | type | size MiB | threads | %s t/s | %s t/s | generation read | peak RSS MiB |\n", p, g
        print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        for (i = 1; i <= n; i++) {
            k = order[i]
            printf "| %s | %s | %.1f | %d | %s | %s | %s | %.1f |\n", name[k], type[k], mb[k], thr[k],
                   (k in pp) ? pp[k] : "-", (k in tg) ? tg[k] : "-", (k in bw) ? bw[k] : "-", peak[k]
        }
    }' "$csv"
