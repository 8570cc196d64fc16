#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/blob.sh: what does signing a whole vendor blob cost with fwsign,
# against the pipeline people write today to do the same by hand, and
# against fwsign signing the bare rootfs image alone?  Targets: fwsign on
# the blob at least 4x faster than the pipeline, and at most 10% slower
# than fwsign on the bare rootfs.  All three are timed in the same
# invocation, --runs times each (default 3), interleaved; medians count.
#
#   bench/blob.sh [--runs N] [--mb N] [--min-mb N] [--block 256K]
#                 [--no-binwalk] [--rebuild]
#
# The blob, an OpenWrt-style sysupgrade image:
#   - a GNU tar (--sort=name --owner=0 --group=0 --numeric-owner
#     --mtime=@1700000000, as OpenWrt's sysupgrade-tar.sh calls it) of
#     sysupgrade-acme_router/{CONTROL,kernel,root}, with an fwtool metadata
#     trailer (a JSON block and its CRC, as OpenWrt's fwtool -I writes);
#   - kernel: a FIT (mkimage -f) of the test kernel's bzImage
#     (tests/e2e/build-kernel.sh: it has the extra-certificate slot) and a
#     small dtb, with crc32, sha1 and sha256 hashes;
#   - root: an xz squashfs (-b BLOCK, -all-root) of the ELF executables
#     and shared libraries of /usr/bin and /usr/lib/x86_64-linux-gnu
#     (bench/squashfs.sh's choice, sorted paths, one name per inode, none
#     over 16 MiB, but no relocatable objects: Free Pascal's 1,000 units
#     are not what a rootfs holds) up to --mb MiB (default 320), plus the
#     289 kernel modules of the fwsign fixtures.
#     The image must reach --min-mb MiB (default 100), else the script
#     stops and asks for a bigger --mb.
# The inputs are built once and cached in $BENCH_DIR/blob/in (default
# /var/tmp/fwsign-bench/blob/in); --rebuild builds them again.
#
# The three contenders, each from a warm page cache:
#   fwsign blob: fwsign sign BLOB -o OUT --key K --cert C
#   fwsign bare: fwsign sign root.sqfs -o OUT --key K --cert C
#   pipeline:    the script a user writes today (written out to
#                $BENCH_DIR/blob/pipeline.sh; each step timed on its own):
#     binwalk     what the blob is (binwalk 2.3 names the tar and skips
#                 its members); left out with --no-binwalk or without
#                 binwalk
#     split       the members' offsets from tar -tvR, dd to cut out the FIT
#                 and the squashfs, tar -xO for CONTROL, python3 for the
#                 fwtool metadata
#     dumpimage   the bzImage and the dtb out of the FIT
#     unsquashfs  the rootfs
#     sign-file   file(1) on every regular file, then sign-file once per
#                 ELF file it names, in place
#     mksquashfs  with the input's compressor, block size and -all-root
#     kernel      insert-sys-cert -b vmlinux -c cert.der -s System.map on a
#                 copy of the build tree's vmlinux, then the commands
#                 `make bzImage` runs after a new vmlinux (objcopy, xz,
#                 mkpiggy, as, ld, objcopy, nm, header.o, setup.elf,
#                 tools/build, as recorded in the tree's .cmd files), in a
#                 copy of arch/x86/boot; checked once to give the
#                 original bzImage byte for byte from the original vmlinux
#     mkimage     mkimage -f with the FIT's .its
#     tar         GNU tar as above
#     fwtool      python3 appends the metadata trailer again
# Each output is checked once (run 1): fwsign verify on the three outputs
# (the pipeline's too: every ELF signed, the kernel holds the
# certificate), and the rootfs in fwsign's signed blob must be byte for
# byte its signed bare rootfs (the same work on the filesystem).  Times are wall and user+sys CPU seconds from
# /usr/bin/time, memory is fwsign's peak RSS (its %M).  Run as root
# (unsquashfs keeps owners).  One table, then one BENCH {json} line.
#
# Environment: BENCH_DIR (default /var/tmp/fwsign-bench), FWSIGN (default:
# build the Release tree build-bench), SIGN_FILE (default
# /usr/lib/linux-kbuild-6.1/scripts/sign-file).
set -euo pipefail
export LC_ALL=C

BENCH_NAME=blob-bench
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=3
MB=320
MIN_MB=100
BLOCK=256K
BINWALK=
REBUILD=0
SIGN_FILE=${SIGN_FILE:-/usr/lib/linux-kbuild-6.1/scripts/sign-file}
BOARD=sysupgrade-acme_router

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--mb) MB=$2; shift ;;
	--min-mb) MIN_MB=$2; shift ;;
	--block) BLOCK=$2; shift ;;
	--no-binwalk) BINWALK=0 ;;
	--rebuild) REBUILD=1 ;;
	-h|--help) usage ;;
	*) unknown_option "$1" ;;
	esac
	shift
done
[ "$RUNS" -ge 1 ] 2>/dev/null || die "--runs wants a number >= 1"
needs mksquashfs unsquashfs mkimage dumpimage dtc python3 tar file dd openssl \
	xz objcopy ld gcc nm
[ -x /usr/bin/time ] || die "needs /usr/bin/time (package time)"
[ -x "$SIGN_FILE" ] || die "no sign-file at $SIGN_FILE (set SIGN_FILE)"
if [ -z "$BINWALK" ]; then
	BINWALK=0
	command -v binwalk >/dev/null && BINWALK=1
fi

bench_fwsign
KTREE=$("$TOP/tests/e2e/build-kernel.sh") || die "kernel build failed"
for f in vmlinux System.map arch/x86/boot/bzImage scripts/insert-sys-cert; do
	[ -e "$KTREE/$f" ] || die "no $f in the kernel tree $KTREE"
done
FIXMODS=${FIXTURES:-/var/cache/fwsign-fixtures}/amd64/modules
[ -d "$FIXMODS" ] || die "no fixture modules at $FIXMODS (scripts/fixtures.sh)"

W=${BENCH_DIR:-/var/tmp/fwsign-bench}/blob
IN=$W/in
mkdir -p "$W"

# timed OUT command...: "wall cpu rss_mb" into OUT
timed() {
	local out=$1; shift
	/usr/bin/time -f '%e %U %S %M' -o "$out.t" "$@" >/dev/null 2>"$out.err" ||
		{ cat "$out.err" >&2; die "failed: $*"; }
	awk '{ printf "%.2f %.2f %.0f\n", $1, $2 + $3, $4 / 1024 }' "$out.t" >"$out"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { sort -g | tail -1; }

# --- the inputs, cached ------------------------------------------------------
SQFS_OPTS="-comp xz -b $BLOCK -all-root -noappend -quiet -no-progress"
STAMP="v2 mb=$MB block=$BLOCK ktree=$KTREE mods=$(find "$FIXMODS" -name '*.ko*' | wc -l)"

build_inputs() {
	local T=$IN.new
	rm -rf "$T" "$IN"
	mkdir -p "$T"
	say "inputs: tree of ELF files up to $MB MiB, plus the fixture modules"
	python3 - "$MB" >"$T/list" <<'PY'
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
        # executables and shared libraries; not relocatable objects
        if h[:4] != b'\x7fELF' or len(h) < 18 or h[16] not in (2, 3) or h[17]:
            continue
    except OSError:
        continue
    seen.add((st.st_dev, st.st_ino))
    total += st.st_size
    out.append(p[1:])
print('\n'.join(out))
PY
	mkdir -p "$T/tree/lib/modules/6.1.0"
	(cd / && tar cf - -T "$T/list") | (cd "$T/tree" && tar xf -)
	cp -a "$FIXMODS/." "$T/tree/lib/modules/6.1.0/"
	say "inputs: mksquashfs -comp xz -b $BLOCK (a minute or two)"
	# shellcheck disable=SC2086
	mksquashfs "$T/tree" "$T/root.sqfs" $SQFS_OPTS -mkfs-time 1700000000 >/dev/null
	local sz
	sz=$(stat -c %s "$T/root.sqfs")
	[ "$sz" -ge $((MIN_MB << 20)) ] ||
		die "the squashfs has $((sz >> 20)) MiB, under --min-mb $MIN_MB: raise --mb"

	"$FWSIGN" keygen -o "$T/key" --rsa 2048 --subject vendor >/dev/null
	openssl x509 -in "$T/key.crt" -outform der -out "$T/key.der"

	# the FIT: the test kernel and a dtb
	cp "$KTREE/arch/x86/boot/bzImage" "$T/kernel.bin"
	printf '/dts-v1/;\n/ { model = "acme,router"; };\n' |
		dtc -I dts -O dtb -o "$T/dummy.dtb" - 2>/dev/null
	cat >"$T/fit.its" <<'EOF'
/dts-v1/;
/ {
	description = "acme router FIT";
	#address-cells = <1>;
	images {
		kernel-1 {
			description = "x86 kernel";
			data = /incbin/("kernel.bin");
			type = "kernel"; arch = "x86_64"; os = "linux";
			compression = "none";
			load = <0x100000>; entry = <0x100000>;
			hash-1 { algo = "crc32"; };
			hash-2 { algo = "sha1"; };
		};
		fdt-1 {
			description = "acme,router";
			data = /incbin/("dummy.dtb");
			type = "flat_dt"; arch = "x86_64"; compression = "none";
			hash-1 { algo = "sha256"; };
		};
	};
	configurations {
		default = "config-1";
		config-1 { kernel = "kernel-1"; fdt = "fdt-1"; };
	};
};
EOF
	(cd "$T" && SOURCE_DATE_EPOCH=1700000000 mkimage -f fit.its fit.itb >/dev/null)

	# the fwtool trailer: append (as fwtool -I), meta (as fwtool -i)
	cat >"$T/fwtool.py" <<'PY'
import struct, sys, zlib
MAGIC = 0x46577830	# "FWx0"
cmd, path = sys.argv[1], sys.argv[2]
if cmd == 'append':	# append FILE JSON: a metadata block at the end of FILE
    meta = open(sys.argv[3], 'rb').read()
    payload = struct.pack('>II', 0, 0) + meta
    with open(path, 'rb') as f:
        crc = zlib.crc32(payload, zlib.crc32(f.read()))
    with open(path, 'ab') as f:
        f.write(payload + struct.pack('>IIB3xI', MAGIC, ~crc & 0xffffffff, 1, len(payload) + 16))
elif cmd == 'meta':	# meta FILE: the metadata of FILE's last block
    with open(path, 'rb') as f:
        f.seek(-16, 2)
        magic, crc, typ, size = struct.unpack('>IIB3xI', f.read(16))
        assert magic == MAGIC and typ == 1, 'no fwtool metadata trailer'
        f.seek(-size, 2)
        sys.stdout.buffer.write(f.read(size - 16)[8:])
PY
	mkdir -p "$T/su/$BOARD"
	echo "BOARD=acme,router" >"$T/su/$BOARD/CONTROL"
	cp "$T/fit.itb" "$T/su/$BOARD/kernel"
	cp "$T/root.sqfs" "$T/su/$BOARD/root"
	(cd "$T/su" && tar --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@1700000000 -cf "$T/sysupgrade.bin" "$BOARD")
	rm -rf "$T/su"
	printf '{"metadata_version":"1.1","compat_version":"1.0","supported_devices":["acme,router"],"version":{"dist":"OpenWrt","version":"23.05.0"}}' >"$T/meta.json"
	python3 "$T/fwtool.py" append "$T/sysupgrade.bin" "$T/meta.json"

	# The user's kernel build tree, for the pipeline: the cached tree must
	# not be written, so a tree of symbolic links to it with a copy of
	# arch/x86/boot (where make bzImage writes) and of vmlinux.  The
	# commands make bzImage runs after vmlinux changed, from the .cmd files.
	say "inputs: kernel tree copy for the pipeline's bzImage rebuild"
	local kb=$T/kb e n c
	mkdir -p "$kb/arch/x86"
	for e in "$KTREE"/* "$KTREE"/.config; do
		n=${e##*/}
		case $n in arch|vmlinux) ;; *) ln -s "$e" "$kb/$n" ;; esac
	done
	for e in "$KTREE"/arch/x86/*; do
		n=${e##*/}
		[ "$n" = boot ] || ln -s "$e" "$kb/arch/x86/$n"
	done
	cp -a "$KTREE/arch/x86/boot" "$kb/arch/x86/boot"
	cp "$KTREE/vmlinux" "$kb/vmlinux"
	{
		echo "# the commands 'make bzImage' runs after vmlinux changed"
		echo "set -e"
		echo "export SRCARCH=x86 XZ=xz"
		for c in compressed/.vmlinux.bin.cmd compressed/.vmlinux.bin.xz.cmd \
			compressed/.piggy.S.cmd compressed/.piggy.o.cmd compressed/.vmlinux.cmd \
			.vmlinux.bin.cmd .zoffset.h.cmd .header.o.cmd .setup.elf.cmd \
			.setup.bin.cmd .bzImage.cmd; do
			[ -r "$kb/arch/x86/boot/$c" ] || die "no arch/x86/boot/$c in the kernel tree"
			sed -n 's/^cmd_[^ ]* := //p' "$kb/arch/x86/boot/$c" |
				sed 's/\$(pound)/#/g; s/\$\$/$/g'
		done
	} >"$kb/rebuild-bzimage.sh"
	rm -f "$kb/arch/x86/boot/bzImage"
	(cd "$kb" && sh rebuild-bzimage.sh >/dev/null 2>&1) ||
		die "the bzImage rebuild failed (see $kb/rebuild-bzimage.sh)"
	cmp -s "$kb/arch/x86/boot/bzImage" "$KTREE/arch/x86/boot/bzImage" ||
		die "the bzImage rebuild does not give the original bzImage"

	echo "$STAMP" >"$T/stamp"
	mv "$T" "$IN"
}
if [ "$REBUILD" = 1 ] || [ ! -f "$IN/stamp" ] || [ "$(cat "$IN/stamp")" != "$STAMP" ]; then
	build_inputs
fi

# --- today's pipeline, one step per call -------------------------------------
cat >"$W/pipeline.sh" <<'SH'
#!/bin/bash
# Signing a sysupgrade image by hand: pipeline.sh STEP, in the directory of
# the run.  Environment: BLOB OUT IN KB KTREE KEY CRT DER SIGN_FILE
# SQFS_OPTS BOARD.
set -euo pipefail
step=$1
case $step in
binwalk)	# what is it?  (binwalk sees the tar and skips its members)
	binwalk "$BLOB" >binwalk.txt
	grep -q '^0 .*POSIX tar archive' binwalk.txt
	;;
split)	# the members' offsets from tar, cut out with dd
	offs() { tar -tvR -f "$BLOB" "$BOARD/$1" | awk '{ sub(/:$/, "", $2); print ($2 + 1) * 512, $5 }'; }
	fit=$(offs kernel)
	sqfs=$(offs root)
	read -r off len <<<"$fit"
	dd if="$BLOB" of=fit.itb bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none
	read -r off len <<<"$sqfs"
	dd if="$BLOB" of=root.sqfs bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none
	tar -xOf "$BLOB" "$BOARD/CONTROL" >CONTROL
	python3 "$IN/fwtool.py" meta "$BLOB" >meta.json
	;;
dumpimage)
	dumpimage -T flat_dt -p 0 -o kernel.bin fit.itb >/dev/null
	dumpimage -T flat_dt -p 1 -o dummy.dtb fit.itb >/dev/null
	;;
unsquashfs)
	unsquashfs -no-progress -d root root.sqfs >/dev/null
	;;
sign-file)	# every ELF file, signed in place
	find root -type f -exec file -N -F '|' {} + |
		awk -F'|' '$2 ~ /ELF / { print $1 }' >elf.lst
	while IFS= read -r f; do
		"$SIGN_FILE" sha256 "$KEY" "$CRT" "$f"
	done <elf.lst
	;;
mksquashfs)
	# shellcheck disable=SC2086
	mksquashfs root root.new $SQFS_OPTS >/dev/null
	;;
kernel)	# the certificate into vmlinux, then make bzImage's commands
	cp "$KTREE/vmlinux" "$KB/vmlinux"
	"$KTREE/scripts/insert-sys-cert" -b "$KB/vmlinux" -c "$DER" -s "$KTREE/System.map" >/dev/null 2>&1
	(cd "$KB" && sh rebuild-bzimage.sh >/dev/null 2>&1)
	cp "$KB/arch/x86/boot/bzImage" kernel.bin
	;;
mkimage)
	cp "$IN/fit.its" fit.its
	SOURCE_DATE_EPOCH=1700000000 mkimage -f fit.its fit.new >/dev/null
	;;
tar)
	mkdir -p "su/$BOARD"
	cp CONTROL "su/$BOARD/CONTROL"
	cp fit.new "su/$BOARD/kernel"
	cp root.new "su/$BOARD/root"
	(cd su && tar --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@1700000000 -cf "$OUT" "$BOARD")
	;;
fwtool)
	python3 "$IN/fwtool.py" append "$OUT" meta.json
	;;
*) echo "pipeline.sh: no step $step" >&2; exit 2 ;;
esac
SH
STEPS="split dumpimage unsquashfs sign-file mksquashfs kernel mkimage tar fwtool"
[ "$BINWALK" = 1 ] && STEPS="binwalk $STEPS"

# --- the runs ------------------------------------------------------------------
R=$W/runs
rm -rf "$R"
mkdir -p "$R"
BLOB=$IN/sysupgrade.bin
export BLOB IN KTREE SIGN_FILE SQFS_OPTS BOARD KB=$IN/kb \
	KEY=$IN/key.key CRT=$IN/key.crt DER=$IN/key.der
cat "$BLOB" "$IN/root.sqfs" >/dev/null
BLOB_SZ=$(stat -c %s "$BLOB")
SQFS_SZ=$(stat -c %s "$IN/root.sqfs")
FIT_SZ=$(stat -c %s "$IN/fit.itb")
NFILES=$(wc -l <"$IN/list")
NMODS=$(find "$FIXMODS" -name '*.ko*' | wc -l)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

fw_blob() {	# fw_blob RUN
	timed "$R/$1/blob" "$FWSIGN" sign "$BLOB" -o "$R/$1/blob.out" --key "$KEY" --cert "$CRT"
}
fw_bare() {
	timed "$R/$1/bare" "$FWSIGN" sign "$IN/root.sqfs" -o "$R/$1/bare.out" --key "$KEY" --cert "$CRT"
}
pipeline() {
	local d=$R/$1/p s
	mkdir -p "$d"
	for s in $STEPS; do
		(cd "$d" && OUT=$d/out.bin timed "$R/$1/p.$s" bash "$W/pipeline.sh" "$s")
	done
	# shellcheck disable=SC2046
	awk '{ w += $1; c += $2; if ($3 > m) m = $3 } END { printf "%.2f %.2f %d\n", w, c, m }' \
		$(for s in $STEPS; do echo "$R/$1/p.$s"; done) >"$R/$1/pipe"
}

for i in $(seq 1 "$RUNS"); do
	mkdir -p "$R/$i"
	cut -d' ' -f1 /proc/loadavg >"$R/$i/load"
	say "run $i of $RUNS: fwsign blob, fwsign bare rootfs, pipeline (load $(cut -d' ' -f1 /proc/loadavg))"
	# alternate which fwsign goes first
	if [ $((i % 2)) = 1 ]; then fw_blob "$i"; fw_bare "$i"; else fw_bare "$i"; fw_blob "$i"; fi
	pipeline "$i"
	if [ "$i" = 1 ]; then
		"$FWSIGN" verify "$R/1/blob.out" --cert "$CRT" >"$R/1/blob.verify" 2>&1 ||
			{ cat "$R/1/blob.verify" >&2; die "fwsign's signed blob does not verify"; }
		"$FWSIGN" verify "$R/1/bare.out" --cert "$CRT" >"$R/1/bare.verify" 2>&1 ||
			{ cat "$R/1/bare.verify" >&2; die "fwsign's signed rootfs does not verify"; }
		"$FWSIGN" verify "$R/1/p/out.bin" --cert "$CRT" >"$R/1/pipe.verify" 2>&1 ||
			{ cat "$R/1/pipe.verify" >&2; die "the pipeline's blob does not verify"; }
		tar -xOf "$R/1/blob.out" "$BOARD/root" | cmp -s - "$R/1/bare.out" ||
			die "the rootfs in fwsign's signed blob differs from its signed bare rootfs"
		"$FWSIGN" sign "$BLOB" -o "$R/plan.out" --dry-run --json --key "$KEY" --cert "$CRT" \
			>"$R/plan.json" 2>/dev/null || true
		N_ELF=$(wc -l <"$R/1/p/elf.lst")
	fi
	# keep the unpacked tree (deleting thousands of files just before a run
	# slows the next run's file creation on ext4); the big single files go
	rm -f "$R/$i/blob.out" "$R/$i/bare.out" "$R/$i/p/root.new" "$R/$i/p/out.bin" \
		"$R/$i/p/root.sqfs" "$R/$i/p/fit.itb" "$R/$i/p/fit.new"
	rm -rf "$R/$i/p/su"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the report ----------------------------------------------------------------
col() {	# col NAME FIELD: the FIELD-th number of each run's NAME file
	local i
	for i in $(seq 1 "$RUNS"); do awk -v f="$2" '{ print $f }' "$R/$i/$1"; done
}
fb_w=$(col blob 1 | median); fb_c=$(col blob 2 | median); fb_m=$(col blob 3 | maxof)
fr_w=$(col bare 1 | median); fr_c=$(col bare 2 | median); fr_m=$(col bare 3 | maxof)
pp_w=$(col pipe 1 | median); pp_c=$(col pipe 2 | median); pp_m=$(col pipe 3 | maxof)
x_pipe=$(calc "$pp_w / ($fb_w > 0.005 ? $fb_w : 0.005)" 1)
x_bare=$(calc "$fb_w / ($fr_w > 0.005 ? $fr_w : 0.005)" 3)
xc_pipe=$(calc "$pp_c / ($fb_c > 0.005 ? $fb_c : 0.005)" 1)
xc_bare=$(calc "$fb_c / ($fr_c > 0.005 ? $fr_c : 0.005)" 3)
ok_pipe=$(awk -v x="$x_pipe" 'BEGIN { print (x >= 4) ? "PASS" : "MISS" }')
ok_bare=$(awk -v x="$x_bare" 'BEGIN { print (x <= 1.10) ? "PASS" : "MISS" }')
N_SIGN=$(python3 - "$R/plan.json" <<'PY' 2>/dev/null || echo "?"
import json, sys
s = json.load(open(sys.argv[1]))["report"]["summary"]
print(s["signed"] + s["resigned"])
PY
)

printf '\nblob: sysupgrade tar + fwtool trailer, %d bytes (%.1f MiB): FIT %d bytes (bzImage + dtb), xz squashfs %d bytes (%.1f MiB, -b %s) of %d ELF files of this machine + %d modules\n' \
	"$BLOB_SZ" "$(calc "$BLOB_SZ / 1048576" 1)" "$FIT_SZ" "$SQFS_SZ" "$(calc "$SQFS_SZ / 1048576" 1)" \
	"$BLOCK" "$NFILES" "$NMODS"
printf 'fwsign signs %s files (+ the kernel'"'"'s certificate); the pipeline signs the %s files file(1) calls ELF; split: %s\n' \
	"$N_SIGN" "$N_ELF" "$([ "$BINWALK" = 1 ] && echo "binwalk, then tar -tvR + dd" || echo "tar -tvR + dd")"
printf '%d CPUs; load average %s at the start, %s at the end\n\n' "$NCPU" "$LOAD_START" "$LOAD_END"
printf '  %-6s %14s %14s %14s %12s %12s %8s\n' "run" "fwsign blob" "fwsign bare" "pipeline" "pipe/blob" "blob/bare" "load"
NOISY=
for i in $(seq 1 "$RUNS"); do
	read -r a _ _ <"$R/$i/blob"; read -r b _ _ <"$R/$i/bare"; read -r p _ _ <"$R/$i/pipe"
	l=$(cat "$R/$i/load")
	printf '  %-6s %14s %14s %14s %11sx %12s %8s\n' "$i" "$a" "$b" "$p" \
		"$(calc "$p / $a" 1)" "$(calc "$a / $b" 3)" "$l"
	awk -v l="$l" -v n="$NCPU" 'BEGIN { exit !(l > n + 1) }' && NOISY="$NOISY $i"
done
printf '  %-6s %14s %14s %14s %11sx %12s\n' "median" "$fb_w" "$fr_w" "$pp_w" "$x_pipe" "$x_bare"
[ -z "$NOISY" ] || printf '  NOISY: other work ran (1-minute load above %d at the start of runs:%s); wall ratios then say little, rerun on an idle machine\n' \
	"$((NCPU + 1))" "$NOISY"
printf '\n  %-44s %8s %8s %8s\n' "median of $RUNS runs" "wall s" "CPU s" "RSS MiB"
printf '  %-44s %8s %8s %8s\n' "fwsign sign BLOB (peak RSS: max)" "$fb_w" "$fb_c" "$fb_m"
printf '  %-44s %8s %8s %8s\n' "fwsign sign root.sqfs" "$fr_w" "$fr_c" "$fr_m"
printf '  %-44s %8s %8s %8s\n' "pipeline: total" "$pp_w" "$pp_c" "$pp_m"
for s in $STEPS; do
	case $s in
	split) what="split (tar -tvR, dd, tar -xO, python3)" ;;
	binwalk) what="binwalk (identify)" ;;
	sign-file) what="file(1) + sign-file, once per ELF ($N_ELF)" ;;
	kernel) what="insert-sys-cert + bzImage rebuild" ;;
	fwtool) what="fwtool trailer (python3)" ;;
	*) what=$s ;;
	esac
	printf '  %-44s %8s %8s %8s\n' "    $what" "$(col "p.$s" 1 | median)" "$(col "p.$s" 2 | median)" "$(col "p.$s" 3 | maxof)"
done
printf '\n  pipeline / fwsign blob: %sx (target >= 4x)   %s\n' "$x_pipe" "$ok_pipe"
printf '  fwsign blob / fwsign bare rootfs: %s (target <= 1.10)   %s\n' "$x_bare" "$ok_bare"
printf '  fwsign peak RSS: blob %s MiB, bare %s MiB\n' "$fb_m" "$fr_m"
printf '  by CPU seconds (user + sys, steadier on a shared machine): pipeline / blob %sx, blob / bare %s\n' \
	"$xc_pipe" "$xc_bare"

json_runs() { col "$1" 1 | paste -sd, -; }
printf 'BENCH {"format":"blob","blob_bytes":%d,"sqfs_bytes":%d,"fit_bytes":%d,"block":"%s","files":%d,"modules":%d,"signed":"%s","pipeline_elf":%s,"binwalk":%s,"cpus":%d,"runs":%d,"load_start":"%s","load_end":"%s","loads":[%s],"noisy_runs":[%s],' \
	"$BLOB_SZ" "$SQFS_SZ" "$FIT_SZ" "$BLOCK" "$NFILES" "$NMODS" "$N_SIGN" "$N_ELF" "$([ "$BINWALK" = 1 ] && echo true || echo false)" "$NCPU" "$RUNS" "$LOAD_START" "$LOAD_END" \
	"$(for i in $(seq 1 "$RUNS"); do cat "$R/$i/load"; done | paste -sd, -)" "$(echo $NOISY | tr ' ' ,)"
printf '"fwsign_blob":{"wall":%s,"cpu":%s,"rss_mib":%s,"walls":[%s]},' "$fb_w" "$fb_c" "$fb_m" "$(json_runs blob)"
printf '"fwsign_bare":{"wall":%s,"cpu":%s,"rss_mib":%s,"walls":[%s]},' "$fr_w" "$fr_c" "$fr_m" "$(json_runs bare)"
printf '"pipeline":{"wall":%s,"cpu":%s,"walls":[%s],"steps":{' "$pp_w" "$pp_c" "$(json_runs pipe)"
sep=
for s in $STEPS; do printf '%s"%s":%s' "$sep" "$s" "$(col "p.$s" 1 | median)"; sep=,; done
printf '}},"x_pipeline":%s,"x_bare":%s,"x_pipeline_cpu":%s,"x_bare_cpu":%s,"target_pipeline":"%s","target_bare":"%s"}\n' \
	"$x_pipe" "$x_bare" "$xc_pipe" "$xc_bare" "$ok_pipe" "$ok_bare"
# the unpacked trees go now, not just before the next invocation's runs
rm -rf "$R"/*/p/root
