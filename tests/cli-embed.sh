# The embedding example (examples/embed/model-info.c) against the public header and library.
. tests/tf-lib.sh
prog="$BUILD/examples/model-info"
model="$FIXTURES/stories260K/stories260K.gguf"
if [ -f "$model" ]; then
    check embed_example_reads_stories260K sh -c \
        "$EMU '$prog' '$model' > '$TMPD/o' && grep -q '^architecture: llama' '$TMPD/o' && grep -q '^tensors:      48 ' '$TMPD/o' && grep -q '^context:      2048' '$TMPD/o'"
else
    skip_fixture embed_example_reads_stories260K "fixture $model is absent"
fi
printf 'GGUF\003\000\000\000' > "$TMPD/bad.gguf"
check embed_example_reports_errors sh -c "! $EMU '$prog' '$TMPD/bad.gguf' 2> '$TMPD/e' && test -s '$TMPD/e'"
finish
