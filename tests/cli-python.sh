# The Python binding (python/edgelm, ctypes over $BUILD/libedgelm.so) with Debian's python3 and
# numpy: tests/test_python.py compares its results with the CLI's on the fixture models.
# Skipped for cross builds (EMU) and sanitizer builds (python cannot load an ASan library).
. tests/tf-lib.sh
PY=/usr/bin/python3
so="$BUILD/libedgelm.so"
if [ -n "$EMU" ]; then
    skip python_binding "cross build ($EMU): the library is not for this machine"; finish
fi
if ! $PY -c 'import numpy' 2>/dev/null; then
    skip python_binding "no $PY with numpy"; finish
fi
if [ ! -f "$so" ]; then
    skip python_binding "no $so in this build"; finish
fi
if readelf -d "$so" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    skip python_binding "$so is built with AddressSanitizer"; finish
fi
# The models the binding and the CLI are compared on (skipped inside when absent).
[ -f "$FIXTURES/hf-reference/bert/config.json" ] && edgelm convert "$FIXTURES/hf-reference/bert" -o "$TMPD/bert.gguf" 2>/dev/null
[ -f "$FIXTURES/elmo-bilm-tf/model/options.json" ] && edgelm convert "$FIXTURES/elmo-bilm-tf/model" -o "$TMPD/elmo.gguf" 2>/dev/null
[ -f "$FIXTURES/hf-reference/t5/config.json" ] && edgelm convert "$FIXTURES/hf-reference/t5" -o "$TMPD/t5.gguf" 2>/dev/null
FIXTURES="$FIXTURES" EDGELM_LIB="$so" $PY tests/test_python.py "$EDGELM" "$TMPD"
