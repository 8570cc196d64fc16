#!/bin/bash
# Small seed inputs for the fuzz targets, made at run time (no binaries in
# the tree): squashfs images of every compressor fwsign writes, small ext2
# and ext4 images, tar and cpio archives, all of one tiny tree with an ELF,
# a module, a symlink, a hard link, an xattr, a FIFO and, as root, a
# device node; and vendor blobs of nested layers (FIT, uImage, sysupgrade
# tar, fwtool trailers, flash image) around a tiny squashfs and kernel.
# Usage: make-seeds.sh OUTDIR (makes OUTDIR/{squashfs,ext4,archive,stack}).
set -euo pipefail
out=${1:?usage: make-seeds.sh OUTDIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000 E2FSPROGS_FAKE_TIME=1700000000
mkdir -p "$out/squashfs" "$out/ext4" "$out/archive" "$out/stack"

t=$work/tree
mkdir -p "$t/lib/modules" "$t/bin" "$t/etc" "$t/empty-dir"
# 6000 bytes of a real ELF: a whole 4 KiB block and a fragment
head -c 6000 "$(type -P true)" >"$t/bin/prog"
chmod 755 "$t/bin/prog"
{ printf '\177ELF\2\1\1'; head -c 1500 /dev/zero | tr '\0' 'k'; } >"$t/lib/modules/m.ko"
echo hello >"$t/etc/hello"
: >"$t/etc/empty"
ln "$t/etc/hello" "$t/bin/hello-link"
ln -s ../bin/prog "$t/etc/prog-link"
mkfifo "$t/etc/fifo"
setfattr -n user.fuzz -v seed "$t/etc/hello" 2>/dev/null || true
if [ "$(id -u)" = 0 ]; then
	mknod "$t/etc/null" c 1 3
fi
find "$t" -exec touch -h -d @1700000000 {} +

sq() {	# NAME, mksquashfs options
	local name=$1
	shift
	mksquashfs "$t" "$out/squashfs/$name.sqfs" -b 4K -noappend -quiet \
		-no-progress -nopad "$@" >/dev/null
}
sq gzip -comp gzip
sq gzip-opts -comp gzip -Xcompression-level 1
sq xz -comp xz
sq xz-bcj -comp xz -Xbcj x86
sq zstd -comp zstd
sq lz4 -comp lz4 -Xhc
# uncompressed: mutations hit the tables directly
sq plain -noI -noD -noF -noX
sq plain-nofrag -noI -noD -noF -noX -no-fragments
sq plain-noxattr -noI -noD -noF -no-xattrs -no-exports

ext() {	# NAME, BLOCKS, mke2fs options
	local name=$1 blocks=$2
	shift 2
	truncate -s $((blocks * 1024)) "$out/ext4/$name.img"	# mke2fs would not
	mke2fs -q -F -b 1024 -N 32 -U 6f7a7a65-7365-6564-0000-000000000000 \
		-E hash_seed=6f7a7a65-7365-6564-0000-000000000001,root_owner=0:0 \
		-d "$t" "$@" "$out/ext4/$name.img" "$blocks" >/dev/null
}
ext ext2 64 -t ext2 -O ^resize_inode
ext ext4 64 -t ext4 -O ^has_journal,^resize_inode
ext ext4-nocsum 64 -t ext4 -O ^has_journal,^resize_inode,^metadata_csum,^64bit
ext ext2-128 64 -t ext2 -I 128 -O ^resize_inode
ext ext4-inline 64 -t ext4 -I 256 -O ^has_journal,^resize_inode,inline_data
ext ext4-bigalloc 128 -t ext4 -O ^has_journal,^resize_inode,bigalloc -C 4096
# A file past the size from which ext4 hands out a sparse view and
# segments of the image (256 KiB): a real ELF start, holes between data.
big=$work/big
mkdir -p "$big/bin"
{ head -c 6000 "$(type -P true)"; head -c 200000 /dev/zero; printf middle
  head -c 70000 /dev/zero; printf end; } >"$big/bin/big"
# and a file of holes only, big enough to be mapped (no extents at all)
truncate -s 100000 "$big/bin/holes"
touch -d @1700000000 "$big/bin/big" "$big/bin/holes" "$big/bin" "$big"
(t=$big; ext ext4-sparse 96 -t ext4 -O ^has_journal,^resize_inode)

(cd "$t" && find . | LC_ALL=C sort >"$work/list")
tar -C "$t" --format=gnu --no-recursion --mtime=@1700000000 --owner=0 \
	--group=0 -T "$work/list" -cf "$out/archive/tree.tar"
tar -C "$t" --format=pax --xattrs --no-recursion --mtime=@1700000000 \
	-T "$work/list" -cf "$out/archive/tree-pax.tar"
(cd "$t" && cpio --quiet -o -H newc <"$work/list") >"$out/archive/tree.cpio"
gzip -9n <"$out/archive/tree.cpio" >"$out/archive/tree.cpio.gz"
# Blobs (formats/stack.c and its layers): a tiny squashfs holding a 64-byte
# ELF executable (which the target signs for real, so that every layer
# around it is rebuilt), and a fake arm64 Image (its 64-byte header, then
# text: a kernel without a certificate slot), in every wrapper the stack
# knows.  All under 6 KiB but flash-64k (66 KiB).
s=$work/stack
mkdir -p "$s/tree/bin"
python3 - "$s" <<'PY'
import struct, sys
d = sys.argv[1]
# ELF64 x86_64 ET_EXEC without program or section headers: an executable
ehdr = b'\x7fELF\x02\x01\x01' + bytes(9) + struct.pack(
    '<HHIQQQIHHHHHH', 2, 62, 1, 0x401000, 0, 0, 0, 64, 0, 0, 0, 0, 0)
open(d + '/tree/bin/tiny', 'wb').write(ehdr)
img = bytearray(64)
struct.pack_into('<IIQQQ', img, 0, 0x91005a4d, 0x14000000, 0, 512, 0xa)
img[0x38:0x3c] = b'ARM\x64'
img += b'Linux version 6.1.0-fuzz (seed) #1 SMP\n' * 12
open(d + '/Image', 'wb').write(bytes(img[:512]))
PY
chmod 755 "$s/tree/bin/tiny"
echo fuzz >"$s/tree/bin/hello"
touch -d @1700000000 "$s/tree/bin/tiny" "$s/tree/bin/hello" "$s/tree/bin" \
	"$s/tree"
mksquashfs "$s/tree" "$s/root.sqfs" -b 4K -noappend -quiet -no-progress \
	-nopad -noI -noD -noF -noX -no-xattrs >/dev/null
# FIT: kernel and rootfs, crc32 and sha1 of each; embedded, then external
# (-E -B 0x100: data-offset) and at a position (-p: data-position)
cat >"$s/fit.its" <<ITS
/dts-v1/;
/ {
	description = "fuzz";
	#address-cells = <1>;
	images {
		kernel-1 {
			data = /incbin/("$s/Image");
			type = "kernel";
			arch = "arm64";
			os = "linux";
			compression = "none";
			load = <0x80000>;
			entry = <0x80000>;
			hash-1 { algo = "crc32"; };
			hash-2 { algo = "sha1"; };
		};
		rootfs-1 {
			data = /incbin/("$s/root.sqfs");
			type = "filesystem";
			arch = "arm64";
			os = "linux";
			compression = "none";
			hash-1 { algo = "crc32"; };
			hash-2 { algo = "sha1"; };
		};
	};
	configurations {
		default = "conf-1";
		conf-1 { kernel = "kernel-1"; loadables = "rootfs-1"; };
	};
};
ITS
mkimage -f "$s/fit.its" "$out/stack/fit.itb" >/dev/null
mkimage -E -B 0x100 -f "$s/fit.its" "$out/stack/fit-external.itb" >/dev/null
mkimage -E -p 0x800 -f "$s/fit.its" "$out/stack/fit-position.itb" >/dev/null
ui() {	# OUT, mkimage options
	local o=$1
	shift
	mkimage -A arm64 -O linux -C none -a 0x80000 -e 0x80000 -n fuzz "$@" \
		"$o" >/dev/null
}
ui "$out/stack/uimage-kernel.bin" -T kernel -d "$s/Image"
ui "$out/stack/uimage-multi.bin" -T multi -d "$s/Image:$s/root.sqfs"
# sysupgrade tar: GNU tar (records of 10 KiB) of CONTROL, kernel, root
b=$s/sysupgrade-fuzz
mkdir -p "$b"
printf 'BOARD=fuzz\n' >"$b/CONTROL"
cp "$out/stack/uimage-kernel.bin" "$b/kernel"
cp "$s/root.sqfs" "$b/root"
touch -d @1700000000 "$b"/* "$b"
tar -C "$s" --format=gnu --mtime=@1700000000 --owner=0 --group=0 \
	-cf "$out/stack/sysupgrade.tar" sysupgrade-fuzz/CONTROL \
	sysupgrade-fuzz/kernel sysupgrade-fuzz/root
# fwtool trailers after it: a metadata block; metadata then a signature
python3 - "$out/stack" <<'PY'
import json, struct, sys, zlib
d = sys.argv[1]
def block(data, typ, payload):
    crc = ~zlib.crc32(data + payload) & 0xffffffff
    return data + payload + struct.pack('>IIB3xI', 0x46577830, crc, typ,
                                        len(payload) + 16)
tar = open(d + '/sysupgrade.tar', 'rb').read()
meta = struct.pack('>II', 0, 0) + json.dumps(
    {"metadata_version": "1.1", "compat_version": "1.0",
     "supported_devices": ["fuzz"], "version": {"dist": "OpenWrt"}},
    separators=(',', ':')).encode()
one = block(tar, 1, meta)
open(d + '/sysupgrade-fwtool.bin', 'wb').write(one)
sig = b'untrusted comment: fuzz\n' + bytes(range(64))
open(d + '/sysupgrade-fwtool-sig.bin', 'wb').write(block(one, 0, sig))
PY
# flash images: the uImage, a gap of 0xff, the squashfs at an erase block
# (64 KiB as asked of real ones; 4 KiB, small to mutate; 4 KiB and padded
# to a fixed size)
flash() {	# OUT, ALIGN, TOTAL (0: not padded)
	local k=$out/stack/uimage-kernel.bin
	local r=$s/root.sqfs
	{ cat "$k"
	  head -c $(($2 - $(stat -c %s "$k"))) /dev/zero | tr '\0' '\377'
	  cat "$r"
	  if [ "$3" != 0 ]; then
		head -c $(($3 - $2 - $(stat -c %s "$r"))) /dev/zero |
			tr '\0' '\377'
	  fi; } >"$1"
}
flash "$out/stack/flash-64k.bin" 65536 0
flash "$out/stack/flash-4k.bin" 4096 0
flash "$out/stack/flash-4k-padded.bin" 4096 12288
# compressed streams around containers (formats/stream.c)
gzip -9n <"$out/stack/fit.itb" >"$out/stack/fit.itb.gz"
xz -9 --check=crc32 <"$out/stack/sysupgrade.tar" >"$out/stack/sysupgrade.tar.xz"
# --layout: the target takes a first line "# layout", then the layout
# file up to an empty line, then the blob
{ printf '# layout\nkernel 0 0x240\nrootfs 4K rest\n\n'
  cat "$out/stack/flash-4k.bin"; } >"$out/stack/layout-flash.bin"
{ printf '# layout\nhdr 0 64 data # a vendor header\nfs 0x40 rest auto\n\n'
  head -c 64 /dev/zero | tr '\0' 'H'
  cat "$s/root.sqfs"; } >"$out/stack/layout-header.bin"
find "$out" -type f -printf '%s\n' | awk '{ n++; s += $1 } END { printf "%d seeds, %d bytes\n", n, s }'
