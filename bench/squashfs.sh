#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/squashfs.sh: what does signing a squashfs image cost with fwsign,
# against (a) the pipeline people use today: unsquashfs, sign-file once per
# ELF file, mksquashfs with the same options, and (b) the bare round trip:
# unsquashfs and mksquashfs, no signing at all?  And how much of the image
# had to be compressed again (the floor)?  Targets: fwsign at least 4x
# faster than (a), 2x faster than (b), peak RSS at most 256 MiB.  One
# table, one BENCH line per compressor.
#
#   bench/squashfs.sh [--mb N] [--comp "xz zstd"] [--block 256K]
#                     [--signfile-budget S] [--keep]
#   bench/squashfs.sh --sizes "100 500 1000" [--jobs N] [--no-pipeline-over MB]
#                     [--signfile-budget S]
#
# --sizes: memory and speed against the image's size.  Each tree is about
# N MiB of the host's /usr (ELF files and data, bench/usr-tree.py: a
# smaller tree is a subset of a bigger one), made once into an xz image
# with 256 KiB blocks and kept with it in CACHE (default
# /var/tmp/fwsign-bench/sqfs-usr).  For each size: fwsign sign --jobs N
# (default 2) with its peak RSS and wall and CPU time, and where its CPU
# time went (FWSIGN_SQFS_PROFILE: decompressing, compressing, writing; the
# rest is hashing, RSA and the ELF walk, with openssl speed's estimate of
# hashing and RSA); the floor (the bytes fwsign compressed again, at the
# rate mksquashfs compressed the whole tree); the bare round trip
# (unsquashfs + mksquashfs, same options); the pipeline (unsquashfs +
# sign-file + mksquashfs) unless the tree is over --no-pipeline-over MiB.
# Targets: peak RSS within 10% across the sizes and at most 128 MiB;
# fwsign at least 3x faster than the round trip on the 500 MiB image.
# Every timed command runs under flock /tmp/fwsign-bench.lock, and the
# load average is printed beside each figure.
#
# The tree: the ELF files of /usr/bin and /usr/lib/x86_64-linux-gnu (sorted
# paths, one name per inode, none over 16 MiB) up to --mb MiB (default
# 150).  Each image is built with mksquashfs -b BLOCK -comp C.  Times are
# wall and user+sys CPU seconds, memory is peak RSS, all from /usr/bin/time.
# "compressed again" counts the output's data and fragment blocks whose
# bytes do not occur as a block of the input (bench/sqfs-blocks.c lists
# them with libsquashfs).  sign-file signs exactly the files fwsign signs
# (from fwsign's --dry-run of the unpacked tree).  When a probe of 20 calls
# projects the loop above --signfile-budget seconds (default 300), only the
# first 200 files are signed and the loop's time is scaled by the count;
# the output says SCALED.  (b)'s unsquashfs is the same run as (a)'s.  Run
# as root: unsquashfs needs it to keep owners and devices.
#
# Environment: BENCH_DIR (default /tmp), FWSIGN (default: build the Release
# tree build-bench), SIGN_FILE (default
# /usr/lib/linux-kbuild-6.1/scripts/sign-file).
set -euo pipefail
export LC_ALL=C

BENCH_NAME=squashfs-bench
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MB=150
COMPS="xz zstd"
BLOCK=256K
KEEP=0
SIZES=""
JOBS=2
NOPIPE_OVER=100000
CACHE=${CACHE:-/var/tmp/fwsign-bench/sqfs-usr}
SF_BUDGET=300
SF_PROBE=20
SF_SAMPLE=200
SIGN_FILE=${SIGN_FILE:-/usr/lib/linux-kbuild-6.1/scripts/sign-file}


while [ $# -gt 0 ]; do
	case $1 in
	--mb) MB=$2; shift ;;
	--comp) COMPS=$2; shift ;;
	--block) BLOCK=$2; shift ;;
	--signfile-budget) SF_BUDGET=$2; shift ;;
	--keep) KEEP=1 ;;
	--sizes) SIZES=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--no-pipeline-over) NOPIPE_OVER=$2; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1" ;;
	esac
	shift
done
needs mksquashfs unsquashfs python3 cc pkg-config
[ -x /usr/bin/time ] || die "needs /usr/bin/time (package time)"
[ -x "$SIGN_FILE" ] || die "no sign-file at $SIGN_FILE (set SIGN_FILE)"

bench_fwsign

W=$(mktemp -d "${BENCH_DIR:-/tmp}/sqfs-bench.XXXXXX")
[ "$KEEP" = 1 ] || trap 'rm -rf "$W"' EXIT
# timed OUT command...: "wall cpu rss_mb" into OUT (under the bench lock)
timed() {
	local out=$1; shift
	flock /tmp/fwsign-bench.lock /usr/bin/time -f '%e %U %S %M' -o "$out.t" "$@" >"$out.out" 2>"$out.err" ||
		{ cat "$out.err" >&2; die "failed: $*"; }
	awk '{ printf "%.2f %.2f %.0f\n", $1, $2 + $3, $4 / 1024 }' "$out.t" >"$out"
	cut -d' ' -f1 /proc/loadavg >"$out.load"
}

"$FWSIGN" keygen -o "$W/key" --rsa 2048 >/dev/null

# sign-file on lines FROM..TO of LIST, files under DIR
cat >"$W/loop.sh" <<'SH'
set -e
sed -n "$3,$4p" "$2" | while IFS= read -r f; do
	"$SIGN_FILE" sha256 "$KEY" "$CRT" "$1/$f"
done
SH
export SIGN_FILE KEY=$W/key.key CRT=$W/key.crt

# signloop DIR LIST OUT: sign-file once per listed file, in place; "wall
# cpu rss_mb" into OUT, scaled to every file when only a sample ran
signloop() {
	local dir=$1 list=$2 out=$3 n w1 c1 m1 w2=0 c2=0 m2=0 upto
	n=$(wc -l <"$list")
	SF_RUN=$(( n < SF_PROBE ? n : SF_PROBE ))
	timed "$out.1" bash "$W/loop.sh" "$dir" "$list" 1 "$SF_RUN"
	read -r w1 c1 m1 <"$out.1"
	upto=$n
	if awk -v w="$w1" -v r="$SF_RUN" -v n="$n" -v b="$SF_BUDGET" \
		'BEGIN { exit !(r > 0 && w / r * n > b) }'; then
		upto=$(( n < SF_SAMPLE ? n : SF_SAMPLE ))
	fi
	if [ "$upto" -gt "$SF_RUN" ]; then
		timed "$out.2" bash "$W/loop.sh" "$dir" "$list" $((SF_RUN + 1)) "$upto"
		read -r w2 c2 m2 <"$out.2"
		SF_RUN=$upto
	fi
	SF_SCALED=false
	SF_NOTE=""
	if [ "$SF_RUN" -lt "$n" ]; then
		SF_SCALED=true
		SF_NOTE="sign-file ran on the first $SF_RUN of $n files; its time is scaled by the count"
	fi
	awk -v w="$w1" -v c="$c1" -v W="$w2" -v C="$c2" -v r="$SF_RUN" -v n="$n" \
		-v m="$(( m1 > m2 ? m1 : m2 ))" \
		'BEGIN { k = r ? n / r : 0; printf "%.2f %.2f %d\n", (w + W) * k, (c + C) * k, m }' >"$out"
}

if [ -n "$SIZES" ]; then
	. "$HERE/squashfs-sizes.sh"
	exit 0
fi

cc -O2 -o "$W/sqfs-blocks" "$HERE/sqfs-blocks.c" \
	$(pkg-config --cflags --libs libsquashfs1) || die "cannot build sqfs-blocks"

say "tree: ELF files up to $MB MiB"
python3 - "$MB" >"$W/list" <<'PY'
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
            if f.read(4) != b'\x7fELF':
                continue
    except OSError:
        continue
    seen.add((st.st_dev, st.st_ino))
    total += st.st_size
    out.append(p[1:])
print('\n'.join(out))
PY
mkdir "$W/tree"
(cd / && tar cf - -T "$W/list") | (cd "$W/tree" && tar xf -)
TREE_MB=$(du -sm --apparent-size "$W/tree" | cut -f1)
NFILES=$(wc -l <"$W/list")

# recompressed IN OUT: "bytes blocks total_bytes"
recompressed() {
	"$W/sqfs-blocks" "$1" | sort -un >"$W/a.blk"
	"$W/sqfs-blocks" "$2" | sort -un >"$W/b.blk"
	python3 - "$1" "$W/a.blk" "$2" "$W/b.blk" <<'PY'
import hashlib, sys
def blocks(img, lst):
    with open(img, 'rb') as f:
        d = f.read()
    return [d[o:o + s] for o, s in (map(int, l.split()) for l in open(lst))]
old = {hashlib.sha256(b).digest() for b in blocks(sys.argv[1], sys.argv[2])}
new = blocks(sys.argv[3], sys.argv[4])
fresh = [b for b in new if hashlib.sha256(b).digest() not in old]
print(sum(map(len, fresh)), len(fresh), sum(map(len, new)))
PY
}

printf '\ntree: %d ELF files, %d MiB; block size %s; %d CPUs; load average %s\n' \
	"$NFILES" "$TREE_MB" "$BLOCK" "$NCPU" "$(cut -d' ' -f1-3 /proc/loadavg)"
for comp in $COMPS; do
	opts=(-comp "$comp" -b "$BLOCK" -mkfs-time 1700000000 -noappend -quiet -no-progress)
	rm -f "$W/in.sqfs"
	say "$comp: mksquashfs"
	timed "$W/mk" mksquashfs "$W/tree" "$W/in.sqfs" "${opts[@]}"
	cat "$W/in.sqfs" >/dev/null
	say "$comp: fwsign sign image"
	rm -f "$W/out.sqfs"
	timed "$W/fw" "$FWSIGN" sign "$W/in.sqfs" -o "$W/out.sqfs" --key "$W/key.key" --cert "$W/key.crt"
	"$FWSIGN" verify "$W/out.sqfs" --cert "$W/key.crt" >/dev/null || die "$comp: verify failed"
	diff <(unsquashfs -s "$W/in.sqfs" | grep -v -e '^Found' -e '^Filesystem size' -e '^Number of frag') \
	     <(unsquashfs -s "$W/out.sqfs" | grep -v -e '^Found' -e '^Filesystem size' -e '^Number of frag') >/dev/null ||
		die "$comp: superblocks differ"

	# (b) the bare round trip, then (a) today's pipeline on the same tree:
	# sign-file once per ELF file fwsign signs, mksquashfs again.
	say "$comp: (b) unsquashfs + mksquashfs, no signing"
	rm -rf "$W/x" "$W/b.sqfs" "$W/a.sqfs"
	timed "$W/un" unsquashfs -d "$W/x" "$W/in.sqfs"
	timed "$W/mb" mksquashfs "$W/x" "$W/b.sqfs" "${opts[@]}"
	"$FWSIGN" sign "$W/x" --dry-run --json >"$W/plan.json" 2>/dev/null ||
		die "$comp: fwsign --dry-run of the unpacked tree"
	python3 - "$W/plan.json" >"$W/sign.lst" <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["files"]:
    if f["action"] in ("sign", "re-sign"):
        print(f["path"])
PY
	N_SIGN=$(wc -l <"$W/sign.lst")
	say "$comp: (a) sign-file on each of $N_SIGN files"
	signloop "$W/x" "$W/sign.lst" "$W/sf"
	timed "$W/ma" mksquashfs "$W/x" "$W/a.sqfs" "${opts[@]}"
	if [ "$SF_SCALED" = false ]; then
		"$FWSIGN" verify "$W/a.sqfs" --cert "$W/key.crt" >/dev/null ||
			die "$comp: the sign-file pipeline's image does not verify"
	fi
	rm -rf "$W/x"

	read -r rb rn tot < <(recompressed "$W/in.sqfs" "$W/out.sqfs")
	read -r fw_w fw_c fw_m <"$W/fw"
	read -r un_w un_c un_m <"$W/un"
	read -r mb_w mb_c mb_m <"$W/mb"
	read -r sf_w sf_c sf_m <"$W/sf"
	read -r ma_w ma_c ma_m <"$W/ma"
	read -r mk_w mk_c mk_m <"$W/mk"
	sum() { awk -v a="$1" -v b="$2" -v c="${3:-0}" 'BEGIN { printf "%.2f", a + b + c }'; }
	peak() { printf '%s\n' "$@" | sort -n | tail -1; }
	a_w=$(sum "$un_w" "$sf_w" "$ma_w"); a_c=$(sum "$un_c" "$sf_c" "$ma_c"); a_m=$(peak "$un_m" "$sf_m" "$ma_m")
	b_w=$(sum "$un_w" "$mb_w"); b_c=$(sum "$un_c" "$mb_c"); b_m=$(peak "$un_m" "$mb_m")
	x_a=$(awk -v a="$a_w" -v f="$fw_w" 'BEGIN { printf "%.1f", a / (f > 0.005 ? f : 0.005) }')
	x_b=$(awk -v a="$b_w" -v f="$fw_w" 'BEGIN { printf "%.1f", a / (f > 0.005 ? f : 0.005) }')
	ok_a=$(awk -v x="$x_a" 'BEGIN { print (x >= 4) ? "PASS" : "MISS" }')
	ok_b=$(awk -v x="$x_b" 'BEGIN { print (x >= 2) ? "PASS" : "MISS" }')
	ok_m=$(awk -v m="$fw_m" 'BEGIN { print (m <= 256) ? "PASS" : "MISS" }')
	printf '\n%s, image %d bytes -> %d bytes; fwsign signs %d ELF files\n' \
		"$comp" "$(stat -c %s "$W/in.sqfs")" "$(stat -c %s "$W/out.sqfs")" "$N_SIGN"
	printf '  %-44s %8s %8s %8s\n' "" "wall s" "CPU s" "RSS MiB"
	printf '  %-44s %8s %8s %8s\n' "fwsign sign image" "$fw_w" "$fw_c" "$fw_m"
	printf '  %-44s %8s %8s %8s\n' "(a) today: total (peak RSS)" "$a_w" "$a_c" "$a_m"
	printf '  %-44s %8s %8s %8s\n' "    unsquashfs" "$un_w" "$un_c" "$un_m"
	printf '  %-44s %8s %8s %8s\n' "    sign-file, once per ELF file ($N_SIGN)" "$sf_w" "$sf_c" "$sf_m"
	printf '  %-44s %8s %8s %8s\n' "    mksquashfs (same options)" "$ma_w" "$ma_c" "$ma_m"
	printf '  %-44s %8s %8s %8s\n' "(b) no signing: total (peak RSS)" "$b_w" "$b_c" "$b_m"
	printf '  %-44s %8s %8s %8s\n' "    unsquashfs (the same run as in (a))" "$un_w" "$un_c" "$un_m"
	printf '  %-44s %8s %8s %8s\n' "    mksquashfs" "$mb_w" "$mb_c" "$mb_m"
	printf '  %-44s %8s %8s %8s\n' "(mksquashfs of the input tree)" "$mk_w" "$mk_c" "$mk_m"
	[ "$SF_SCALED" = true ] && printf '  SCALED: %s\n' "$SF_NOTE"
	printf '  floor: compressed again %d of %d data bytes (%.1f%%), %d blocks\n' \
		"$rb" "$tot" "$(awk -v a="$rb" -v b="$tot" 'BEGIN { print 100 * a / b }')" "$rn"
	printf '  fwsign vs (a): %sx faster (target >= 4x)   %s\n' "$x_a" "$ok_a"
	printf '  fwsign vs (b): %sx faster (target >= 2x)   %s\n' "$x_b" "$ok_b"
	printf '  fwsign peak RSS: %s MiB (target <= 256)   %s\n' "$fw_m" "$ok_m"
	printf 'BENCH {"format":"squashfs","comp":"%s","block":"%s","files":%d,"tree_mib":%d,"signed":%d,"cpus":%d,' \
		"$comp" "$BLOCK" "$NFILES" "$TREE_MB" "$N_SIGN" "$NCPU"
	printf '"fwsign":{"wall":%s,"cpu":%s,"rss_mib":%s},' "$fw_w" "$fw_c" "$fw_m"
	printf '"pipeline":{"wall":%s,"cpu":%s,"rss_mib":%s,"signfile_wall":%s,"signfile_scaled":%s,"signfile_calls_run":%d},' \
		"$a_w" "$a_c" "$a_m" "$sf_w" "$SF_SCALED" "$SF_RUN"
	printf '"roundtrip":{"wall":%s,"cpu":%s,"rss_mib":%s},' "$b_w" "$b_c" "$b_m"
	printf '"x_pipeline":%s,"x_roundtrip":%s,"target_pipeline":"%s","target_roundtrip":"%s","target_rss":"%s",' \
		"$x_a" "$x_b" "$ok_a" "$ok_b" "$ok_m"
	printf '"recompressed_bytes":%d,"data_bytes":%d}\n' "$rb" "$tot"
done
