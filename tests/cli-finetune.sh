# edgelm finetune --task classify end to end: a synthetic task (the label says which of two
# word sets a sentence draws from; generated here by awk with fixed seeds) learnt from the
# random tiny BERT of tests/data/bert/tiny-bertmodel to >= 95 % held-out accuracy in 120 steps;
# the saved model runs in `classify`; the same seed gives the same file, with 1 or 2 threads;
# --freeze 1 keeps the embeddings and block 0 (hidden states [3, 4, 8] after a 128-byte .npy
# header: the first 384 bytes are the embedding output and block 0's).
. tests/tf-lib.sh
gen() { # n seed
    awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); split("the cat sat on mat dog ran", A, " "); split("big small red blue is was it", B, " ");
        for (i = 0; i < n; i++) { c = int(rand() * 2); len = 3 + int(rand() * 4); s = "";
            for (j = 0; j < len; j++) { w = (c == 0) ? A[1 + int(rand() * 7)] : B[1 + int(rand() * 7)]; s = s (j ? " " : "") w }
            print s "\t" (c == 0 ? "animal" : "color") } }'
}
gen 192 7 > "$TMPD/train.tsv"
gen 100 8 > "$TMPD/eval.tsv"
check finetune_convert edgelm convert tests/data/bert/tiny-bertmodel -o "$TMPD/base.gguf"
check finetune_classify_learns_synthetic_task sh -c "$EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task classify -f '$TMPD/train.tsv' --eval '$TMPD/eval.tsv' --save '$TMPD/ft.gguf' --lr 5e-3 --epochs 10 --batch 16 --seed 3 2> '$TMPD/log' && tail -n 2 '$TMPD/log' | head -n 1 | awk '{ for (i = 1; i <= NF; i++) if (\$i == \"accuracy\") a = \$(i + 1) } END { exit !(a >= 0.95) }'"
check finetune_progress_per_epoch sh -c "grep -c '^epoch [0-9]*/10: loss [0-9.]*, held-out accuracy' '$TMPD/log' | grep -qx 10"
check finetune_saved_model_classifies sh -c "$EMU '$EDGELM' classify -m '$TMPD/ft.gguf' -p 'the cat sat on the mat' | head -n 1 | grep -q '^animal' && $EMU '$EDGELM' classify -m '$TMPD/ft.gguf' -p 'big red blue' | head -n 1 | grep -q '^color'"
check finetune_same_seed_same_file_any_threads sh -c "$EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task classify -f '$TMPD/train.tsv' --save '$TMPD/a.gguf' --lr 5e-3 --epochs 2 --seed 5 2> /dev/null && $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task classify -f '$TMPD/train.tsv' --save '$TMPD/b.gguf' --lr 5e-3 --epochs 2 --seed 5 -t 2 2> /dev/null && cmp '$TMPD/a.gguf' '$TMPD/b.gguf'"
check finetune_freeze_keeps_layer_0 sh -c "$EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task classify -f '$TMPD/train.tsv' --save '$TMPD/fz.gguf' --lr 5e-3 --epochs 1 --freeze 1 2> /dev/null && $EMU '$EDGELM' eval -m '$TMPD/base.gguf' --ids 2,5,6,3 -o '$TMPD/h0.npy' --what hidden && $EMU '$EDGELM' eval -m '$TMPD/fz.gguf' --ids 2,5,6,3 -o '$TMPD/h1.npy' --what hidden && cmp -n 384 '$TMPD/h0.npy' '$TMPD/h1.npy' && ! cmp -s '$TMPD/h0.npy' '$TMPD/h1.npy'"
check finetune_bad_values sh -c "! $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task classify -f '$TMPD/train.tsv' --save '$TMPD/x.gguf' --lr abc 2> /dev/null && ! $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task ner -f '$TMPD/train.tsv' --save '$TMPD/x.gguf' 2> '$TMPD/e' && grep -q 'task .ner. is not known: use one of classify, tag, qa' '$TMPD/e' && printf 'no label here\n' > '$TMPD/bad.tsv' && ! $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task classify -f '$TMPD/bad.tsv' --save '$TMPD/x.gguf' 2> /dev/null"
# --task tag: CoNLL lines, an animal word is B-ANI, a colour/verb word O; held-out token accuracy
# >= 0.95 and entity F1 (seqeval's rules, test-squad) >= 0.9
gen_conll() { # n seed [animal words] [other words]: sentences of 3-7 words, each B-ANI or O
    awk -v n="$1" -v seed="$2" -v a="${3:-the cat sat on mat dog ran}" -v b="${4:-big small red blue is was it}" \
        'BEGIN { srand(seed); na = split(a, A, " "); nb = split(b, B, " ");
        for (i = 0; i < n; i++) { len = 3 + int(rand() * 5); for (j = 0; j < len; j++) { if (rand() < 0.5) print A[1 + int(rand() * na)] " B-ANI"; else print B[1 + int(rand() * nb)] " O" } print "" } }'
}
gen_conll 150 11 > "$TMPD/train.conll"
gen_conll 40 12 > "$TMPD/eval.conll"
check finetune_tag_learns_word_labels sh -c "$EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task tag -f '$TMPD/train.conll' --eval '$TMPD/eval.conll' --save '$TMPD/tag.gguf' --lr 1e-2 --epochs 15 --seed 3 2> '$TMPD/tlog' && tail -n 2 '$TMPD/tlog' | head -n 1 | awk '{ for (i = 1; i <= NF; i++) { if (\$i == \"accuracy\") a = \$(i + 1); if (\$i == \"F1\") f = \$(i + 1) } } END { exit !(a + 0 >= 0.95 && f + 0 >= 0.9) }'"
check finetune_tag_progress_reports_entity_f1 sh -c "grep -c '^epoch [0-9]*/15: loss [0-9.]*, held-out token accuracy [0-9.]*, entity F1 [0-9.]* (40 sentences)' '$TMPD/tlog' | grep -qx 15"
check finetune_tag_model_runs_in_tag sh -c "$EMU '$EDGELM' tag -m '$TMPD/tag.gguf' -p 'the big cat was red' --words | cut -f1,2 | tr '\t\n' ' ;' | grep -qx 'the B-ANI;big O;cat B-ANI;was O;red O;'"
check tag_text_from_stdin sh -c "$EMU '$EDGELM' tag -m '$TMPD/tag.gguf' -p 'the big cat was red' --words > '$TMPD/tp' &&
    printf 'the big cat was red\n' | $EMU '$EDGELM' tag -m '$TMPD/tag.gguf' -f - --words | cmp - '$TMPD/tp'"
# --task qa: SQuAD-style JSON (generated by awk): a context of animal words holds one colour
# word, the answer to "is it ." (learnt: its start and end); contexts of up to 9 words in
# windows of 14 tokens with stride 3, so longer ones span two windows. Held-out exact match
# and F1 >= 0.95 after 4 epochs (80 steps); the saved model answers in `edgelm qa`.
gen_squad() { # n seed
    awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); split("the cat sat on mat a dog ran", A, " "); split("big small red blue", B, " ");
        printf "{\"data\": [{\"title\": \"synthetic\", \"paragraphs\": [";
        for (i = 0; i < n; i++) { len = 4 + int(rand() * 5); at = int(rand() * (len + 1)); na = 1; s = ""; ans = ""; st = 0;
            for (j = 0; j <= len; j++) {
                if (j == at) { for (k = 0; k < na; k++) { w = B[1 + int(rand() * 4)]; if (k == 0) st = length(s) + (s != ""); ans = ans (k ? " " : "") w; s = s (s != "" ? " " : "") w } }
                if (j < len) { w = A[1 + int(rand() * 8)]; s = s (s != "" ? " " : "") w } }
            printf "%s{\"context\": \"%s\", \"qas\": [{\"id\": \"q%d\", \"question\": \"is it .\", \"answers\": [{\"text\": \"%s\", \"answer_start\": %d}]}]}", (i ? ", " : ""), s, i, ans, st }
        print "]}]}" }'
}
gen_squad 160 5 > "$TMPD/train.json"
gen_squad 40 6 > "$TMPD/eval.json"
check finetune_qa_learns_spans sh -c "$EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task qa -f '$TMPD/train.json' --eval '$TMPD/eval.json' --save '$TMPD/qa.gguf' --lr 1e-2 --epochs 4 --batch 8 --dropout 0 --max-len 14 --doc-stride 3 --seed 3 2> '$TMPD/qlog' && tail -n 2 '$TMPD/qlog' | head -n 1 | awk '{ for (i = 1; i <= NF; i++) { if (\$i == \"match\") e = \$(i + 1); if (\$i == \"F1\") f = \$(i + 1) } } END { exit !(e + 0 >= 0.95 && f + 0 >= 0.95) }'"
check finetune_qa_progress_per_epoch sh -c "grep -c '^epoch [0-9]*/4: loss [0-9.]*, held-out exact match [0-9.]*, F1 [0-9.]* (40 questions)' '$TMPD/qlog' | grep -qx 4 && grep -q '^finetune: [0-9]* training windows, 40 held-out questions' '$TMPD/qlog'"
check finetune_qa_model_answers_in_qa sh -c "$EMU '$EDGELM' qa -m '$TMPD/qa.gguf' -q 'is it .' -c 'the cat sat red on a mat' --max-seq-len 14 --doc-stride 3 | head -n 1 | grep -qx 'answer: red'"
check finetune_qa_bad_answer_start sh -c "printf '{\"data\": [{\"paragraphs\": [{\"context\": \"a cat\", \"qas\": [{\"question\": \"q\", \"answers\": [{\"text\": \"dog\", \"answer_start\": 2}]}]}]}]}' > '$TMPD/bad.json' && ! $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task qa -f '$TMPD/bad.json' --save '$TMPD/x.gguf' 2> '$TMPD/e' && grep -q 'is not at character 2 of its context' '$TMPD/e' && printf '{\"data\": 1}' > '$TMPD/bad2.json' && ! $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task qa -f '$TMPD/bad2.json' --save '$TMPD/x.gguf' 2> '$TMPD/e' && grep -q 'SQuAD format' '$TMPD/e'"
# RoBERTa (tiny random checkpoint, byte-level BPE): tag learns word labels placed on each word's
# first piece (words after the first carry their space, as in running text; the word sets differ
# in their first pieces in this 301-token vocabulary) and the saved model tags in `tag`; qa is
# refused on BPE models
gen_conll 150 11 "cat the sat cafe" "world it is in" > "$TMPD/rtrain.conll"
gen_conll 40 12 "cat the sat cafe" "world it is in" > "$TMPD/reval.conll"
check finetune_roberta_tag_learns sh -c "$EMU '$EDGELM' convert tests/data/bert/tiny-roberta-cls -o '$TMPD/rb.gguf' 2> /dev/null && $EMU '$EDGELM' finetune -m '$TMPD/rb.gguf' --task tag -f '$TMPD/rtrain.conll' --eval '$TMPD/reval.conll' --save '$TMPD/rtag.gguf' --lr 1e-2 --epochs 12 --seed 3 2> '$TMPD/rlog' && tail -n 2 '$TMPD/rlog' | head -n 1 | awk '{ for (i = 1; i <= NF; i++) { if (\$i == \"accuracy\") a = \$(i + 1); if (\$i == \"F1\") f = \$(i + 1) } } END { exit !(a + 0 >= 0.95 && f + 0 >= 0.9) }'"
check finetune_roberta_tag_model_runs_in_tag sh -c "$EMU '$EDGELM' tag -m '$TMPD/rtag.gguf' -p 'the world is in cafe' --words | cut -f1,2 | tr '\t\n' ' ;' | grep -qx 'the B-ANI;world O;is O;in O;cafe B-ANI;'"
check finetune_roberta_qa_refused sh -c "printf '{\"data\": [{\"paragraphs\": [{\"context\": \"a cat\", \"qas\": [{\"question\": \"q\", \"answers\": [{\"text\": \"cat\", \"answer_start\": 2}]}]}]}]}' > '$TMPD/rq.json' && ! $EMU '$EDGELM' finetune -m '$TMPD/rb.gguf' --task qa -f '$TMPD/rq.json' --save '$TMPD/x.gguf' 2> '$TMPD/e' && grep -q 'RoBERTa) question answering is not supported yet' '$TMPD/e'"
# ELMo (the bilm-tf fixture): finetune learns the scalar mix, gamma and a classifier on the mean
# vector with the biLM frozen (the word-set task above) to >= 95 % held-out accuracy; each epoch
# prints the mix (softmax weights: they sum to 1); the saved head runs in `elmo --task`; the same
# seed gives the same head with 1 or 2 threads. (The planted layer preference is checked on the
# library trainer in test-train.)
elmo_fx="$FIXTURES/elmo-bilm-tf/model"
if [ -f "$elmo_fx/lm_weights.hdf5" ]; then
    gen 120 7 > "$TMPD/etrain.tsv"
    gen 40 8 > "$TMPD/eeval.tsv"
    check finetune_elmo_learns_mix_and_head sh -c "$EMU '$EDGELM' convert '$elmo_fx' -o '$TMPD/elmo.gguf' 2> /dev/null && $EMU '$EDGELM' finetune -m '$TMPD/elmo.gguf' --task classify -f '$TMPD/etrain.tsv' --eval '$TMPD/eeval.tsv' --save '$TMPD/head.gguf' --epochs 10 --batch 8 --lr 0.3 --seed 3 2> '$TMPD/elog' && tail -n 2 '$TMPD/elog' | head -n 1 | awk '{ for (i = 1; i <= NF; i++) if (\$i == \"accuracy\") a = \$(i + 1) } END { exit !(a + 0 >= 0.95) }'"
    check finetune_elmo_reports_mix sh -c "grep -c '^epoch [0-9]*/10: loss [0-9.]*, held-out accuracy [0-9.]* (40 examples), mix [0-9.]* [0-9.]* [0-9.]*, gamma ' '$TMPD/elog' | grep -qx 10 && tail -n 2 '$TMPD/elog' | head -n 1 | sed 's/.*mix \\([0-9. ]*\\), gamma.*/\\1/' | awk '{ s = \$1 + \$2 + \$3 } END { exit !(s > 0.998 && s < 1.002) }'"
    check finetune_elmo_head_runs_in_elmo_task sh -c "printf 'the cat sat on the mat\\nbig red blue\\n' > '$TMPD/s.txt' && $EMU '$EDGELM' elmo -m '$TMPD/elmo.gguf' --task '$TMPD/head.gguf' -f '$TMPD/s.txt' 2> /dev/null | cut -f1 | tr '\\n' ' ' | grep -qx 'animal color '"
    check finetune_elmo_same_seed_any_threads sh -c "$EMU '$EDGELM' finetune -m '$TMPD/elmo.gguf' --task classify -f '$TMPD/etrain.tsv' --save '$TMPD/h1.gguf' --epochs 2 --seed 5 -t 1 2> /dev/null && $EMU '$EDGELM' finetune -m '$TMPD/elmo.gguf' --task classify -f '$TMPD/etrain.tsv' --save '$TMPD/h2.gguf' --epochs 2 --seed 5 -t 2 2> /dev/null && cmp '$TMPD/h1.gguf' '$TMPD/h2.gguf'"
    check finetune_elmo_bad_uses sh -c "! $EMU '$EDGELM' finetune -m '$TMPD/elmo.gguf' --task tag -f '$TMPD/train.conll' --save '$TMPD/x.gguf' 2> '$TMPD/e' && grep -q 'ELMo model takes --task classify' '$TMPD/e' && ! $EMU '$EDGELM' elmo -m '$TMPD/elmo.gguf' --task '$TMPD/ft.gguf' -f '$TMPD/s.txt' 2> '$TMPD/e' && grep -q 'not an ELMo task head' '$TMPD/e' && ! $EMU '$EDGELM' elmo -m '$TMPD/elmo.gguf' --task '$TMPD/head.gguf' --top -f '$TMPD/s.txt' 2> /dev/null"
else
    skip_fixture finetune_elmo_learns_mix_and_head "fixture $elmo_fx is absent"
fi
check finetune_help sh -c "$EMU '$EDGELM' finetune --help | grep -q usage"
finish
