#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/diff.sh: how long does `fwsign diff` take on a signed and an
# unsigned squashfs image of at least 150 MiB, against diffoscope (the
# Debian package) on the same pair, in the same run?  Target: fwsign at
# least 50x faster (identical compressed blocks need no decompression).
# And what does diffoscope miss: an xattr planted in a copy of the tree
# (setcap cap_net_raw+ep on one binary) must make `fwsign diff` exit 1
# naming security.capability; the script shows what diffoscope says.
#
#   bench/diff.sh [--runs N] [--mb N] [--min-mb N] [--comp xz] [--block 256K]
#                 [--timeout S] [--dfs-runs N] [--dfs-planted-signed]
#                 [--no-diffoscope] [--rebuild]
#
# The tree: the ELF executables and shared libraries (no relocatable
# objects) of /usr/bin and /usr/lib/x86_64-linux-gnu, sorted paths, one
# name per inode, none over 16 MiB, up to --mb MiB (default 520), as
# bench/squashfs.sh picks them.  Images (mksquashfs -comp xz -b 256K
# -mkfs-time 1700000000), cached in $BENCH_DIR/diff/in (default
# /var/tmp/fwsign-bench/diff/in); --rebuild makes them again:
#   u.sqfs     the tree, unsigned; it must reach --min-mb MiB (default 150)
#   s.sqfs     fwsign sign u.sqfs (RSA-2048 key of fwsign keygen); made
#              again when fwsign or its libfwsign changes
#   ucap.sqfs  the same tree but one binary of usr/bin (a copy, not a hard
#              link; mode, owner and mtime kept, and its directory's mtime)
#              has security.capability (setcap cap_net_raw+ep): an
#              xattr-only change
#   scap.sqfs  fwsign sign ucap.sqfs: signatures and the planted xattr
# Pairs and what runs on them (both images in the page cache first):
#   u / s      the timed pair: `fwsign diff` --runs times (default 5, the
#              median counts; it must exit 0), diffoscope --dfs-runs times
#              (default 1) with a --timeout (default 1800 s; when it runs
#              out, the ratio is a lower bound, marked >=)
#   u / ucap   the xattr alone: fwsign diff (must exit 1 and name
#              security.capability) and diffoscope, once each
#   u / scap   signatures and the xattr: fwsign diff (must exit 1 and
#              name security.capability, nothing else besides the
#              signatures); diffoscope only with --dfs-planted-signed
#              (it takes as long as on u / s)
# diffoscope runs as `diffoscope --text FILE OLD NEW` (its defaults; TMPDIR
# in the work directory); its reports stay in $BENCH_DIR/diff/runs.
# Times are wall and user+sys CPU seconds, memory peak RSS, from
# /usr/bin/time (for diffoscope, the largest of its processes).
#
# Environment: BENCH_DIR (default /var/tmp/fwsign-bench), FWSIGN (default:
# build the Release tree build-bench).  Needs diffoscope (apt-get install
# --no-install-recommends diffoscope; it reads squashfs with unsquashfs of
# squashfs-tools), mksquashfs, setcap, python3.  Run as root (setcap).
set -euo pipefail
export LC_ALL=C

BENCH_NAME=diff-bench
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=5
MB=520
MIN_MB=150
COMP=xz
BLOCK=256K
TIMEOUT=1800
DFS_RUNS=1
DFS_PLANTED=0
DFS=1
REBUILD=0
TARGET=50

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--mb) MB=$2; shift ;;
	--min-mb) MIN_MB=$2; shift ;;
	--comp) COMP=$2; shift ;;
	--block) BLOCK=$2; shift ;;
	--timeout) TIMEOUT=$2; shift ;;
	--dfs-runs) DFS_RUNS=$2; shift ;;
	--dfs-planted-signed) DFS_PLANTED=1 ;;
	--no-diffoscope) DFS=0 ;;
	--rebuild) REBUILD=1 ;;
	-h|--help) usage 0 ;;
	*) unknown_option "$1" ;;
	esac
	shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ && $MB =~ ^[1-9][0-9]*$ && $MIN_MB =~ ^[0-9]+$ &&
   $TIMEOUT =~ ^[1-9][0-9]*$ && $DFS_RUNS =~ ^[1-9][0-9]*$ ]] ||
	die "bad --runs/--mb/--min-mb/--timeout/--dfs-runs"
needs mksquashfs unsquashfs setcap getcap python3 timeout sha256sum
[ "$DFS" = 0 ] || needs diffoscope
[ -x /usr/bin/time ] || die "needs /usr/bin/time (package time)"
bench_fwsign

BASE=${BENCH_DIR:-/var/tmp/fwsign-bench}/diff
IN=$BASE/in
W=$BASE/runs
mkdir -p "$IN"
rm -rf "$W" && mkdir -p "$W/tmp"
trap 'rm -rf "$W/tmp"' EXIT

# ------------------------------------------------------------------ inputs
PARAMS="v2 mb=$MB comp=$COMP block=$BLOCK"
if [ "$REBUILD" = 1 ] || [ "$(cat "$IN/params" 2>/dev/null)" != "$PARAMS" ] ||
   [ ! -s "$IN/u.sqfs" ] || [ ! -s "$IN/ucap.sqfs" ]; then
	rm -rf "${IN:?}"/* && mkdir -p "$IN/tree"
	say "tree: ELF executables and shared libraries up to $MB MiB"
	python3 - "$MB" >"$IN/list" <<'PY'
import os, sys
limit, seen, total, out = int(sys.argv[1]) << 20, set(), 0, []
paths = []
for root in ('/usr/bin', '/usr/lib/x86_64-linux-gnu'):
    for d, _, files in os.walk(root):
        paths += [os.path.join(d, f) for f in files]
for p in sorted(paths):
    try:
        st = os.lstat(p)
        if not os.path.isfile(p) or os.path.islink(p) or st.st_size > 16 << 20:
            continue
        if (st.st_dev, st.st_ino) in seen or total + st.st_size > limit:
            continue
        with open(p, 'rb') as f:
            h = f.read(18)
        # ET_EXEC or ET_DYN: no relocatable objects
        if h[:4] != b'\x7fELF' or int.from_bytes(h[16:18], 'little') not in (2, 3):
            continue
    except OSError:
        continue
    seen.add((st.st_dev, st.st_ino))
    total += st.st_size
    out.append(p[1:])
print('\n'.join(out))
PY
	(cd / && tar cf - -T "$IN/list") | (cd "$IN/tree" && tar xf -)
	# the planted change: a copy of the tree sharing every file but one
	PLANT=$(grep -m1 '^usr/bin/[a-z][a-z0-9-]*$' "$IN/list") || die "no usr/bin file to plant"
	cp -al "$IN/tree" "$IN/tree-cap"
	cp -p --remove-destination "$IN/tree/$PLANT" "$IN/tree-cap/$PLANT"
	setcap cap_net_raw+ep "$IN/tree-cap/$PLANT"
	# the new name changed its directory's mtime: not part of the plant
	touch -h -r "$IN/tree/${PLANT%/*}" "$IN/tree-cap/${PLANT%/*}"
	getcap "$IN/tree-cap/$PLANT" | grep -q cap_net_raw || die "setcap did not stick"
	[ -z "$(getfattr -d -m - "$IN/tree/$PLANT" 2>/dev/null)" ] ||
		die "the original $PLANT has xattrs too"
	echo "$PLANT" >"$IN/plant"
	for t in u:tree ucap:tree-cap; do
		say "mksquashfs ${t#*:} -> ${t%%:*}.sqfs ($COMP, $BLOCK)"
		mksquashfs "$IN/${t#*:}" "$IN/${t%%:*}.sqfs" -comp "$COMP" -b "$BLOCK" \
			-mkfs-time 1700000000 -noappend -quiet -no-progress >/dev/null
	done
	rm -rf "$IN/tree" "$IN/tree-cap"
	rm -f "$IN/s.sqfs" "$IN/scap.sqfs"
	echo "$PARAMS" >"$IN/params"
fi
U_MB=$(( $(stat -c %s "$IN/u.sqfs") >> 20 ))
[ "$U_MB" -ge "$MIN_MB" ] ||
	die "u.sqfs is $U_MB MiB, under --min-mb $MIN_MB: give a bigger --mb"
PLANT=$(cat "$IN/plant")
[ -s "$IN/key.key" ] || "$FWSIGN" keygen -o "$IN/key" --rsa 2048 >/dev/null
# fwsign and its library (libfwsign, where the signing is)
FW_SUM=$(cat "$FWSIGN" $(ldd "$FWSIGN" 2>/dev/null | awk '/libfwsign/ { print $3 }') | sha256sum | cut -c1-64)
if [ "$(cat "$IN/fwsign.sha256" 2>/dev/null)" != "$FW_SUM" ] ||
   [ ! -s "$IN/s.sqfs" ] || [ ! -s "$IN/scap.sqfs" ]; then
	for p in s:u scap:ucap; do
		say "fwsign sign ${p#*:}.sqfs -> ${p%%:*}.sqfs"
		rm -f "$IN/${p%%:*}.sqfs"
		"$FWSIGN" sign "$IN/${p#*:}.sqfs" -o "$IN/${p%%:*}.sqfs" \
			--key "$IN/key.key" --cert "$IN/key.crt" >/dev/null
		"$FWSIGN" verify "$IN/${p%%:*}.sqfs" --cert "$IN/key.crt" >/dev/null ||
			die "${p%%:*}.sqfs does not verify"
	done
	echo "$FW_SUM" >"$IN/fwsign.sha256"
fi
NFILES=$(unsquashfs -s "$IN/u.sqfs" | awk '/^Number of inodes/ { print $4 }')

# ------------------------------------------------------------------ timing
# timed NAME EXPECTED_RC command...: runs it under /usr/bin/time (and
# `timeout` when NAME begins with dfs); stdout into $W/NAME.out;
# "wall cpu rss_mib rc" into $W/NAME
timed() {
	local name=$1 want=$2 rc=0; shift 2
	if [ "${name#dfs}" != "$name" ]; then
		set -- timeout "$TIMEOUT" "$@"
	fi
	/usr/bin/time -f '%e %U %S %M' -o "$W/$name.t" "$@" >"$W/$name.out" 2>"$W/$name.err" || rc=$?
	if [ "$rc" = 124 ]; then
		say "$name: timed out after $TIMEOUT s"
	elif [ "$rc" != "$want" ]; then
		cat "$W/$name.err" >&2
		die "$name: exit $rc, expected $want: $*"
	fi
	# /usr/bin/time's first line may be "Command exited with non-zero status"
	tail -1 "$W/$name.t" | awk -v rc="$rc" \
		'{ printf "%.2f %.2f %.0f %d\n", $1, $2 + $3, $4 / 1024, rc }' >"$W/$name"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
warm() { cat "$@" >/dev/null; }
FWDIFF=("$FWSIGN" diff)
DFSCMD=(env "TMPDIR=$W/tmp" diffoscope --text)	# REPORT OLD NEW

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average $LOAD0"
warm "$IN/u.sqfs" "$IN/s.sqfs"
for r in $(seq "$RUNS"); do
	say "u / s: fwsign diff, run $r of $RUNS"
	timed "fw.$r" 0 "${FWDIFF[@]}" "$IN/u.sqfs" "$IN/s.sqfs"
done
tail -1 "$W/fw.1.out" >"$W/fw.summary"
if [ "$DFS" = 1 ]; then
	for r in $(seq "$DFS_RUNS"); do
		say "u / s: diffoscope, run $r of $DFS_RUNS (timeout $TIMEOUT s)"
		warm "$IN/u.sqfs" "$IN/s.sqfs"
		rm -rf "$W/tmp" && mkdir "$W/tmp"
		timed "dfs.$r" 1 "${DFSCMD[@]}" "$W/dfs.$r.txt" "$IN/u.sqfs" "$IN/s.sqfs"
	done
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

say "u / ucap (xattr only): fwsign diff"
warm "$IN/u.sqfs" "$IN/ucap.sqfs"
timed fwcap 1 "${FWDIFF[@]}" "$IN/u.sqfs" "$IN/ucap.sqfs"
say "u / scap (signatures and the xattr): fwsign diff"
warm "$IN/scap.sqfs"
timed fwscap 1 "${FWDIFF[@]}" "$IN/u.sqfs" "$IN/scap.sqfs"
if [ "$DFS" = 1 ]; then
	say "u / ucap: diffoscope"
	rm -rf "$W/tmp" && mkdir "$W/tmp"
	timed dfscap 1 "${DFSCMD[@]}" "$W/dfscap.txt" "$IN/u.sqfs" "$IN/ucap.sqfs"
	if [ "$DFS_PLANTED" = 1 ]; then
		say "u / scap: diffoscope (timeout $TIMEOUT s)"
		rm -rf "$W/tmp" && mkdir "$W/tmp"
		timed dfsscap 1 "${DFSCMD[@]}" "$W/dfsscap.txt" "$IN/u.sqfs" "$IN/scap.sqfs"
	fi
fi
LOAD2=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report
col() { for r in $(seq "$2"); do awk -v c="$3" '{ print $c }' "$W/$1.$r"; done; }
FW_W=$(col fw "$RUNS" 1 | median); FW_C=$(col fw "$RUNS" 2 | median)
FW_M=$(col fw "$RUNS" 3 | sort -n | tail -1)
FW_MIN=$(col fw "$RUNS" 1 | sort -g | head -1); FW_MAX=$(col fw "$RUNS" 1 | sort -g | tail -1)
printf '\nfwsign diff vs diffoscope %s: %d CPUs, %s\n' \
	"$(diffoscope --version 2>/dev/null | awk '{ print $2 }' || echo -)" "$NCPU" \
	"$("$FWSIGN" --version 2>/dev/null | head -1)"
printf 'pair: u.sqfs %d bytes (%s, %s blocks, %d inodes) / s.sqfs %d bytes (fwsign sign)\n' \
	"$(stat -c %s "$IN/u.sqfs")" "$COMP" "$BLOCK" "$NFILES" "$(stat -c %s "$IN/s.sqfs")"
printf 'load average: %s at the start, %s after u / s, %s at the end\n' "$LOAD0" "$LOAD1" "$LOAD2"
printf 'fwsign diff u s: %s\n' "$(cat "$W/fw.summary")"
printf '\n  %-40s %9s %9s %8s %5s\n' "u.sqfs / s.sqfs" "wall s" "CPU s" "RSS MiB" "exit"
printf '  %-40s %9s %9s %8s %5s\n' "fwsign diff (median of $RUNS)" "$FW_W" "$FW_C" "$FW_M" 0
printf '  %-40s %9s\n' "    fastest / slowest" "$FW_MIN / $FW_MAX"
RATIO=null BOUND=false OK=SKIP DFS_W=null DFS_C=null DFS_M=null
if [ "$DFS" = 1 ]; then
	DFS_W=$(col dfs "$DFS_RUNS" 1 | median); DFS_C=$(col dfs "$DFS_RUNS" 2 | median)
	DFS_M=$(col dfs "$DFS_RUNS" 3 | sort -n | tail -1)
	if col dfs "$DFS_RUNS" 4 | grep -qx 124; then BOUND=true; fi
	RATIO=$(calc "$DFS_W / ($FW_W > 0.01 ? $FW_W : 0.01)" 1)
	label="diffoscope (median of $DFS_RUNS)"
	[ "$BOUND" = true ] && label="diffoscope (TIMED OUT at $TIMEOUT s)"
	printf '  %-40s %9s %9s %8s %5s\n' "$label" "$DFS_W" "$DFS_C" "$DFS_M" \
		"$(col dfs "$DFS_RUNS" 4 | tr '\n' ' ' | sed 's/ $//')"
	OK=$(awk -v x="$RATIO" -v t="$TARGET" 'BEGIN { print (x >= t) ? "PASS" : "FAIL" }')
	[ "$BOUND" = true ] && [ "$OK" = FAIL ] && OK=UNDECIDED
	if [ -s "$W/dfs.1.txt" ]; then
		printf '  diffoscope report: %d lines, %d bytes (%s)\n' "$(wc -l <"$W/dfs.1.txt")" \
			"$(stat -c %s "$W/dfs.1.txt")" "$W/dfs.1.txt"
	else
		printf '  diffoscope report: none (it writes it at the end)\n'
	fi
	printf '  fwsign diff vs diffoscope: %s%sx faster (target >= %dx)   %s\n' \
		"$([ "$BOUND" = true ] && echo '>= ')" "$RATIO" "$TARGET" "$OK"
fi

# what each says about the planted xattr
say_planted() {	# NAME PAIR
	local n=$1 rc caps
	read -r w c m rc <"$W/$n"
	caps=$(grep -c 'security\.capability' "$W/$n.out" || true)
	printf '  %-40s %9s %9s %8s %5s   names security.capability: %s\n' \
		"fwsign diff $2" "$w" "$c" "$m" "$rc" "$( [ "$caps" -gt 0 ] && echo yes || echo NO)"
}
say_dfs_planted() {	# NAME PAIR
	local n=$1 rc caps
	read -r w c m rc <"$W/$n"
	caps=$(grep -ci 'capabilit' "$W/$n.txt" 2>/dev/null || true)
	printf '  %-40s %9s %9s %8s %5s   says "capability": %s\n' \
		"diffoscope $2" "$w" "$c" "$m" "$rc" "$( [ "${caps:-0}" -gt 0 ] && echo "yes ($caps lines)" || echo no)"
}
printf '\nplanted: setcap cap_net_raw+ep on %s (an xattr-only change)\n' "$PLANT"
printf '  %-40s %9s %9s %8s %5s\n' "" "wall s" "CPU s" "RSS MiB" "exit"
say_planted fwcap "u / ucap (xattr only)"
say_planted fwscap "u / scap (signed + xattr)"
[ -s "$W/dfscap" ] && say_dfs_planted dfscap "u / ucap (xattr only)"
[ -s "$W/dfsscap" ] && say_dfs_planted dfsscap "u / scap (signed + xattr)"
if [ -s "$W/dfsscap.txt" ]; then
	printf '  diffoscope u scap: a report of %d lines; its lines with "xattr":\n' "$(wc -l <"$W/dfsscap.txt")"
	grep -i 'xattr' "$W/dfsscap.txt" | head -5 | sed 's/^/    /'
fi
printf '  fwsign diff u ucap says:\n'
grep -v '^[0-9]* unchanged' "$W/fwcap.out" | sed 's/^/    /'
tail -1 "$W/fwcap.out" | sed 's/^/    /'
printf '  fwsign diff u scap says (besides the signatures):\n'
grep -v -e '^signature added' -e '^[0-9]* unchanged' "$W/fwscap.out" | sed 's/^/    /'
tail -1 "$W/fwscap.out" | sed 's/^/    /'
FW_CAP_OK=$(grep -q 'security\.capability' "$W/fwcap.out" && grep -q 'security\.capability' "$W/fwscap.out" &&
	[ "$(grep -v -e '^signature added' -e '^[0-9]* unchanged' "$W/fwscap.out" | wc -l)" = 1 ] &&
	echo PASS || echo FAIL)
DFS_CAP=null
if [ -s "$W/dfscap" ]; then
	printf '  diffoscope u ucap says (its lines with - or +, the first 20 of %d):\n' \
		"$(grep -cE '^(│ )*│ [-+]' "$W/dfscap.txt" || true)"
	grep -E '^(│ )*│ [-+]' "$W/dfscap.txt" | head -20 | sed 's/^/    /'
	DFS_CAP=$(grep -ci 'capabilit' "$W/dfscap.txt" || true)
fi
printf '  fwsign diff reports the planted xattr (exit 1, security.capability, nothing else): %s\n' "$FW_CAP_OK"
if [ -s "$W/dfscap" ]; then
	read -r _ _ _ drc <"$W/dfscap"
	printf '  diffoscope names it: %s (exit %s; lines with "capability": %s)\n' \
		"$([ "${DFS_CAP:-0}" -gt 0 ] && echo yes || echo NO)" "$drc" "${DFS_CAP:-0}"
fi

printf 'BENCH {"bench":"diff","comp":"%s","block":"%s","image_bytes":%d,"inodes":%d,"cpus":%d,' \
	"$COMP" "$BLOCK" "$(stat -c %s "$IN/u.sqfs")" "$NFILES" "$NCPU"
printf '"fwsign":{"wall":%s,"cpu":%s,"rss_mib":%s,"runs":%d},' "$FW_W" "$FW_C" "$FW_M" "$RUNS"
printf '"diffoscope":{"wall":%s,"cpu":%s,"rss_mib":%s,"runs":%d,"timed_out":%s,"timeout":%d},' \
	"$DFS_W" "$DFS_C" "$DFS_M" "$DFS_RUNS" "$BOUND" "$TIMEOUT"
printf '"ratio":%s,"ratio_is_lower_bound":%s,"target":"%s",' "$RATIO" "$BOUND" "$OK"
printf '"planted":{"path":"%s","fwsign":"%s","diffoscope_capability_lines":%s},' \
	"$PLANT" "$FW_CAP_OK" "$DFS_CAP"
printf '"load":["%s","%s","%s"]}\n' "$LOAD0" "$LOAD1" "$LOAD2"
