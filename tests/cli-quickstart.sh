# The README's quick-start command, run on the shared stories260K model (no download).
. tests/tf-lib.sh
export EDGELM_NO_BUILD=1
model="$FIXTURES/stories260K/stories260K.gguf"
if [ -f "$model" ]; then
    check quickstart_runs_on_stories260K sh -c \
        "sh scripts/quickstart.sh '$model' < /dev/null > '$TMPD/qs' && grep -q '^Once upon a time, there was a little girl named Lily. She loved to play outside in the park.' '$TMPD/qs'"
else
    skip_fixture quickstart_runs_on_stories260K "fixture $model is absent"
fi
check quickstart_missing_file_is_an_error sh -c \
    "! sh scripts/quickstart.sh '$TMPD/none.gguf' > '$TMPD/qs2' 2>&1 && grep -q 'no such file' '$TMPD/qs2'"
finish
