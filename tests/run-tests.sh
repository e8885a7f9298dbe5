#!/bin/sh
# Runs every test program in $BUILD/tests (under $EMU when set, e.g. qemu-aarch64) and every
# tests/cli-*.sh script, adds up their "# tf: P passed, F failed, S skipped" lines, and ends
# with the total. A program that dies without its closing line counts as one failure.
BUILD=${BUILD:-build}
EMU=${EMU:-}
export EDGELM="$BUILD/edgelm" EMU BUILD
total_p=0; total_f=0; total_s=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

run_one() { # name, command...
    name=$1; shift
    echo "== $name"
    "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    line=$(grep '^# tf: ' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $name: exited with status $rc before reporting"
        total_f=$((total_f + 1)); return
    fi
    p=$(echo "$line" | sed -E 's/^# tf: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1/')
    f=$(echo "$line" | sed -E 's/^# tf: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\2/')
    s=$(echo "$line" | sed -E 's/^# tf: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\3/')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exited with status $rc"; f=1
    fi
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
}

for t in "$BUILD"/tests/test-*; do
    case "$t" in *.d) continue ;; esac
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" $EMU "$t"
done
# Run-time dispatch: the kernel tests again with each other usable kernel set forced (the run
# above used the best one, or the one EDGELM_KERNELS forces; then no others).
if [ -z "${EDGELM_KERNELS:-}" ] && [ -x "$BUILD/edgelm" ]; then
    sets=$($EMU "$BUILD/edgelm" version | sed -n 's/^kernel set: [a-z0-9]* (usable: \([a-z0-9 ]*\);.*/\1/p')
    best=${sets%% *}
    for k in $sets; do
        [ "$k" = "$best" ] && continue
        for t in ops ops-ext quants quants-k quants-iq repack matmul; do
            [ -x "$BUILD/tests/test-$t" ] || continue
            run_one "test-$t [EDGELM_KERNELS=$k]" env EDGELM_KERNELS="$k" $EMU "$BUILD/tests/test-$t"
        done
    done
fi
for s in tests/cli-*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" sh "$s"
done

echo
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
