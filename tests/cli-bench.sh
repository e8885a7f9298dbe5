# edgelm bench -m: llama-bench-like table and JSON on stories260K (the shape of the output, not
# the speed: no timing is checked). A small bandwidth buffer and few repetitions keep it quick
# under qemu and sanitizers.
. tests/tf-lib.sh
M="$FIXTURES/stories260K/stories260K.gguf"
if [ -f "$M" ]; then
    B="--bw-mib 8 -r 2"
    edgelm bench -m "$M" -t 1,2 -p 16 -n 8 $B > "$TMPD/t" 2> "$TMPD/te"
    check bench_table_exits_0 test $? -eq 0
    check bench_table_header grep -q '^| model | size | params | type | threads | test | t/s | % of read bw | peak RSS | RSS |$' "$TMPD/t"
    # 2 thread counts x (pp16, tg8), in that order; model size/params from the file
    check bench_table_four_rows test "$(grep -c '^| stories260K |' "$TMPD/t")" -eq 4
    check bench_table_rows sh -c "grep '^| stories260K' '$TMPD/t' | awk -F' [|] ' '{print \$5, \$6}' | tr '\n' ';' | grep -qx '1 pp16;1 tg8;2 pp16;2 tg8;'"
    check bench_table_pp_row grep -Eq '^\| stories260K \| 1\.12 MiB \| 0\.29 M \| F32 \| 1 \| pp16 \| [0-9]+\.[0-9]{2} ± [0-9]+\.[0-9]{2} \|  \| [0-9]+\.[0-9] MiB \| [0-9]+\.[0-9] MiB \|$' "$TMPD/t"
    check bench_table_tg_bw grep -Eq '^\| stories260K .* \| 2 \| tg8 \| [0-9.]+ ± [0-9.]+ \| [0-9]+% of [0-9.]+ GB/s \| [0-9.]+ MiB \| [0-9.]+ MiB \|$' "$TMPD/t"
    check bench_nothing_on_stderr test ! -s "$TMPD/te"

    edgelm bench -m "$M" -t 1 -p 16,0 -n 8 $B -o json > "$TMPD/j"
    check bench_json_exits_0 test $? -eq 0
    check bench_json_array sh -c "head -n 1 '$TMPD/j' | grep -qx '\[' && tail -n 1 '$TMPD/j' | grep -qx '\]'"
    # one object per line: -p 0 adds no test, so pp16 and tg8
    check bench_json_two_objects test "$(grep -c '^  {.*}' "$TMPD/j")" -eq 2
    check bench_json_keys sh -c "grep '^  {' '$TMPD/j' | grep '\"n_threads\": 1,' | grep -E '\"avg_ts\": [0-9]+\.[0-9]+,' | grep -E '\"stddev_ts\": [0-9]+\.[0-9]+,' | grep '\"model_type\": \"llama F32\"' | grep -c '\"model_n_params\": 292800,' | grep -qx 2"
    check bench_json_rss sh -c "test \$(grep -Ec '\"rss_peak_bytes\": [1-9][0-9]*, \"rss_bytes\": [1-9][0-9]*' '$TMPD/j') -eq 2"
    check bench_bad_cache_type sh -c "! $EMU '$EDGELM' bench -m '$M' -ctk q4_0 2> '$TMPD/e3' && grep -q 'q4_0' '$TMPD/e3'"
    check bench_json_tests sh -c "grep -q '\"test\": \"pp16\", ' '$TMPD/j' && grep -q '\"test\": \"tg8\", ' '$TMPD/j'"
    check bench_json_tg_bw sh -c "grep '\"test\": \"tg8\"' '$TMPD/j' | grep -Eq '\"read_bw_gbps\": [0-9.]+, \"bw_fraction\": [0-9.]+}$'"
    check bench_json_commas sh -c "test \$(grep -c '^  {.*},$' '$TMPD/j') -eq 1"
    # scripts/device-report.sh: the machine block and one row per model and thread count with
    # pp/tg tokens/s, the read-bandwidth share and the peak RSS (under qemu through a wrapper).
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$EMU" "$EDGELM" > "$TMPD/edgelm-wrap" && chmod +x "$TMPD/edgelm-wrap"
    EDGELM="$TMPD/edgelm-wrap" sh scripts/device-report.sh -t 1,2 -p 8 -n 4 -r 1 --bw-mib 8 "$M" > "$TMPD/dr" 2> "$TMPD/dre"
    check device_report_exits_0 test $? -eq 0
    check device_report_machine sh -c "head -n 1 '$TMPD/dr' | grep -q '^### edgelm on ' && grep -Eq '^\| CPU \| .+, [0-9]+ CPUs online \|$' '$TMPD/dr' &&
        grep -Eq '^\| edgelm \| [0-9]+\.[0-9]+\.[0-9]+ \(.+\) \|$' '$TMPD/dr' && grep -Eq '^\| RAM \| [0-9]+ MiB \|$' '$TMPD/dr' &&
        grep -q '^| model | type | size MiB | threads | pp8 t/s | tg4 t/s | generation read | peak RSS MiB |$' '$TMPD/dr'"
    check device_report_rows sh -c "test \$(grep -c '^| stories260K |' '$TMPD/dr') -eq 2 &&
        grep -Eq '^\| stories260K \| F32 \| 1\.1 \| 1 \| [0-9]+\.[0-9]{2} ± [0-9]+\.[0-9]{2} \| [0-9]+\.[0-9]{2} ± [0-9]+\.[0-9]{2} \| [0-9]+ % of [0-9]+\.[0-9] GB/s \| [1-9][0-9]*\.[0-9] \|$' '$TMPD/dr' &&
        grep -Eq '^\| stories260K \| F32 \| 1\.1 \| 2 \| ' '$TMPD/dr'"
    check device_report_bad_file sh -c "! EDGELM='$TMPD/edgelm-wrap' sh scripts/device-report.sh '$TMPD/none.gguf' 2> '$TMPD/dre2' &&
        grep -q \"^device-report: cannot read '$TMPD/none.gguf'\" '$TMPD/dre2'"
else
    skip_fixture bench_model "fixture $M is absent"
fi
check bench_missing_model_fails sh -c \
    "! $EMU '$EDGELM' bench -m '$TMPD/none.gguf' -r 1 > '$TMPD/o' 2> '$TMPD/e' && grep -q 'none.gguf' '$TMPD/e' && test ! -s '$TMPD/o'"
check bench_bad_list_fails sh -c "! $EMU '$EDGELM' bench -m x.gguf -p 64,abc 2> '$TMPD/e2' && grep -q '^edgelm bench: -p .64,abc. is not valid: give ' '$TMPD/e2'"
finish
