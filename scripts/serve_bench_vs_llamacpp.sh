#!/bin/sh
# `edgelm serve` beside llama.cpp's llama-server on the same GGUF and settings, one after the
# other (docs/benchmarks-log.md, "HTTP server"): -t 1, 2 slots of CTX positions each, then
# scripts/serve_bench.py with 1, 2 and 8 clients of REQS streamed completions of MAXTOK tokens.
#   sh scripts/serve_bench_vs_llamacpp.sh MODEL.gguf CTX REQS MAXTOK
# LLAMA_SERVER names the binary (default /work/peer/llama.cpp/build/bin/llama-server).
M=$1 C=$2 R=$3 N=$4
LS=${LLAMA_SERVER:-/work/peer/llama.cpp/build/bin/llama-server}
build/edgelm serve -m "$M" --port 18431 -t 1 -c "$C" --parallel 2 --queue 16 2> /dev/null & EP=$!
sleep 2
/usr/bin/python3 scripts/serve_bench.py 18431 --requests "$R" --max-tokens "$N" --label edgelm
kill -TERM $EP; wait $EP
$LS -m "$M" --host 127.0.0.1 --port 18432 -t 1 -c $((C * 2)) -np 2 --no-webui > /dev/null 2>&1 & LP=$!
i=0; while [ $i -lt 300 ] && ! curl -s localhost:18432/health | grep -q ok; do sleep 0.2; i=$((i+1)); done
/usr/bin/python3 scripts/serve_bench.py 18432 --requests "$R" --max-tokens "$N" --label llama-server
kill -TERM $LP; wait $LP
