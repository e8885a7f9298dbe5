#!/bin/sh
# Runs libFuzzer harnesses one after the other, each for SECONDS on its corpus
# ($FUZZ_BUILD/corpus/<harness>, grown in place), and prints one line per harness with its
# executions. Exit status 1 when any harness found a crash (its input is in
# $FUZZ_BUILD/artifacts/<harness>/). Used by `make fuzz-smoke`; long runs: nice -n 19.
# FUZZ_RUNS=N also ends a harness after N executions (the 10^7 of docs/fuzzing.md), whichever
# of the two limits comes first.
# usage: scripts/fuzz_run.sh SECONDS build/fuzz/fuzz_X...
set -u
secs=$1; shift
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
export EDGELM_FUZZ_VOCAB_DIR="${EDGELM_FUZZ_VOCAB_DIR:-$FUZZ_BUILD/vocab}"
status=0
for bin in "$@"; do
    name=$(basename "$bin")
    h=${name#fuzz_}
    corpus="$FUZZ_BUILD/corpus/$h"
    art="$FUZZ_BUILD/artifacts/$h/"
    mkdir -p "$corpus" "$art"
    log="$FUZZ_BUILD/$name.log"
    extra=""
    # Input caps (docs/fuzzing.md): texts of 1 KB for the tokenizers (their cost is per byte;
    # long texts are tests/cli-reliability.sh's and test-limits'), 64 KB for the formats whose
    # fixtures are large but whose structure is at the front (the rest of such a seed is cut)
    case $h in
    tok_*) extra="-max_len=1024" ;;
    safetensors | spm_model | tokenizer_json) extra="-max_len=65536" ;;
    jinja) extra="-dict=tests/fuzz/jinja.dict" ;;
    esac
    [ -n "${FUZZ_RUNS:-}" ] && extra="$extra -runs=$FUZZ_RUNS"
    "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 $extra \
        -artifact_prefix="$art" "$corpus" >> "$log" 2>&1
    rc=$?
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+).*/\1/')
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "FAIL $name: exit $rc after ${execs:-?} executions; input in $art (log $log)"
        grep -E 'ERROR|runtime error|SUMMARY' "$log" | head -n 5
    else
        rate=$(grep -E '^stat::average_exec_per_sec' "$log" | tail -n 1 | awk '{print $2}')
        t=$(awk -v e="${execs:-0}" -v r="${rate:-0}" 'BEGIN { if (r > 0) printf "%.0f", e / r }')
        echo "ok   $name: ${execs:-?} executions in ${t:-$secs} s, coverage ${cov:-?}"
    fi
done
exit $status
