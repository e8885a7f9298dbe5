# BERT commands end to end: convert (safetensors and pytorch_model.bin), tokenize, fill-mask,
# nsp, embed, classify, eval, bert-bench and prompt-classify.
. tests/tf-lib.sh
ref="$FIXTURES/hf-reference/bert"
cai="$FIXTURES/hf-tiny-caikit/BertForSequenceClassification"
if [ -f "$ref/config.json" ]; then
    check bert_convert_safetensors edgelm convert "$ref" -o "$TMPD/b.gguf"
    check bert_tokenize_adds_cls_sep sh -c "$EMU '$EDGELM' tokenize -m '$TMPD/b.gguf' -p 'Hello world!' | grep -qx '101 149 176 183 183 186 525 104 102'"
    check bert_tokenize_no_special sh -c "$EMU '$EDGELM' tokenize -m '$TMPD/b.gguf' -p 'Hello world!' --no-special | grep -qx '149 176 183 183 186 525 104'"
    check bert_fill_mask_lists_top_k sh -c "$EMU '$EDGELM' fill-mask -m '$TMPD/b.gguf' -p 'the quick brown [MASK] jumps' --top-k 4 > '$TMPD/fm' && grep -q '^mask 1 (token [0-9]*):' '$TMPD/fm' && test \$(grep -c '(id ' '$TMPD/fm') -eq 4"
    check bert_fill_mask_needs_a_mask sh -c "! $EMU '$EDGELM' fill-mask -m '$TMPD/b.gguf' -p 'no mask here' 2> '$TMPD/e' && grep -q MASK '$TMPD/e'"
    check bert_nsp_prints_probability sh -c "$EMU '$EDGELM' nsp -m '$TMPD/b.gguf' -a 'Hello world!' -b 'the quick brown fox' | grep -q '^P(B follows A) = 0\.[0-9]'"
    check bert_embed_npy sh -c "$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -p one -p two -p three --pooling mean --normalize -o '$TMPD/e.npy' 2> '$TMPD/msg' && grep -q '\[3, 64\]' '$TMPD/msg'"
    check bert_embed_text_rows sh -c "$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -p one -p two | wc -l | grep -qx 2"
    # Progress with an ETA on a terminal only (script(1) gives the command one) for embed on a file.
    if command -v script > /dev/null; then
        printf 'one\ntwo\nthree\nfour\n' > "$TMPD/four.txt"
        check bert_embed_progress_on_a_terminal_only sh -c "
            script -qec \"$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -f '$TMPD/four.txt' --batch 1 -o '$TMPD/p.npy'\" /dev/null > '$TMPD/tty' &&
            grep -q 'embed (sentences): .*ETA' '$TMPD/tty' &&
            $EMU '$EDGELM' embed -m '$TMPD/b.gguf' -f '$TMPD/four.txt' --batch 1 -o '$TMPD/p.npy' 2> '$TMPD/notty' && ! grep -q ETA '$TMPD/notty'"
    fi
    check bert_eval_hidden sh -c "$EMU '$EDGELM' eval -m '$TMPD/b.gguf' --ids 101,149,102 --types 0,0,1 -o '$TMPD/h.npy' --what hidden && head -c 128 '$TMPD/h.npy' | grep -q '(3, 3, 64)'"
    check bert_eval_mlm sh -c "$EMU '$EDGELM' eval -m '$TMPD/b.gguf' --ids 101,103,102 -o '$TMPD/m.npy' --what mlm && head -c 128 '$TMPD/m.npy' | grep -q '(3, 999)'"
    check bert_eval_nsp_pooled sh -c "$EMU '$EDGELM' eval -m '$TMPD/b.gguf' -p hello -o '$TMPD/n.npy' --what nsp && head -c 128 '$TMPD/n.npy' | grep -q '(2,)' && $EMU '$EDGELM' eval -m '$TMPD/b.gguf' -p hello -o '$TMPD/p.npy' --what pooled && head -c 128 '$TMPD/p.npy' | grep -q '(64,)'"
    check bert_bench_runs sh -c "$EMU '$EDGELM' bert-bench -m '$TMPD/b.gguf' -t 1 --tokens 16 --batch 1,2 --reps 1 | grep -c '^| 1 |' | grep -qx 2"
    check bert_bench_json sh -c "$EMU '$EDGELM' bert-bench -m '$TMPD/b.gguf' --tokens 8,16 --reps 2 -o json > '$TMPD/bb.json' && grep -c '\"test\": \"bert' '$TMPD/bb.json' | grep -qx 2 && grep -q '\"n_tokens\": 16, .*\"samples_ts\": \[[0-9.]*, [0-9.]*\]' '$TMPD/bb.json' && tail -n 1 '$TMPD/bb.json' | grep -qx ']'"
    check bert_bench_csv sh -c "$EMU '$EDGELM' bert-bench -m '$TMPD/b.gguf' -t 1 --tokens 8 --reps 1 -o csv > '$TMPD/bb.csv' &&
        head -n 1 '$TMPD/bb.csv' | grep -qx 'threads,batch,tokens,sentences/s,tokens/s' && test \$(wc -l < '$TMPD/bb.csv') -eq 2 &&
        tail -n 1 '$TMPD/bb.csv' | grep -Eq '^1,1,8,[0-9.]+,[0-9]+\$'"
    check bert_prompt_classify_multi_token_equals_reference sh -c "$EMU '$EDGELM' prompt-classify -m '$TMPD/b.gguf' --verbalizer 'neg=the,terrible;pos=model,wonderful' -p 'the model reads tokens' | cmp - tests/data/bert/prompt_case0.txt"
    check bert_prompt_classify_file sh -c "printf 'the model\\n\\nreads tokens\\n' > '$TMPD/pc.txt' && $EMU '$EDGELM' prompt-classify -m '$TMPD/b.gguf' --verbalizer 'neg=the;pos=model' -f '$TMPD/pc.txt' | cut -f3 | tr '\\n' ';' | grep -qx 'the model;reads tokens;'"
    check bert_prompt_classify_needs_one_mask sh -c "! $EMU '$EDGELM' prompt-classify -m '$TMPD/b.gguf' --verbalizer 'a=the;b=model' -p x --template '{} no mask' 2> '$TMPD/e' && grep -q MASK '$TMPD/e'"
    check bert_prompt_classify_bad_verbalizer sh -c "! $EMU '$EDGELM' prompt-classify -m '$TMPD/b.gguf' --verbalizer 'onlyone=the' -p x 2> /dev/null && ! $EMU '$EDGELM' prompt-classify -m '$TMPD/b.gguf' --verbalizer 'a=;b=c' -p x 2> /dev/null"
    check bert_convert_no_heads sh -c "$EMU '$EDGELM' convert '$ref' -o '$TMPD/nh.gguf' --no-heads && $EMU '$EDGELM' info '$TMPD/nh.gguf' > '$TMPD/i' && ! grep -q 'cls\\.\\|pooler' '$TMPD/i' && $EMU '$EDGELM' embed -m '$TMPD/nh.gguf' -p hello > /dev/null && ! $EMU '$EDGELM' fill-mask -m '$TMPD/nh.gguf' -p '[MASK]' 2> /dev/null"
    check bert_classify_needs_classifier sh -c "! $EMU '$EDGELM' classify -m '$TMPD/b.gguf' -p hello 2> '$TMPD/e' && grep -q classifier '$TMPD/e'"
else
    skip_fixture bert_reference_commands "fixture $ref is absent"
fi
if [ -f "$cai/pytorch_model.bin" ]; then
    check bert_convert_pytorch_bin_q8 edgelm convert "$cai" -o "$TMPD/c.gguf" --outtype q8_0
    check bert_classify_labels sh -c "$EMU '$EDGELM' classify -m '$TMPD/c.gguf' -p 'hello world' | grep -c '^LABEL_[01] ' | grep -qx 2"
    # -f FILE and -f - (stdin) give what -p gives.
    check bert_classify_file_and_stdin sh -c "$EMU '$EDGELM' classify -m '$TMPD/c.gguf' -p 'hello world' > '$TMPD/cp' &&
        printf 'hello world\n' > '$TMPD/cf.txt' && $EMU '$EDGELM' classify -m '$TMPD/c.gguf' --file '$TMPD/cf.txt' | cmp - '$TMPD/cp' &&
        $EMU '$EDGELM' classify -m '$TMPD/c.gguf' -f - < '$TMPD/cf.txt' | cmp - '$TMPD/cp'"
else
    skip_fixture bert_caikit "fixture $cai is absent"
fi
finish
