#!/bin/sh
# Writes a C file holding the bytes of a file as an array (for the server's chat page):
#   sh scripts/embed-file.sh IN NAME > OUT.c   ->  const unsigned char NAME[]; NAME_len
# Portable: od and sed only. The array ends with a NUL that NAME_len does not count.
set -e
in=$1
name=$2
echo "/* Generated from $in by scripts/embed-file.sh; do not edit. */"
echo "const unsigned char ${name}[] = {"
od -An -v -tx1 "$in" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
echo "0x00};"
echo "const unsigned long ${name}_len = $(($(wc -c < "$in")));"
