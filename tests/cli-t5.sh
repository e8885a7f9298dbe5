# T5 from the command line: convert (safetensors and pytorch_model.bin), generate (greedy with 1
# and 2 threads identical, beams, sampling), eval shapes, tokenize --compare, t5-bench.
. tests/tf-lib.sh
t5="$FIXTURES/hf-reference/t5"
caikit="$FIXTURES/hf-tiny-caikit/T5ForConditionalGeneration"
if [ -f "$t5/config.json" ]; then
    check convert_t5 sh -c "$EMU '$EDGELM' convert '$t5' -o '$TMPD/t5.gguf' 2> '$TMPD/e' && grep -q '^wrote .*t5, 47 tensors, 1000 tokens' '$TMPD/e'"
    check convert_t5_q8_0 sh -c "$EMU '$EDGELM' convert '$t5' -o '$TMPD/t5q.gguf' --outtype q8_0 2>/dev/null && $EMU '$EDGELM' info '$TMPD/t5q.gguf' | grep -q 'enc.blk.0.attn_q.weight *q8_0'"
    check info_t5_keys sh -c "$EMU '$EDGELM' info '$TMPD/t5.gguf' > '$TMPD/i' && grep -q 't5.attention.relative_buckets_count' '$TMPD/i' && grep -q 'tokenizer.ggml.precompiled_charsmap' '$TMPD/i' && grep -q 'edgelm.t5.output_scale  *float32  *0.125' '$TMPD/i'"
    check tokenize_t5_reference sh -c "$EMU '$EDGELM' tokenize -m '$TMPD/t5.gguf' --compare '$t5/tokenizer_ref.json' | grep -q '16/16 cases equal'"
    p="translate English to German: the quick brown fox"
    check generate_greedy_1_vs_2_threads sh -c "$EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p '$p' -n 16 -t 1 > '$TMPD/g1' && $EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p '$p' -n 16 -t 2 > '$TMPD/g2' && test -s '$TMPD/g1' && cmp '$TMPD/g1' '$TMPD/g2'"
    check generate_t5_timings_and_stop sh -c "$EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p '$p' -n 16 > '$TMPD/full' 2> '$TMPD/perf' &&
        grep -Eq '^edgelm perf: prompt eval = [0-9.]+ ms / [0-9]+ tokens' '$TMPD/perf' && grep -Eq '^edgelm perf: generation = [0-9.]+ ms / 16 tokens' '$TMPD/perf' &&
        stop=\$(cut -c 7-8 '$TMPD/full' | head -n 1) && test -n \"\$stop\" &&
        $EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p '$p' -n 16 --no-perf --stop \"\$stop\" > '$TMPD/cut' 2> '$TMPD/perf2' &&
        test \"\$(cat '$TMPD/cut')\" = \"\$(awk -v s=\"\$stop\" 'NR == 1 { print substr(\$0, 1, index(\$0, s) - 1) }' '$TMPD/full')\" &&
        test -s '$TMPD/cut' && ! test -s '$TMPD/perf2'"
    check generate_beams sh -c "$EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p '$p' -n 8 --beams 3 --length-penalty 0.6 -t 2 > '$TMPD/b' && test -s '$TMPD/b'"
    check generate_sampling_seeded sh -c "$EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p '$p' -n 8 --temp 0.9 --seed 7 > '$TMPD/s1' && $EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p '$p' -n 8 --temp 0.9 --seed 7 > '$TMPD/s2' && cmp '$TMPD/s1' '$TMPD/s2'"
    check eval_logits_shape sh -c "$EMU '$EDGELM' eval -m '$TMPD/t5.gguf' --ids 634,875,481,1 --dec-ids 0,634,875 -o '$TMPD/l.npy' && head -c 128 '$TMPD/l.npy' | grep -q \"'shape': (3, 1000)\""
    check eval_enc_shape sh -c "$EMU '$EDGELM' eval -m '$TMPD/t5.gguf' -p 'Hello world!' --what enc -o '$TMPD/e.npy' && head -c 128 '$TMPD/e.npy' | grep -q \"'shape': (3, 8, 64)\""
    check eval_dec_shape sh -c "$EMU '$EDGELM' eval -m '$TMPD/t5.gguf' --ids 5,6,1 --dec-ids 0,7 --what dec -o '$TMPD/d.npy' && head -c 128 '$TMPD/d.npy' | grep -q \"'shape': (3, 2, 64)\""
    check eval_bad_what_refused sh -c "! $EMU '$EDGELM' eval -m '$TMPD/t5.gguf' --ids 5,1 --what hidden -o '$TMPD/x.npy' 2>/dev/null"
    check eval_bad_id_refused sh -c "! $EMU '$EDGELM' eval -m '$TMPD/t5.gguf' --ids 5,100000 -o '$TMPD/x.npy' 2> '$TMPD/e' && grep -q 'outside' '$TMPD/e'"
    check t5_bench_json sh -c "$EMU '$EDGELM' t5-bench -m '$TMPD/t5.gguf' -t 1 --tokens 8 --steps 2 -r 1 -o json > '$TMPD/tb.json' &&
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==1 and d[0][\"threads\"]==1 and d[0][\"tokens\"]==8 and d[0][\"encoder_tps\"]>0, d' '$TMPD/tb.json'"
    check t5_bench_runs sh -c "$EMU '$EDGELM' t5-bench -m '$TMPD/t5.gguf' -t 1,2 --tokens 16 --steps 4 --reps 1 > '$TMPD/bench' && grep -q '^| t5.gguf | f32 | 2 | 16 | 4 | [0-9.]* | [0-9.]* |$' '$TMPD/bench'"
else
    skip_fixture convert_t5 "fixture $t5 is absent"
fi
if [ -f "$caikit/pytorch_model.bin" ]; then
    check convert_t5_pytorch_bin sh -c "$EMU '$EDGELM' convert '$caikit' -o '$TMPD/c.gguf' 2> '$TMPD/e' && grep -q 'torch' '$TMPD/e' && grep -q '^wrote .*t5, 110 tensors, 1302 tokens' '$TMPD/e'"
    check generate_caikit sh -c "$EMU '$EDGELM' generate -m '$TMPD/c.gguf' -p 'Hello <extra_id_0> world' -n 4 --special > '$TMPD/o' && grep -q 'pad' '$TMPD/o'"
else
    skip_fixture convert_t5_pytorch_bin "fixture $caikit is absent"
fi
finish
