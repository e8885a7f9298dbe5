#!/bin/sh
# `edgelm serve` beside llama.cpp's llama-server on the same GGUF and settings
# (docs/benchmarks-log.md, "HTTP server"): -t THREADS, NP slots of CTX positions each, then
# scripts/serve_bench.py with 1, 2 and 8 clients of REQS streamed completions of MAXTOK tokens.
#   sh scripts/serve_bench_vs_llamacpp.sh MODEL.gguf CTX REQS MAXTOK [ROUNDS] [NP]
# ROUNDS (default 1) alternates the order: edgelm first in odd rounds, llama-server first in
# even ones, so that a change of the machine's load between the two falls on both sides.
# LLAMA_SERVER names the binary (default /work/peer/llama.cpp/build/bin/llama-server);
# LLAMA_ARGS adds options to it (default "-fa off -nr": its repack/AMX paths crash on this VM);
# TTFT_SAMPLES (default 60) sets the samples of the 1-client time to first token; THREADS
# (default 1) the threads of both servers.
M=$1 C=$2 R=$3 N=$4 ROUNDS=${5:-1} NP=${6:-2}
LS=${LLAMA_SERVER:-/work/peer/llama.cpp/build/bin/llama-server}
LA=${LLAMA_ARGS:--fa off -nr}
T=${THREADS:-1}
TS=${TTFT_SAMPLES:-60} # streamed 2-token requests for the time to first token alone
wait_health() { # PORT: at most 60 s
    i=0; while [ $i -lt 300 ] && ! curl -s "localhost:$1/health" | grep -q ok; do sleep 0.2; i=$((i+1)); done
}
run_edgelm() {
    build/edgelm serve -m "$M" --port 18431 -t "$T" -c "$C" --parallel "$NP" --queue 16 2> /dev/null & EP=$!
    wait_health 18431
    echo "load before edgelm: $(cut -d' ' -f1-3 /proc/loadavg)"
    /usr/bin/python3 scripts/serve_bench.py 18431 --requests "$R" --max-tokens "$N" --label edgelm --ttft-samples "$TS"
    kill -TERM $EP; wait $EP
}
run_llama() {
    # shellcheck disable=SC2086
    $LS -m "$M" --host 127.0.0.1 --port 18432 -t "$T" -c $((C * NP)) -np "$NP" --no-webui $LA > /dev/null 2>&1 & LP=$!
    wait_health 18432
    echo "load before llama-server: $(cut -d' ' -f1-3 /proc/loadavg)"
    /usr/bin/python3 scripts/serve_bench.py 18432 --requests "$R" --max-tokens "$N" --label llama-server --ttft-samples "$TS"
    kill -TERM $LP; wait $LP
}
r=1
while [ $r -le "$ROUNDS" ]; do
    echo "round $r ($(date -u +%H:%M:%S) UTC)"
    if [ $((r % 2)) = 1 ]; then run_edgelm; run_llama; else run_llama; run_edgelm; fi
    r=$((r + 1))
done
