#!/bin/bash
# The whole test suite: dependencies, a -Werror build and its tests, then
# the same tests again on an ASan+UBSan build.  Each phase's wall time is
# printed as it ends and again, all together, at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

PHASES=()
T_ALL=$(date +%s)
phase() {	# phase NAME COMMAND...: runs it, times it
	local name=$1 t0=$(date +%s) rc=0
	shift
	echo "=== $name ==="
	"$@" || rc=$?
	local dt=$(( $(date +%s) - t0 ))
	PHASES+=("$(printf '%-28s %5d s%s' "$name" "$dt" \
		"$([ $rc = 0 ] || echo "  FAILED (exit $rc)")")")
	echo "=== $name: ${dt} s ==="
	return $rc
}
summary() {
	echo "=== phase times ==="
	printf '%s\n' "${PHASES[@]}"
	printf '%-28s %5d s\n' "all" $(( $(date +%s) - T_ALL ))
}
trap summary EXIT

phase "dependencies" bash scripts/deps.sh
export FWSIGN_FIXTURES=${FWSIGN_FIXTURES:-/var/cache/fwsign-fixtures}
phase "fixtures" tests/fixtures/fetch.sh "$FWSIGN_FIXTURES"

jobs=$(nproc)
phase "build" sh -c "cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DFWSIGN_WERROR=ON >/dev/null && cmake --build build -j$jobs"
phase "tests" sh -c "cd build && ctest --output-on-failure -j$jobs"

if [ "${FWSIGN_SKIP_ASAN:-0}" != 1 ]; then
	phase "build (ASan+UBSan)" sh -c "cmake -S . -B build-asan \
		-DCMAKE_BUILD_TYPE=Debug -DFWSIGN_SANITIZE=ON \
		-DFWSIGN_WERROR=ON >/dev/null && cmake --build build-asan -j$jobs"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	# The boots in QEMU test the kernel, not fwsign's memory safety: once is enough.
	phase "tests (ASan+UBSan)" sh -c \
		"cd build-asan && ctest --output-on-failure -j$jobs -LE e2e"
fi
