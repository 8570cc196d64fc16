#!/bin/bash
# The CPU seconds (user + sys, the test and all its children: tools,
# QEMU) and wall of each test, one test per ctest call, two at a time.
#   scripts/test-cpu.sh BUILD_DIR [ctest selection, e.g. -LE e2e] > table
# Prints "cpu wall user sys test checks" lines, heaviest first (checks:
# the test's "N passed" count), then the sum.  The machine may be shared: CPU seconds are the figure to compare.
set -euo pipefail
dir=$1; shift
out=$(mktemp -d /tmp/fwsign-testcpu.XXXXXX)
trap 'rm -rf "$out"' EXIT
ctest --test-dir "$dir" -N "$@" | sed -n 's/^ *Test *#[0-9]*: //p' |
	grep -vx fixtures >"$out/names"
# -FA: not the fixtures setup again for each test (it is run once first)
ctest --test-dir "$dir" -R '^fixtures$' >/dev/null
export dir out
xargs -P "${JOBS:-2}" -I{} sh -c '
	/usr/bin/time -f "%e %U %S" -o "$out/{}.time" \
		ctest --test-dir "$dir" -R "^{}\$" -FA ".*" -V \
		>"$out/{}.log" 2>&1 || echo "FAILED: {}" >&2' <"$out/names"
while read -r t; do
	# GNU time's last line; a line before it says the test failed
	read -r wall u s < <(tail -n 1 "$out/$t.time")
	checks=$(grep -Eo "[0-9]+ passed, [0-9]+ failed" "$out/$t.log" | tail -1 |
		cut -d" " -f1)
	grep -q "Timeout" "$out/$t.log" && checks="TIMEOUT (at least this CPU)"
	printf '%7.1f %7.1f %7.1f %6.1f %-28s %s\n' "$(echo "$u + $s" | bc)" \
		"$wall" "$u" "$s" "$t" "${checks:--}"
done <"$out/names" | sort -rn | tee "$out/table"
awk '{ c += $1; w += $2 } END { printf "%7.1f %7.1f  sum of %d tests\n", c, w, NR }' "$out/table"
