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
for s in tests/cli-*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" sh "$s"
done

echo
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
