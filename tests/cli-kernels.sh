# Run-time dispatch from the command line: `edgelm version` names the CPU features and the
# kernel set in use; EDGELM_KERNELS forces each usable set and refuses an unknown one (and, on
# x86-64, one the CPU lacks) with a message and status 2 before any command runs.
. tests/tf-lib.sh
unset EDGELM_KERNELS
check version_names_features_and_set sh -c "$EMU $EDGELM version > '$TMPD/v' && grep -q '^CPU features: ' '$TMPD/v' && grep -q '^kernel set: [a-z0-9]* (usable: ' '$TMPD/v'"
sets=$($EMU "$EDGELM" version | sed -n 's/^kernel set: [a-z0-9]* (usable: \([a-z0-9 ]*\);.*/\1/p')
check some_set_usable test -n "$sets"
for k in $sets; do
    check "forced_$k" sh -c "EDGELM_KERNELS=$k $EMU $EDGELM version | grep -q '^kernel set: $k '"
done
refused() { # value: status 2, a message naming the variable, nothing on stdout
    EDGELM_KERNELS=$1 $EMU "$EDGELM" version > "$TMPD/o" 2> "$TMPD/e"
    rc=$?
    cat "$TMPD/e"
    [ "$rc" -eq 2 ] && grep -q "EDGELM_KERNELS=$1: " "$TMPD/e" && [ ! -s "$TMPD/o" ]
}
check unknown_set_refused refused sse9
check unknown_set_refused_for_commands sh -c "EDGELM_KERNELS=sse9 $EMU $EDGELM tokenize --help >/dev/null 2>&1; test \$? -eq 2"
case " $sets " in
*" avx512 "*) skip set_the_cpu_lacks_refused "this CPU has every x86 set" ;;
*)
    if $EMU "$EDGELM" version | grep -q '^CPU features: .*sse4.2'; then
        check set_the_cpu_lacks_refused sh -c "EDGELM_KERNELS=avx512 $EMU $EDGELM version 2>&1 | grep -q -e 'lacks' -e 'no such kernel set'"
    else
        skip set_the_cpu_lacks_refused "not an x86-64 CPU"
    fi ;;
esac
finish
