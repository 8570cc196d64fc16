#!/bin/bash
# The kernel/ series (Linux 6.1) and kernel/6.12/ series are checkpatch
# --strict clean, with the checkpatch of their own kernel, and apply with
# patch -p1 to Debian's linux-source-6.1 and linux-source-6.12, in the
# order their series file gives.
. "$(dirname "$0")/lib.sh"

# series_check VERSION DIR: DIR holds the series file and the patches.
series_check() {
	local v=$1 dir=$2 src top files T out p
	local -a patches
	src=$(ls /usr/src/linux-source-"$v".tar.* 2>/dev/null | head -1)
	[ -n "$src" ] || { fail "linux-source-$v not installed"; return; }
	top=$(tar -tf "$src" | head -1 | cut -d/ -f1)
	mapfile -t patches < <(grep -v '^#' "$dir/series" | grep -v '^$')
	check "$v: series lists patches" [ "${#patches[@]}" -ge 2 ]
	# Only the files the patches touch, plus checkpatch and its data files.
	files=$(cat "${patches[@]/#/$dir/}" | sed -n 's|^--- a/\([^	 ]*\).*|\1|p' | sort -u)
	mkdir -p "$WORK/$v"
	tar -xf "$src" -C "$WORK/$v" --wildcards "$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" \
		"$top/scripts/const_structs.checkpatch" $(for f in $files; do echo "$top/$f"; done) 2>/dev/null
	T=$WORK/$v/$top
	for p in "${patches[@]}"; do
		out=$(cd "$T" && perl scripts/checkpatch.pl --strict --no-tree "$dir/$p" 2>&1)
		check "$v: $p: checkpatch --strict clean ($(echo "$out" | grep -c -E '^(ERROR|WARNING|CHECK)'))" \
			grep -q "has no obvious style problems" <<<"$out"
		check "$v: $p applies with patch -p1" sh -c "cd '$T' && patch -p1 --quiet <'$dir/$p'"
	done
	check "$v: elfsig LSM is there" [ -f "$T/security/elfsig/elfsig.c" ]
}

series_check 6.1 "$SRCDIR/kernel"
series_check 6.12 "$SRCDIR/kernel/6.12"
# 6.12 needs an LSM id and a place in the static call tables.
check "6.12: LSM_ID_ELFSIG defined" grep -q '^#define LSM_ID_ELFSIG' "$WORK/6.12"/*/include/uapi/linux/lsm.h
check "6.12: elfsig counted in MAX_LSM_COUNT" grep -q 'ELFSIG_ENABLED)' "$WORK/6.12"/*/include/linux/lsm_count.h
# The two ports of elfsig.c differ only where the kernel's interfaces do.
check "6.1 and 6.12 elfsig.c differ by at most 40 lines" \
	sh -c "[ \$(diff '$WORK/6.1'/*/security/elfsig/elfsig.c '$WORK/6.12'/*/security/elfsig/elfsig.c | grep -c '^[<>]') -le 40 ]"
done_tests
