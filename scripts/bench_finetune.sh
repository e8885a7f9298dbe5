#!/bin/sh
# Fine-tuning speed, edgelm beside PyTorch (BENCHMARKS.md / docs/benchmarks-log.md, "Fine-tuning"):
# for a shape (tiny: bert-tiny, base: bert-base; random weights), sequence classification on
# batches of B x 128 tokens, forward + backward + clipping + AdamW, with 1 and 2 threads
# (torch.set_num_threads matched). The two sides alternate, R rounds each; medians.
#   edgelm: `finetune --epochs 1` (2 steps) and `--epochs 5` (10 steps) on 2B examples; seconds
#           per step = (wall(10 steps) - wall(2 steps)) / 8, so loading, tokenising and saving
#           cancel; peak RSS of the 10-step run (/usr/bin/time).
#   PyTorch: scripts/bench_finetune_torch.py (the same architecture in plain PyTorch; 2 timed
#           steps after a warm-up step), its own peak RSS.
# TORCH_BLAS_DIR: a folder holding libblas.so.3 for torch (Debian's python3-torch calls the system
# libblas.so.3, the netlib reference BLAS unless OpenBLAS is installed): e.g. `apt-get download
# libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb ob` and
# TORCH_BLAS_DIR=ob/usr/lib/x86_64-linux-gnu/openblas-openmp (OpenMP threads follow
# torch.set_num_threads). The BLAS torch loaded is printed.
# usage: sh scripts/bench_finetune.sh SHAPE B R [DIR]     e.g. sh scripts/bench_finetune.sh tiny 16 3
set -e
shape=${1:-tiny}; B=${2:-16}; R=${3:-3}; dir=${4:-/tmp/ft-bench-$shape}
EDGELM=${EDGELM:-build/edgelm}
PY=/usr/bin/python3
[ -f "$dir/bert-$shape.gguf" ] || {
    $PY scripts/bench_finetune_make.py "$dir" "$shape" $((2 * B))
    "$EDGELM" convert "$dir/bert-$shape" -o "$dir/bert-$shape.gguf" 2> /dev/null
}
now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ft() { # threads epochs -> wall seconds; peak RSS (KB) into $dir/rss
    t0=$(now)
    /usr/bin/time -f %M -o "$dir/rss" "$EDGELM" finetune -m "$dir/bert-$shape.gguf" --task classify -f "$dir/train.tsv" \
        --save "$dir/out.gguf" --batch "$B" --max-len 128 --eval-split 0 --epochs "$2" -t "$1" 2> /dev/null
    echo "$(now) $t0" | awk '{ print $1 - $2 }'
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load average at the start; $(nproc) CPUs)"
: > "$dir/torch.log"
for t in 1 2; do
    : > "$dir/e$t"; : > "$dir/p$t"; : > "$dir/m$t"
    for r in $(seq "$R"); do
        a=$(ft "$t" 1); b=$(ft "$t" 5); rss=$(cat "$dir/rss")
        echo "$a $b" | awk -v B="$B" '{ print B / (($2 - $1) / 8) }' >> "$dir/e$t"
        echo "$rss" >> "$dir/m$t"
        LD_LIBRARY_PATH=${TORCH_BLAS_DIR:+$TORCH_BLAS_DIR:}${LD_LIBRARY_PATH:-} $PY scripts/bench_finetune_torch.py "$t" "$shape" "$B" 2 |
            tee -a "$dir/torch.log" | sed 's/.*: \([0-9.]*\) sequences.*peak RSS \([0-9]*\) MB/\1 \2/' >> "$dir/p$t"
    done
    e=$(median < "$dir/e$t"); p=$(cut -d' ' -f1 "$dir/p$t" | median)
    em=$(median < "$dir/m$t"); pm=$(cut -d' ' -f2 "$dir/p$t" | median)
    echo "$shape B=$B threads=$t: edgelm $e seq/s (runs: $(tr '\n' ' ' < "$dir/e$t")), peak RSS $((em / 1024)) MB;" \
         "PyTorch $p seq/s (runs: $(cut -d' ' -f1 "$dir/p$t" | tr '\n' ' ')), peak RSS $pm MB; ratio $(echo "$e $p" | awk '{ printf "%.2f", $1 / $2 }')x"
done
echo "PyTorch: $(sed -n 's/^\(torch [^)]*)\).*/\1/p' "$dir/torch.log" | sort -u | tr '\n' ' ')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (at the end)"
