# Sourced by tests/cli-*.sh: the shell side of tests/tf.h (not itself a test: its name is outside the cli-*.sh pattern).
#   check NAME COMMAND...    passes when COMMAND exits 0
#   skip NAME REASON
#   skip_fixture NAME REASON  a skip for missing fixtures: a failure when EDGELM_REQUIRE_FIXTURES=1
#   finish                   prints the "# tf:" line and exits
# $EDGELM is the program under test, $EMU the runner prefix (qemu-aarch64 ...), $FIXTURES the
# shared fixtures (default ../shared/fixtures).
: "${EDGELM:=build/edgelm}"
: "${FIXTURES:=${EDGELM_FIXTURES:-../shared/fixtures}}"
tf_p=0; tf_f=0; tf_s=0
TMPD=$(mktemp -d); trap 'rm -rf "$TMPD"' EXIT
edgelm() { $EMU "$EDGELM" "$@"; }
check() {
    name=$1; shift
    if ( "$@" ) >"$TMPD/out" 2>&1; then
        echo "ok   $name"; tf_p=$((tf_p + 1))
    else
        echo "FAIL $name"; sed 's/^/    /' "$TMPD/out" | head -n 30; tf_f=$((tf_f + 1))
    fi
}
skip() { echo "skip $1: $2"; tf_s=$((tf_s + 1)); }
skip_fixture() {
    if [ "${EDGELM_REQUIRE_FIXTURES:-}" = 1 ]; then
        echo "FAIL $1: $2 (EDGELM_REQUIRE_FIXTURES=1)"; tf_f=$((tf_f + 1))
    else
        skip "$@"
    fi
}
finish() {
    echo "# tf: $tf_p passed, $tf_f failed, $tf_s skipped"
    [ "$tf_f" -eq 0 ]
    exit $?
}
