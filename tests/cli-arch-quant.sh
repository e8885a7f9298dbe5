# edgelm quantize picks llama-quantize's per-tensor types for the issue #11 architectures:
# the wide test checkpoints (scripts/make_arch_checkpoints.py --wide, widths multiples of 256)
# are converted and quantized to Q4_K_M, Q5_K_M, Q6_K, Q8_0 and Q4_0, and the types of every
# tensor must equal what llama-quantize b10573 chose for the same GGUF (recorded by
# scripts/record_arch_refs.sh in tests/data/arch/NAME.qtypes).
. tests/tf-lib.sh
PY=/usr/bin/python3
if ! $PY -c 'import numpy' >/dev/null 2>&1; then
    skip arch-quant-types "no python3 with numpy to write the test checkpoints"
    finish
fi
$PY scripts/make_arch_checkpoints.py --wide "$TMPD/w" >/dev/null
for ref in tests/data/arch/*.qtypes; do
    n=$(basename "$ref" .qtypes)
    edgelm convert "$TMPD/w/$n" -o "$TMPD/$n.gguf" >/dev/null 2>&1
    while read -r q types; do
        check "quant_types_${n}_$q" sh -c "
            $EMU '$EDGELM' quantize '$TMPD/$n.gguf' '$TMPD/q.gguf' $q -q >/dev/null 2>&1 &&
            got=\$(EDGELM='$EDGELM' EMU='$EMU' sh scripts/gguf_types.sh '$TMPD/q.gguf') &&
            { [ \"\$got\" = '$types' ] || { echo \"ours:      \$got\"; echo 'llama.cpp: $types'; false; }; }"
    done < "$ref"
    rm -f "$TMPD/$n.gguf" "$TMPD/q.gguf"
done
finish
