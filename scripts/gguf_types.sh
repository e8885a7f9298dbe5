#!/bin/sh
# Prints the tensor types of a GGUF file on one line, in the order of the sorted tensor names
# (what tests/cli-arch-quant.sh compares with llama-quantize's choices).
# EDGELM: the edgelm program (default build/edgelm); EMU: an emulator prefix (qemu).
${EMU:-} "${EDGELM:-build/edgelm}" info "$1" | awk '/^ +[0-9]+  /{print $2, $3}' | LC_ALL=C sort | awk '{ if (NR > 1) printf " "; printf "%s", $2 } END { print "" }'
