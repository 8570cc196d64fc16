# SPDX-License-Identifier: GPL-2.0-or-later
# bench/lib.sh: what the bench scripts share.  Source it after setting
# BENCH_NAME (the prefix of messages); it sets HERE, TOP and NCPU.
# shellcheck shell=bash

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
NCPU=$(nproc)

# The comment block at the top of the calling script, up to "set -euo".
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
say() { echo "$BENCH_NAME: $*" >&2; }
unknown_option() { echo "$BENCH_NAME: unknown option $1" >&2; usage 2 >&2; }

calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
# the smallest of the numbers on stdin
minof() { sort -g | sed -n 1p; }

# FWSIGN: the binary given, else a Release build in build-bench.
bench_fwsign() {
	if [ -z "${FWSIGN:-}" ]; then
		say "building fwsign (Release, $TOP/build-bench)"
		{ cmake -S "$TOP" -B "$TOP/build-bench" -DCMAKE_BUILD_TYPE=Release &&
		  cmake --build "$TOP/build-bench" -j"$NCPU"; } >/dev/null ||
			die "build failed (FWSIGN=path/to/fwsign uses a built binary)"
		FWSIGN=$TOP/build-bench/fwsign
	fi
	[ -x "$FWSIGN" ] || die "no fwsign at $FWSIGN"
}

# needs TOOL...: each must be on PATH.
needs() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || die "needs $t"
	done
}
