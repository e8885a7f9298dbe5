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
check finetune_bad_values sh -c "! $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task classify -f '$TMPD/train.tsv' --save '$TMPD/x.gguf' --lr abc 2> /dev/null && ! $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task qa -f '$TMPD/train.tsv' --save '$TMPD/x.gguf' 2> '$TMPD/e' && grep -q 'task .qa. is not known: use one of classify, tag' '$TMPD/e' && printf 'no label here\n' > '$TMPD/bad.tsv' && ! $EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task classify -f '$TMPD/bad.tsv' --save '$TMPD/x.gguf' 2> /dev/null"
# --task tag: CoNLL lines, an animal word is B-ANI, a colour/verb word O
gen_conll() { # n seed
    awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); split("the cat sat on mat dog ran", A, " "); split("big small red blue is was it", B, " ");
        for (i = 0; i < n; i++) { len = 3 + int(rand() * 5); for (j = 0; j < len; j++) { if (rand() < 0.5) print A[1 + int(rand() * 7)] " B-ANI"; else print B[1 + int(rand() * 7)] " O" } print "" } }'
}
gen_conll 150 11 > "$TMPD/train.conll"
gen_conll 40 12 > "$TMPD/eval.conll"
check finetune_tag_learns_word_labels sh -c "$EMU '$EDGELM' finetune -m '$TMPD/base.gguf' --task tag -f '$TMPD/train.conll' --eval '$TMPD/eval.conll' --save '$TMPD/tag.gguf' --lr 1e-2 --epochs 15 --seed 3 2> '$TMPD/tlog' && tail -n 2 '$TMPD/tlog' | head -n 1 | awk '{ for (i = 1; i <= NF; i++) if (\$i == \"accuracy\") a = \$(i + 1) } END { exit !(a >= 0.95) }'"
check finetune_tag_model_runs_in_tag sh -c "$EMU '$EDGELM' tag -m '$TMPD/tag.gguf' -p 'the big cat was red' --words | cut -f1,2 | tr '\t\n' ' ;' | grep -qx 'the B-ANI;big O;cat B-ANI;was O;red O;'"
check tag_text_from_stdin sh -c "$EMU '$EDGELM' tag -m '$TMPD/tag.gguf' -p 'the big cat was red' --words > '$TMPD/tp' &&
    printf 'the big cat was red\n' | $EMU '$EDGELM' tag -m '$TMPD/tag.gguf' -f - --words | cmp - '$TMPD/tp'"
check finetune_help sh -c "$EMU '$EDGELM' finetune --help | grep -q usage"
finish
