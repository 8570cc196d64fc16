#!/bin/bash
# The whole test suite: dependencies, a -Werror build and an ASan+UBSan
# build, the tests that boot no kernel on each, then the boots (tests/e2e,
# the plain build only).  Each phase's wall time and CPU seconds (user +
# sys of all it ran) are printed as it ends and again, all together, at
# the end.
set -euo pipefail
cd "$(dirname "$0")/.."

PHASES=()
mkdir -p build
CPU_F=$PWD/build/.phase-cpu
T_ALL=$(date +%s)
phase() {	# phase NAME COMMAND...: runs it, times it: wall, and the CPU
	# seconds (user + sys) of the command and all it waited for (GNU time)
	local name=$1 t0=$(date +%s) rc=0
	shift
	echo "=== $name ==="
	/usr/bin/time -f "%U %S" -o "$CPU_F" "$@" || rc=$?
	local dt=$(( $(date +%s) - t0 )) cpu
	cpu=$(awk 'END { printf "%d", $1 + $2 }' "$CPU_F")
	PHASES+=("$(printf '%-28s %5d s %6d CPU s%s' "$name" "$dt" "$cpu" \
		"$([ $rc = 0 ] || echo "  FAILED (exit $rc)")")")
	echo "=== $name: ${dt} s, ${cpu} CPU s ==="
	return $rc
}
# The test kernels (tests/e2e/build-kernel.sh, cached per machine) build
# in the background from the start, nice'd, one after another, so that
# they overlap the fixtures, the fwsign builds and the tests that need no
# kernel; a test that needs one waits for it on build-kernel.sh's lock.
# 6.1 first (cli.kernel and most boots), then the stock 6.12 (IMA,
# dm-verity + IPE), then the patched 6.12, then the ARM32 6.1 zImages.  Their log: build/kernels.log.
KPID=
KTIMES=$PWD/build/kernels.times
kernels() {
	local v name t
	for v in "6.1 elfsig" "6.12 stock" "6.12 elfsig" "6.1 arm"; do
		set -- $v
		name="kernel $1 $2"
		[ "$2" = stock ] && t=stock || t=
		b=tests/e2e/build-kernel.sh
		[ "$2" = arm ] && b=tests/e2e/build-kernel-arm.sh
		if FWSIGN_KVERSION=$1 FWSIGN_KVARIANT=$t $b --cached >/dev/null; then
			printf '%-28s cached\n' "$name" >>"$KTIMES"
			continue
		fi
		# bash's time: wall, and the CPU seconds of make and the compilers
		TIMEFORMAT="%R %U %S"
		{ time FWSIGN_KVERSION=$1 FWSIGN_KVARIANT=$t nice -n 10 \
			$b >/dev/null 2>&3; } 3>&2 2>"$KTIMES.t" || {
			printf '%-28s FAILED\n' "$name" >>"$KTIMES"
			continue
		}
		read -r t u s <"$KTIMES.t"
		awk -v n="$name" -v t="$t" -v c="$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')" \
			'BEGIN { printf "%-28s %5d s  (%d CPU s, in the background)\n", n, t, c }' >>"$KTIMES"
	done
}
summary() {
	if [ -n "$KPID" ]; then
		echo "=== waiting for the kernel builds (build/kernels.log) ==="
		wait "$KPID" || true
	fi
	echo "=== phase times ==="
	printf '%s\n' "${PHASES[@]}"
	[ -f "$KTIMES" ] && cat "$KTIMES"
	printf '%-28s %5d s\n' "all" $(( $(date +%s) - T_ALL ))
}
trap summary EXIT

# (GNU time, which phase uses, comes with the dependencies)
echo "=== dependencies ==="
t0=$(date +%s)
bash scripts/deps.sh
PHASES+=("$(printf '%-28s %5d s' dependencies $(( $(date +%s) - t0 )))")
mkdir -p build
rm -f "$KTIMES"
kernels >build/kernels.log 2>&1 </dev/null &
KPID=$!
export FWSIGN_FIXTURES=${FWSIGN_FIXTURES:-/var/cache/fwsign-fixtures}
phase "fixtures" tests/fixtures/fetch.sh "$FWSIGN_FIXTURES"

jobs=$(nproc)
ASAN=1
[ "${FWSIGN_SKIP_ASAN:-0}" = 1 ] && ASAN=0
phase "build" sh -c "cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DFWSIGN_WERROR=ON >/dev/null && cmake --build build -j$jobs"
[ $ASAN = 0 ] || phase "build (ASan+UBSan)" sh -c "cmake -S . -B build-asan \
	-DCMAKE_BUILD_TYPE=Debug -DFWSIGN_SANITIZE=ON \
	-DFWSIGN_WERROR=ON >/dev/null && cmake --build build-asan -j$jobs"
# The tests that boot no kernel first, plain then ASan+UBSan, the boots
# last: by then the background has built the kernels (or holds the next
# one's lock), so no test builds a kernel of its own beside it, and while
# a test waits on a kernel's lock the kernel build has the core.  A phase
# that fails does not stop the next ones.
rc=0
phase "tests" sh -c "cd build && ctest --output-on-failure -j$jobs -LE e2e" || rc=1
if [ $ASAN = 1 ]; then
	# The boots in QEMU test the kernel, not fwsign's memory safety: once
	# is enough; so are the tests of the source tree alone (label source:
	# checkpatch and patch over kernel/, the format table), which run
	# nothing that was built.
	phase "tests (ASan+UBSan)" env \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		sh -c "cd build-asan && ctest --output-on-failure -j$jobs -LE 'e2e|source'" || rc=1
fi
phase "tests (boots, e2e)" sh -c "cd build && ctest --output-on-failure -j$jobs -L e2e" || rc=1
exit $rc
