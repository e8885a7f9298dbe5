#!/bin/sh
# Side-by-side ELMo speed: `edgelm elmo-bench` and scripts/elmo_torch_bench.py (a PyTorch biLM in
# AllenNLP's structure, same weights), run alternately ROUNDS times; each run reports its best of
# REPS batches after a warm-up batch, and the table gives the median over the rounds.
#
#   scripts/bench_elmo_vs_torch.sh DIR F32.gguf [OTHER.gguf ...]
#     DIR: options.json + weights .hdf5 (scripts/make_elmo_bench.py DIR), F32.gguf its
#     `edgelm convert DIR` at f32; OTHER.gguf (f16, q8_0 ...) are benchmarked beside it.
#   Environment: EDGELM (build/edgelm), PYTHON (/usr/bin/python3), ROUNDS (3), REPS (2),
#     THREADS (1,2), BATCH (32), TOKENS (20), MAXLOAD (1.0) and WAIT (600): before starting,
#     wait up to WAIT seconds for the 1-minute load average to fall below MAXLOAD (the machine
#     is shared); the load before and after every round is printed with the results.
#     TORCH_BLAS_DIR: a folder holding libblas.so.3, put on torch's LD_LIBRARY_PATH. Debian's
#     python3-torch calls the system libblas.so.3, by default the netlib reference BLAS (very
#     slow); e.g. `apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb ob`
#     and TORCH_BLAS_DIR=ob/usr/lib/x86_64-linux-gnu/openblas-openmp (its OpenMP threads follow
#     torch.set_num_threads). The BLAS torch loaded is printed.
set -eu
[ $# -ge 2 ] || { sed -n '2,18p' "$0"; exit 2; }
DIR=$1
shift
EDGELM=${EDGELM:-build/edgelm}
PYTHON=${PYTHON:-/usr/bin/python3}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-2}
THREADS=${THREADS:-1,2}
BATCH=${BATCH:-32}
TOKENS=${TOKENS:-20}
MAXLOAD=${MAXLOAD:-1.0}
WAIT=${WAIT:-600}
HERE=$(dirname "$0")
RAW=$(mktemp)
trap 'rm -f "$RAW" "$RAW.blas"' EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }

waited=0
while [ "$(echo "$(load1) >= $MAXLOAD" | bc)" = 1 ] && [ "$waited" -lt "$WAIT" ]; do
    sleep 15
    waited=$((waited + 15))
done
echo "start: load average $(cut -d' ' -f1-3 /proc/loadavg) after waiting ${waited}s (limit $MAXLOAD)"

run_edgelm() { # one elmo-bench run of model $1 -> raw lines "edgelm TYPE THREADS TIME"
    "$EDGELM" elmo-bench -m "$1" -t "$THREADS" --batch "$BATCH" --tokens "$TOKENS" --reps "$REPS" 2>/dev/null |
        awk -F'|' '$4 ~ /^ *[0-9]+ *$/ { gsub(/ /, ""); print "edgelm", $3, $4, $6 }' >>"$RAW"
}

run_torch() {
    LD_LIBRARY_PATH=${TORCH_BLAS_DIR:+$TORCH_BLAS_DIR:}${LD_LIBRARY_PATH:-} "$PYTHON" "$HERE/elmo_torch_bench.py" bench "$DIR" -t "$THREADS" --batch "$BATCH" --tokens "$TOKENS" \
        --reps "$REPS" --json |
        "$PYTHON" -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l); print("torch F32", r["threads"], r["time"])
    print("torch %s, BLAS %s" % (r["torch"], r["blas"]), file=sys.stderr)' 2>"$RAW.blas" >>"$RAW"
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
    before=$(load1)
    if [ $((r % 2)) = 1 ]; then # alternate who goes first
        for m in "$@"; do run_edgelm "$m"; done
        run_torch
    else
        run_torch
        for m in "$@"; do run_edgelm "$m"; done
    fi
    echo "round $r: load average $before before, $(load1) after"
    r=$((r + 1))
done

sort -u "$RAW.blas"
"$PYTHON" - "$RAW" "$BATCH" "$TOKENS" "$ROUNDS" <<'EOF'
import statistics, sys
raw, batch, tokens, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
runs = {}
for line in open(raw):
    impl, wtype, threads, t = line.split()
    runs.setdefault((impl, wtype, int(threads)), []).append(float(t))
torch_t = {k[2]: statistics.median(v) for k, v in runs.items() if k[0] == "torch"}
print()
print("| implementation | weights | threads | time/batch (s) | tokens/s | range of tokens/s | speed vs PyTorch |")
print("|---|---|---|---|---|---|---|")
order = {"torch": 0, "edgelm": 1}
for key in sorted(runs, key=lambda k: (k[2], order[k[0]], k[1] != "F32", k[1])):
    impl, wtype, threads = key
    v = runs[key]
    med = statistics.median(v)
    tps = [batch * tokens / x for x in v]
    name = "PyTorch (AllenNLP structure)" if impl == "torch" else "edgelm"
    ratio = "%.2f×" % (torch_t[threads] / med) if threads in torch_t else "-"
    print("| %s | %s | %d | %.3f | %.1f | %.1f–%.1f | %s |" % (
        name, wtype, threads, med, batch * tokens / med, min(tps), max(tps), ratio))
print("\nmedians of %s rounds; batch %d sentences x %d tokens" % (rounds, batch, tokens))
EOF
