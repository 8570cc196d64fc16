#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/squashfs.sh: what does signing a squashfs image cost with fwsign,
# against the round trip without it (unsquashfs, sign the tree, mksquashfs
# with the same options)?  And how much of the image had to be compressed
# again?  One table, one BENCH line per compressor.
#
#   bench/squashfs.sh [--mb N] [--comp "xz zstd"] [--block 256K] [--keep]
#
# The tree: the ELF files of /usr/bin and /usr/lib/x86_64-linux-gnu (sorted
# paths, one name per inode, none over 16 MiB) up to --mb MiB (default
# 150).  Each image is built with mksquashfs -b BLOCK -comp C.  Times are
# wall and user+sys CPU seconds, memory is peak RSS, all from /usr/bin/time.
# "compressed again" counts the output's data and fragment blocks whose
# bytes do not occur as a block of the input (bench/sqfs-blocks.c lists
# them with libsquashfs).  Run as root: the round trip's unsquashfs and
# tree signing need it to keep owners and devices.
#
# Environment: BENCH_DIR (default /tmp), FWSIGN (default: build the Release
# tree build-bench).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
MB=150
COMPS="xz zstd"
BLOCK=256K
KEEP=0
NCPU=$(nproc)

die() { echo "squashfs-bench: $*" >&2; exit 1; }
say() { echo "squashfs-bench: $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--mb) MB=$2; shift ;;
	--comp) COMPS=$2; shift ;;
	--block) BLOCK=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1" ;;
	esac
	shift
done
for t in mksquashfs unsquashfs python3 cc pkg-config; do
	command -v "$t" >/dev/null || die "needs $t"
done
[ -x /usr/bin/time ] || die "needs /usr/bin/time (package time)"

if [ -z "${FWSIGN:-}" ]; then
	say "building fwsign (Release, $TOP/build-bench)"
	{ cmake -S "$TOP" -B "$TOP/build-bench" -DCMAKE_BUILD_TYPE=Release &&
	  cmake --build "$TOP/build-bench" -j"$NCPU"; } >/dev/null ||
		die "build failed (FWSIGN=path/to/fwsign uses a built binary)"
	FWSIGN=$TOP/build-bench/fwsign
fi
[ -x "$FWSIGN" ] || die "no fwsign at $FWSIGN"

W=$(mktemp -d "${BENCH_DIR:-/tmp}/sqfs-bench.XXXXXX")
[ "$KEEP" = 1 ] || trap 'rm -rf "$W"' EXIT
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
"$FWSIGN" keygen -o "$W/key" --rsa 2048 >/dev/null

# timed OUT command...: "wall cpu rss_mb" into OUT
timed() {
	local out=$1; shift
	/usr/bin/time -f '%e %U %S %M' -o "$out.t" "$@" >/dev/null 2>"$out.err" ||
		{ cat "$out.err" >&2; die "failed: $*"; }
	awk '{ printf "%.2f %.2f %.0f\n", $1, $2 + $3, $4 / 1024 }' "$out.t" >"$out"
}

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

printf '\ntree: %d ELF files, %d MiB; block size %s; %d CPUs\n' "$NFILES" "$TREE_MB" "$BLOCK" "$NCPU"
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
	say "$comp: round trip (unsquashfs, fwsign sign tree, mksquashfs)"
	rm -rf "$W/x" "$W/xs" "$W/rt.sqfs"
	timed "$W/un" unsquashfs -d "$W/x" "$W/in.sqfs"
	timed "$W/fd" "$FWSIGN" sign "$W/x" -o "$W/xs" --key "$W/key.key" --cert "$W/key.crt"
	timed "$W/ms" mksquashfs "$W/xs" "$W/rt.sqfs" "${opts[@]}"
	read -r rb rn tot < <(recompressed "$W/in.sqfs" "$W/out.sqfs")
	read -r fw_w fw_c fw_m <"$W/fw"
	read -r un_w un_c un_m <"$W/un"
	read -r fd_w fd_c fd_m <"$W/fd"
	read -r ms_w ms_c ms_m <"$W/ms"
	read -r mk_w mk_c mk_m <"$W/mk"
	rt_w=$(awk -v a="$un_w" -v b="$fd_w" -v c="$ms_w" 'BEGIN { printf "%.2f", a + b + c }')
	rt_c=$(awk -v a="$un_c" -v b="$fd_c" -v c="$ms_c" 'BEGIN { printf "%.2f", a + b + c }')
	rt_m=$(printf '%s\n' "$un_m" "$fd_m" "$ms_m" | sort -n | tail -1)
	printf '\n%s, image %d bytes -> %d bytes\n' "$comp" "$(stat -c %s "$W/in.sqfs")" "$(stat -c %s "$W/out.sqfs")"
	printf '  %-34s %8s %8s %8s\n' "" "wall s" "CPU s" "RSS MiB"
	printf '  %-34s %8s %8s %8s\n' "fwsign sign image" "$fw_w" "$fw_c" "$fw_m"
	printf '  %-34s %8s %8s %8s\n' "round trip, total (peak RSS)" "$rt_w" "$rt_c" "$rt_m"
	printf '  %-34s %8s %8s %8s\n' "  unsquashfs" "$un_w" "$un_c" "$un_m"
	printf '  %-34s %8s %8s %8s\n' "  fwsign sign tree" "$fd_w" "$fd_c" "$fd_m"
	printf '  %-34s %8s %8s %8s\n' "  mksquashfs" "$ms_w" "$ms_c" "$ms_m"
	printf '  %-34s %8s %8s %8s\n' "(mksquashfs of the input)" "$mk_w" "$mk_c" "$mk_m"
	printf '  compressed again: %d of %d data bytes (%.1f%%), %d blocks\n' \
		"$rb" "$tot" "$(awk -v a="$rb" -v b="$tot" 'BEGIN { print 100 * a / b }')" "$rn"
	printf 'BENCH {"format":"squashfs","comp":"%s","block":"%s","files":%d,"tree_mib":%d,"cpus":%d,' \
		"$comp" "$BLOCK" "$NFILES" "$TREE_MB" "$NCPU"
	printf '"fwsign":{"wall":%s,"cpu":%s,"rss_mib":%s},"roundtrip":{"wall":%s,"cpu":%s,"rss_mib":%s},' \
		"$fw_w" "$fw_c" "$fw_m" "$rt_w" "$rt_c" "$rt_m"
	printf '"recompressed_bytes":%d,"data_bytes":%d}\n' "$rb" "$tot"
done
