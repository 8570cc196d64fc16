#!/bin/bash
# The user interface: --help on every command, progress on a terminal and
# silence in a pipe, --version.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048
K=$WORK/keys/vendor

expect_exit 0 "fwsign --help" "$FWSIGN" --help
for c in sign verify info keygen; do
	check "$c is listed" grep -q "^  $c " "$WORK/out.txt"
done
for c in sign verify info keygen; do
	expect_exit 0 "$c --help" "$FWSIGN" $c --help
	check "$c --help has usage" grep -q "^usage: fwsign $c" "$WORK/out.txt"
done
expect_exit 2 "no command" "$FWSIGN"
expect_exit 0 "--version" "$FWSIGN" --version

# In a pipe: stderr stays empty on success.
"$FWSIGN" sign "$FIXTURES/arm64" -o "$WORK/pipe" --key $K.key --cert $K.crt 2>"$WORK/err" | cat >"$WORK/stdout"
check "quiet in a pipe" [ ! -s "$WORK/err" ]
check "summary on stdout" grep -q "^signed [0-9]*, re-signed [0-9]*" "$WORK/stdout"

# On a terminal (script(1) gives a pty): a progress line on stderr.
if command -v script >/dev/null; then
	script -qec "'$FWSIGN' sign '$FIXTURES/arm64' -o '$WORK/tty' --key $K.key --cert $K.crt --jobs 1" \
		/dev/null >"$WORK/tty.txt" 2>&1 </dev/null
	check "progress on a terminal" grep -q "signing [0-9]*/[0-9]* files" "$WORK/tty.txt"
	check "progress line cleared" grep -q $'\033\\[K' "$WORK/tty.txt"
	check "same output on a terminal" same_files "$WORK/pipe" "$WORK/tty"
else
	fail "script (util-linux) missing"
fi
done_tests
