#!/bin/bash
# The kernel/ series is checkpatch --strict clean and applies with patch -p1
# to Debian's linux-source-6.1, in the order kernel/series gives.
. "$(dirname "$0")/lib.sh"
SRC=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -1)
[ -n "$SRC" ] || { fail "linux-source-6.1 not installed"; done_tests; }
top=$(tar -tf "$SRC" | head -1 | cut -d/ -f1)
mapfile -t patches < <(grep -v '^#' "$SRCDIR/kernel/series" | grep -v '^$')
check "series lists patches" [ "${#patches[@]}" -ge 2 ]
# Only the files the patches touch, plus checkpatch and its data files.
files=$(cat "${patches[@]/#/$SRCDIR/kernel/}" | sed -n 's|^--- a/\([^	 ]*\).*|\1|p' | sort -u)
tar -xf "$SRC" -C "$WORK" --wildcards "$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" \
	"$top/scripts/const_structs.checkpatch" $(for f in $files; do echo "$top/$f"; done) 2>/dev/null
T=$WORK/$top
for p in "${patches[@]}"; do
	out=$(cd "$T" && perl scripts/checkpatch.pl --strict --no-tree "$SRCDIR/kernel/$p" 2>&1)
	check "$p: checkpatch --strict clean ($(echo "$out" | grep -c -E '^(ERROR|WARNING|CHECK)'))" \
		grep -q "has no obvious style problems" <<<"$out"
	check "$p applies with patch -p1" sh -c "cd '$T' && patch -p1 --quiet <'$SRCDIR/kernel/$p'"
done
check "elfsig LSM is there" [ -f "$T/security/elfsig/elfsig.c" ]
done_tests
