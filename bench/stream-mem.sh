#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/stream-mem.sh: does signing a tar archive or an ext4 image stay
# flat in memory as the input grows?  Both formats stream: a tar is read
# where it lies (compressed: from a temporary file it is decompressed
# into) and rewritten entry by entry, an ext4 image copied and patched in
# place.  For each size, fwsign sign --jobs N's peak RSS, wall and CPU
# time.
#
#   bench/stream-mem.sh [--sizes "100 500 1000"] [--formats "tar tar.zst ext4"]
#                       [--jobs 2] [--runs 1] [--keep]
#
# The trees are bench/squashfs.sh --sizes's (about N MiB of the host's
# /usr, ELF files and data, bench/usr-tree.py), kept in CACHE (default
# /var/tmp/fwsign-bench/sqfs-usr) with the tar (tar cf, GNU format), the
# same tar through zstd -3 (its frame records the content size, so the
# output waits uncompressed in a temporary file too) and ext4 images
# (mke2fs -t ext4 -d, 40% larger than the tree) made of them.
# Inputs are made under flock /tmp/fwsign-benchinputs.lock (other benches
# make them from the same trees).  Target: peak RSS within 10% across the
# sizes; with --runs N each size is signed N times and its highest peak
# counts (what a build server must have).  Each timed run holds flock
# /tmp/fwsign-bench.lock; the load average is printed beside it.
#
# Environment: FWSIGN (default: build the Release tree build-bench).
set -euo pipefail
export LC_ALL=C

BENCH_NAME=stream-mem
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SIZES="100 500 1000"
FORMATS="tar tar.zst ext4"
JOBS=2
RUNS=1
KEEP=0
CACHE=${CACHE:-/var/tmp/fwsign-bench/sqfs-usr}

while [ $# -gt 0 ]; do
	case $1 in
	--sizes) SIZES=$2; shift ;;
	--formats) FORMATS=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage 0 ;;
	*) unknown_option "$1" ;;
	esac
	shift
done
needs python3 tar mke2fs flock zstd
[ -x /usr/bin/time ] || die "needs /usr/bin/time (package time)"
bench_fwsign

mkdir -p "$CACHE"
W=$(mktemp -d "$CACHE/stream-mem.XXXXXX")
[ "$KEEP" = 1 ] || trap 'rm -rf "$W"' EXIT
"$FWSIGN" keygen -o "$W/key" --rsa 2048 >/dev/null

# Made once, under the inputs lock (fd 9).
exec 9>/tmp/fwsign-benchinputs.lock
tree_of() {
	local mb=$1 d=$CACHE/$1
	if [ ! -d "$d/tree" ] || [ ! -s "$d/list" ]; then
		say "$mb MiB: tree from /usr (once, kept in $d)"
		rm -rf "$d"
		mkdir -p "$d/tree"
		python3 "$HERE/usr-tree.py" "$mb" >"$d/list"
		(cd / && tar cf - --verbatim-files-from -T "$d/list" 2>/dev/null) |
			(cd "$d/tree" && tar xf -)
	fi
}

input_of() {
	local fmt=$1 mb=$2 d=$CACHE/$2 kb
	case $fmt in
	tar)
		[ -s "$d/in.tar" ] || { say "$mb MiB: tar"; tar cf "$d/in.tar.tmp" -C "$d/tree" . &&
			mv "$d/in.tar.tmp" "$d/in.tar"; }
		echo "$d/in.tar" ;;
	tar.zst)
		input_of tar "$mb" >/dev/null
		[ -s "$d/in.tar.zst" ] || { say "$mb MiB: tar.zst"; zstd -q -3 "$d/in.tar" -o "$d/in.tar.zst.tmp" &&
			mv "$d/in.tar.zst.tmp" "$d/in.tar.zst"; }
		echo "$d/in.tar.zst" ;;
	ext4)
		if [ ! -s "$d/in.ext4" ]; then
			say "$mb MiB: ext4"
			kb=$(( $(du -sk --apparent-size "$d/tree" | cut -f1) * 14 / 10 + 65536 ))
			rm -f "$d/in.ext4.tmp"
			mke2fs -q -t ext4 -E root_owner=0:0 -d "$d/tree" "$d/in.ext4.tmp" "${kb}k" >/dev/null
			mv "$d/in.ext4.tmp" "$d/in.ext4"
		fi
		echo "$d/in.ext4" ;;
	*) die "--formats: tar, tar.zst and/or ext4" ;;
	esac
}

printf '\nfwsign streaming formats, peak RSS against the input size; --jobs %s, %d CPUs\n' "$JOBS" "$NCPU"
for fmt in $FORMATS; do
	declare -A RSS=()
	printf '\n%s\n  %-8s %12s %8s %8s %8s %6s %8s\n' "$fmt" "tree MiB" "input bytes" "wall s" "CPU s" \
		"RSS MiB" "load" "signed"
	for mb in $SIZES; do
		flock 9
		tree_of "$mb"
		in=$(input_of "$fmt" "$mb")
		flock -u 9
		cat "$in" >/dev/null
		for run in $(seq "$RUNS"); do
			rm -f "$W/out"
			flock /tmp/fwsign-bench.lock /usr/bin/time -f '%e %U %S %M' -o "$W/t" \
				"$FWSIGN" sign "$in" -o "$W/out" --key "$W/key.key" --cert "$W/key.crt" \
				--jobs "$JOBS" --json >"$W/rep.json" 2>"$W/err" ||
				{ cat "$W/err" >&2; die "$fmt $mb: sign failed"; }
			load=$(cut -d' ' -f1 /proc/loadavg)
			read -r w u s m <"$W/t"
			n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["signed"])' "$W/rep.json")
			rss=$(calc "$m / 1024" 1)
			# the highest peak of the runs counts
			if [ -z "${RSS[$mb]:-}" ] || awk -v a="$rss" -v b="${RSS[$mb]}" 'BEGIN { exit !(a > b) }'; then
				RSS[$mb]=$rss
			fi
			printf '  %-8s %12d %8s %8s %8s %6s %8s\n' "$mb" "$(stat -c %s "$in")" "$w" "$(calc "$u + $s" 2)" \
				"$rss" "$load" "$n"
			printf 'BENCH {"format":"%s","tree_mib":%d,"input_bytes":%d,"jobs":%s,"run":%d,"wall":%s,"cpu":%s,"rss_mib":%s,"load":%s,"signed":%d}\n' \
				"$fmt" "$mb" "$(stat -c %s "$in")" "$JOBS" "$run" "$w" "$(calc "$u + $s" 2)" "$rss" "$load" "$n" >>"$W/bench"
			rm -f "$W/out"
		done
	done
	lo=$(printf '%s\n' "${RSS[@]}" | sort -g | head -1)
	hi=$(printf '%s\n' "${RSS[@]}" | sort -g | tail -1)
	spread=$(calc "100 * ($hi - $lo) / $lo" 1)
	printf '  RSS %s MiB (highest of %d run(s) per size), spread %s%% (target <= 10%%): %s\n' \
		"$(for mb in $SIZES; do printf '%s ' "${RSS[$mb]}"; done | sed 's/ $//; s/ / \/ /g')" "$RUNS" "$spread" \
		"$(awk -v s="$spread" 'BEGIN { print (s <= 10) ? "PASS" : "MISS" }')"
	unset RSS
done
echo
cat "$W/bench"
