#!/bin/bash
# The whole test suite: dependencies, a -Werror build and its tests, then
# the same tests again on an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export FWSIGN_FIXTURES=${FWSIGN_FIXTURES:-/var/cache/fwsign-fixtures}
tests/fixtures/fetch.sh "$FWSIGN_FIXTURES"

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFWSIGN_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${FWSIGN_SKIP_ASAN:-0}" != 1 ]; then
	echo "=== again under ASan+UBSan ==="
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFWSIGN_SANITIZE=ON \
		-DFWSIGN_WERROR=ON >/dev/null
	cmake --build build-asan -j"$jobs"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	# The boots in QEMU test the kernel, not fwsign's memory safety: once is enough.
	(cd build-asan && ctest --output-on-failure -j"$jobs" -LE e2e)
fi
