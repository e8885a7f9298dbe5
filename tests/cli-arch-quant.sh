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
# LFM2's short-convolution kernels stay F32 at --outtype f16, as llama.cpp's converter keeps
# them (its ssm_conv op takes F32 only: an F16 one stops llama.cpp with an assertion).
check lfm2_conv_f32_at_f16 sh -c "
    $EMU '$EDGELM' convert '$TMPD/w/lfm2' -o '$TMPD/l16.gguf' --outtype f16 >/dev/null 2>&1 &&
    $EMU '$EDGELM' info '$TMPD/l16.gguf' > '$TMPD/l16.txt' && grep -q ' blk.2.attn_q.weight  *f16 ' '$TMPD/l16.txt' &&
    grep -q 'shortconv.conv.weight ' '$TMPD/l16.txt' && ! grep 'shortconv.conv.weight ' '$TMPD/l16.txt' | grep -vq ' f32 '"
rm -f "$TMPD/l16.gguf"
# Files written by llama.cpp's own llama-quantize (when a llama.cpp build is at hand:
# $LLAMA_QUANTIZE, default the peer build of this workplace) load here and generate exactly what
# our quantization of the same GGUF generates (greedy, 12 tokens): the mixes users download.
LQ=${LLAMA_QUANTIZE:-/work/peer/llama.cpp/build/bin/llama-quantize}
if [ -n "$EMU" ] || ! [ -x "$LQ" ]; then
    skip arch-llama-quantize-files "no llama.cpp llama-quantize (LLAMA_QUANTIZE) on this machine"
    finish
fi
for n in llama qwen3 gemma3 phi3 lfm2; do
    edgelm convert "$TMPD/w/$n" -o "$TMPD/$n.gguf" >/dev/null 2>&1
    for q in Q4_K_M Q8_0; do
        check "llama_quantize_file_${n}_$q" sh -c "
            '$LQ' '$TMPD/$n.gguf' '$TMPD/theirs.gguf' $q >/dev/null 2>&1 &&
            '$EDGELM' quantize '$TMPD/$n.gguf' '$TMPD/ours.gguf' $q -q >/dev/null 2>&1 &&
            a=\$('$EDGELM' generate -m '$TMPD/theirs.gguf' -p 'Hello world' -n 12 --temp 0 --ignore-eos 2>/dev/null) &&
            b=\$('$EDGELM' generate -m '$TMPD/ours.gguf' -p 'Hello world' -n 12 --temp 0 --ignore-eos 2>/dev/null) &&
            [ -n \"\$a\" ] && { [ \"\$a\" = \"\$b\" ] || { echo \"theirs: \$a\"; echo \"ours:   \$b\"; false; }; }"
    done
    rm -f "$TMPD/$n.gguf" "$TMPD/theirs.gguf" "$TMPD/ours.gguf"
done
finish
