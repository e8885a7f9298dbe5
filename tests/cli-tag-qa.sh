# BERT token tagging and question answering end to end on the tiny head checkpoints of
# scripts/bert_heads_reference.py (tests/data/bert): `tag` and `qa` print what Hugging Face's
# token-classification (aggregation "simple") and question-answering pipelines answer on the
# same logits (tag_case*.txt, qa_case*.txt), `eval --what logits` writes the head's shape,
# `convert --strict` refuses a checkpoint with a tensor nothing maps.
. tests/tf-lib.sh
d=tests/data/bert
check tagqa_convert_tokcls edgelm convert "$d/tiny-tokcls" -o "$TMPD/tok.gguf" --strict
check tagqa_convert_qa edgelm convert "$d/tiny-qa" -o "$TMPD/qa.gguf" --strict
check tag_case0_equals_pipeline sh -c "$EMU '$EDGELM' tag -m '$TMPD/tok.gguf' -p 'John Smith lives in New York and works at Acme.' > '$TMPD/t0' && cmp '$TMPD/t0' $d/tag_case0.txt"
check tag_case1_equals_pipeline sh -c "$EMU '$EDGELM' tag -m '$TMPD/tok.gguf' -p 'Jo Smith, Paris Zürich? Johns works.' > '$TMPD/t1' && cmp '$TMPD/t1' $d/tag_case1.txt"
check tag_nfd_input_same_entities sh -c "$EMU '$EDGELM' tag -m '$TMPD/tok.gguf' -p \"\$(printf 'Jo Smith, Paris Zu\\314\\210rich? Johns works.')\" | cut -f1,2,5 > '$TMPD/t2' && cut -f1,2,5 $d/tag_case1.txt | cmp - '$TMPD/t2'"
check tag_words sh -c "$EMU '$EDGELM' tag -m '$TMPD/tok.gguf' -p 'Jo Smith, Paris Zürich? Johns works.' --words | cut -f1,2 | tr '\t\n' ' ;' | grep -qx 'Jo B-LOC;Smith B-LOC;, O;Paris O;Zürich B-ORG;? B-LOC;Johns B-LOC;works B-LOC;. B-LOC;'"
check qa_case0_equals_pipeline sh -c "$EMU '$EDGELM' qa -m '$TMPD/qa.gguf' -q 'Where does John live?' -c 'John Smith lives in New York and works at Acme.' --max-seq-len 24 --doc-stride 4 > '$TMPD/q0' && cmp '$TMPD/q0' $d/qa_case0.txt"
check qa_case1_windows_equal_pipeline sh -c "$EMU '$EDGELM' qa -m '$TMPD/qa.gguf' -q 'who is he?' -c 'he was born near a river . the old city is Paris , where she works and he lives . John Smith was born in New York .' --max-seq-len 16 --doc-stride 3 --max-answer-len 4 > '$TMPD/q1' && cmp '$TMPD/q1' $d/qa_case1.txt"
check qa_stride_too_large_is_an_error sh -c "! $EMU '$EDGELM' qa -m '$TMPD/qa.gguf' -q 'who is he?' -c 'he was born' --max-seq-len 10 --doc-stride 8 2> '$TMPD/e' && grep -q 'no room' '$TMPD/e'"
check qa_bad_value_is_an_error sh -c "! $EMU '$EDGELM' qa -m '$TMPD/qa.gguf' -q a -c b --max-answer-len 0 2> /dev/null"
check tag_needs_token_classifier sh -c "! $EMU '$EDGELM' tag -m '$TMPD/qa.gguf' -p hello 2> '$TMPD/e' && grep -q 'token classifier' '$TMPD/e'"
check tag_qa_help sh -c "$EMU '$EDGELM' tag --help | grep -q usage && $EMU '$EDGELM' qa --help | grep -q usage"
check eval_logits_token_shape sh -c "$EMU '$EDGELM' eval -m '$TMPD/tok.gguf' --ids 2,5,6,3 -o '$TMPD/l.npy' --what logits && head -c 128 '$TMPD/l.npy' | grep -q '(4, 7)'"
check eval_logits_qa_shape sh -c "$EMU '$EDGELM' eval -m '$TMPD/qa.gguf' --ids 2,20,3,35,3 --types 0,0,0,1,1 -o '$TMPD/q.npy' --what logits && head -c 128 '$TMPD/q.npy' | grep -q '(5, 2)'"
check convert_strict_refuses_unmapped sh -c "! $EMU '$EDGELM' convert $d/tiny-extra -o '$TMPD/x.gguf' --strict 2> '$TMPD/e' && grep -q 'adapter.weight' '$TMPD/e'"
check convert_warns_unmapped sh -c "$EMU '$EDGELM' convert $d/tiny-extra -o '$TMPD/x.gguf' 2> '$TMPD/e' && grep -q 'warning: bert.encoder.layer.1.adapter.weight' '$TMPD/e'"
check tag_distilbert_qa_run sh -c "$EMU '$EDGELM' convert $d/tiny-distil-qa -o '$TMPD/dq.gguf' 2> /dev/null && $EMU '$EDGELM' qa -m '$TMPD/dq.gguf' -q 'the cats' -c 'hello world ! the cat stop' | grep -c '^answer: \\|^score: 0\\.[0-9]*\$' | grep -qx 2"
check roberta_tokenize_adds_s_and_end sh -c "$EMU '$EDGELM' convert $d/tiny-roberta-cls -o '$TMPD/rc.gguf' 2> /dev/null && $EMU '$EDGELM' tokenize -m '$TMPD/rc.gguf' -p 'Hello world!' | grep -qx '0 285 271 37 2'"
# RoBERTa (byte-level BPE): tag prints what the pipeline answers (scripts/roberta_tag_reference.py:
# trimmed offsets, words with their leading space, lone-space pieces); qa is still refused
check tag_roberta_convert edgelm convert $d/tiny-roberta-tok -o "$TMPD/rt.gguf" --strict
check tag_roberta_case0_equals_pipeline sh -c "$EMU '$EDGELM' tag -m '$TMPD/rt.gguf' -p 'the cats and dogs' | cmp - $d/tag_roberta_case0.txt"
check tag_roberta_case1_equals_pipeline sh -c "$EMU '$EDGELM' tag -m '$TMPD/rt.gguf' -p 'Hello world! The cat sat on the mat.' | cmp - $d/tag_roberta_case1.txt"
check tag_roberta_words sh -c "$EMU '$EDGELM' tag -m '$TMPD/rt.gguf' -p 'Hello world!  The cat' --words | cut -f1,2 | tr '\t\n' ' ;' | grep -qx 'Hello B-X;world! B-X;The B-X;cat B-X;'"
check qa_roberta_refused sh -c "$EMU '$EDGELM' convert $d/tiny-roberta-cls -o '$TMPD/rq.gguf' 2> /dev/null && ! $EMU '$EDGELM' qa -m '$TMPD/rq.gguf' -q 'a' -c 'hello' 2> '$TMPD/e' && grep -q 'not supported' '$TMPD/e'"
finish
