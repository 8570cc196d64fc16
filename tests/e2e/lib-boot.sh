# Shared by the boot tests of tests/e2e: sourced, not run (build-kernel.sh
# and CMake leave lib*.sh out of the tests).  Sources tests/cli/lib.sh.
set -u
E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SRCDIR:=$(cd "$E2E/../.." && pwd)}"
: "${FWSIGN:=$SRCDIR/build/fwsign}"
export SRCDIR FWSIGN
# shellcheck source=../cli/lib.sh
. "$SRCDIR/tests/cli/lib.sh"

# need_tools TOOL...: each on the PATH, else exit 1 naming it
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null ||
			{ echo "missing $t (scripts/deps.sh)" >&2; exit 1; }
	done
}

# static_busybox: BUSYBOX, a statically linked busybox (the fixtures', or
# Debian's busybox-static), else exit 1
static_busybox() {
	BUSYBOX=$FIXTURES/amd64/bin/busybox
	[ -x "$BUSYBOX" ] || BUSYBOX=/bin/busybox
	file -L "$BUSYBOX" | grep -q "statically linked" ||
		{ echo "need a static busybox" >&2; exit 1; }
}

# test_kernel [VAR=VALUE...]: KTREE, the test kernel's build tree
# (tests/e2e/build-kernel.sh, with the environment given), else exit 1
test_kernel() {
	KTREE=$(env "$@" "$E2E/build-kernel.sh") ||
		{ echo "kernel build failed" >&2; exit 1; }
}
