#!/bin/bash
# Small seed inputs for the fuzz targets, made at run time (no binaries in
# the tree): squashfs images of every compressor fwsign writes, small ext2
# and ext4 images, tar and cpio archives, all of one tiny tree with an ELF,
# a module, a symlink, a hard link, an xattr, a FIFO and, as root, a
# device node; vendor blobs of nested layers (FIT, uImage, sysupgrade
# tar, fwtool trailers, flash image) around a tiny squashfs and kernel;
# ELF files with and without signature trailers; tiny kernels with an
# extra-certificate slot in every layer src/kernel.c peels.
# Usage: make-seeds.sh OUTDIR (makes OUTDIR/{squashfs,ext4,archive,stack,
# elf,kernel,ubifs}).  $FWSIGN (the fwsign program) signs a module; without it
# that seed and the ones made from it are left out.  Real modules come
# from $FIXTURES (tests/fixtures/fetch.sh) when it is there.
set -euo pipefail
out=${1:?usage: make-seeds.sh OUTDIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000 E2FSPROGS_FAKE_TIME=1700000000
mkdir -p "$out/squashfs" "$out/ext4" "$out/archive" "$out/stack" \
	"$out/elf" "$out/kernel" "$out/ubifs"

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

# UBIFS volumes of the tree (NOR geometry: the smallest LEBs), every
# compressor, favor_lzo, the test key hash, space fixup, a fanout of 3.
ub() {	# NAME, mkfs.ubifs options
	local name=$1
	shift
	mkfs.ubifs -r "$t" -m 8 -e 15360 -c 64 "$@" -o "$out/ubifs/$name.ubifs" \
		>/dev/null
}
ub lzo
ub zlib -x zlib -F
ub zstd -x zstd -k test
ub none -x none -f 3
ub favor -x favor_lzo -X 1
# journals as the kernel writes them (tests/cli/ubifs-xattr.py): xattrs
# mkfs.ubifs cannot write; a label replaced, one removed
xa=$(dirname "$0")/../cli/ubifs-xattr.py
printf '/.*\tsystem_u:object_r:default_t:s0\n' >"$work/fc"
ub label --selinux="$work/fc"
cp "$out/ubifs/lzo.ubifs" "$out/ubifs/journal.ubifs"
python3 "$xa" "$out/ubifs/journal.ubifs" \
	bin/prog security.capability 0100000200200000000000000000000000000000 \
	etc user.dir 6464 etc/prog-link trusted.link 0102 / user.root 72
mv "$out/ubifs/label.ubifs" "$out/ubifs/journal-del.ubifs"
python3 "$xa" "$out/ubifs/journal-del.ubifs" etc security.selinux - \
	etc/hello security.selinux 6574635f7400 bin/prog user.a 01

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
# UBI (formats/ubi.c): 4 KiB PEBs, a static volume holding the Image and
# a dynamic one holding the squashfs; the same with a free PEB at the end
cat >"$s/ubi.ini" <<EOF
[kernel]
mode=ubi
image=$s/Image
vol_id=0
vol_type=static
vol_name=kernel
[rootfs]
mode=ubi
image=$s/root.sqfs
vol_id=1
vol_type=dynamic
vol_name=rootfs
vol_flags=autoresize
EOF
ubinize -o "$out/stack/ubi.bin" -p 4KiB -m 512 -s 512 -Q 1 "$s/ubi.ini" \
	>/dev/null 2>&1
{ cat "$out/stack/ubi.bin"; head -c 4096 /dev/zero | tr '\0' '\377'; } \
	>"$out/stack/ubi-free.bin"
# partitioned disks (formats/disk.c), by sfdisk, tiny: an MBR with the
# squashfs in p1 and an extended partition whose EBR chain holds p5 (text)
# and p6 (the Image); a GPT of a 4-entry table (one sector) with the
# squashfs in p1 and text in p2; the MBR one gzip'ed
d=$out/stack/disk-mbr.img
rm -f "$d"	# a run before left it: start from zeros
truncate -s 12K "$d"
printf 'label: dos\nlabel-id: 0x0badf00d\ndevice: %s\n%s\n%s\n%s\n%s\n' "$d" \
	"${d}1 : start=1, size=9, type=83" "${d}2 : start=10, size=14, type=5" \
	"${d}5 : start=12, size=4, type=da" "${d}6 : start=18, size=4, type=da" |
	sfdisk -q "$d"
dd if="$s/root.sqfs" of="$d" bs=512 seek=1 conv=notrunc status=none
printf 'partition five\n' | dd of="$d" bs=512 seek=12 conv=notrunc status=none
dd if="$s/Image" of="$d" bs=512 seek=18 conv=notrunc status=none
gzip -9n <"$d" >"$d.gz"
d=$out/stack/disk-gpt.img
rm -f "$d"
truncate -s 10K "$d"
printf 'label: gpt\nlabel-id: %s\ntable-length: 4\nfirst-lba: 3\n%s\n%s\n' \
	11111111-2222-3333-4444-555555555555 \
	"start=3, size=9, type=L, name=root, uuid=11111111-2222-3333-4444-000000000001" \
	"start=12, size=4, type=L, name=data, uuid=11111111-2222-3333-4444-000000000002" |
	sfdisk -q "$d"
dd if="$s/root.sqfs" of="$d" bs=512 seek=3 conv=notrunc status=none
printf 'partition two\n' | dd of="$d" bs=512 seek=12 conv=notrunc status=none
# a FAT12 volume (formats/fat.c; mkfs.vfat and mcopy, 64 KiB: mtools
# takes no smaller) of 512-byte clusters: the Image in one run, again in a
# subdirectory fragmented around a deleted file, and text
d=$out/stack/fat12.img
rm -f "$d"	# mkfs.vfat -C makes a new file only
ft() { faketime -f '2023-11-14 22:13:20' "$@"; }	# mkfs.vfat and mtools stamp entries with the clock
ft mkfs.vfat -C -F 12 -s 1 -i 0badf00d -n FUZZ "$d" 64 >/dev/null
head -c 1024 /dev/zero | tr '\0' 'h' >"$s/hole"
ft mcopy -i "$d" "$s/hole" ::hole
ft mcopy -i "$d" "$s/tree/bin/hello" ::hello.txt
ft mcopy -i "$d" "$s/Image" ::Image
ft mdel -i "$d" ::hole
ft mmd -i "$d" ::sub
{ cat "$s/Image"; head -c 1000 /dev/zero | tr '\0' 'k'; } >"$s/Image3"
ft mcopy -i "$d" "$s/Image3" ::sub/kernel8.img
# long (VFAT) names: a directory of several clusters whose runs of
# long-name entries cross cluster boundaries, UTF-8 names, the Image under
# a long name; then the same with the first run's checksum broken (read
# by its 8.3 name)
d=$out/stack/fat12-lfn.img
rm -f "$d"
ft mkfs.vfat -C -F 12 -s 1 -i 0badf00d -n FUZZ "$d" 64 >/dev/null
ft mmd -i "$d" "::EFI" "::EFI/Boot Kernels"
for i in 1 2 3; do
	LC_ALL=C.UTF-8 ft mcopy -i "$d" "$s/tree/bin/hello" "::EFI/Boot Kernels/bcm2711-rpi-4-b-überlong-name-$i.dtb"
done
ft mcopy -i "$d" "$s/Image" "::EFI/Boot Kernels/vmlinuz-6.1.0-arm64-a-long-kernel-name"
python3 - "$d" "$out/stack/fat12-lfn-bad.img" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
i = b.find(b'b\0c\0m\0')	# the first long-name entry of a .dtb
b[i - 1 + 13] ^= 0xff	# its checksum byte
open(sys.argv[2], 'wb').write(b)
PY
# ELF files (fuzz_elf): tiny programs without a libc (x86_64 by gcc; by
# clang and ld.lld when there, five more targets, 32/64-bit, both byte
# orders), a library, a PIE, modules (relocatable, with .modinfo and
# .gnu.linkonce.this_module), compressed modules, a module signed by
# fwsign and copies with damaged trailers; the smallest real module of
# every architecture of the fixtures, signed by Debian, when they are there.
e=$work/elf
mkdir -p "$e/mod"
cat >"$e/t.c" <<'EOF'
int seed_data = 1;
void _start(void) { for (;;) ; }
EOF
cat >"$e/lib.c" <<'EOF'
int seed_fn(int x) { return x + 1; }
EOF
cat >"$e/mod.c" <<'EOF'
static const char modinfo[] __attribute__((section(".modinfo"), used)) =
	"license=GPL";
struct module { char name[56]; };
struct module this_module __attribute__((section(".gnu.linkonce.this_module")))
	= { "seed" };
EOF
small="-Os -ffreestanding -fno-asynchronous-unwind-tables -nostdlib
	-Wl,-z,max-page-size=16 -Wl,--build-id=none"
gcc $small -static -Wl,-z,noseparate-code -o "$out/elf/x86_64-exec" "$e/t.c"
gcc $small -fPIC -shared -Wl,-soname,libseed.so.1 -Wl,-z,noseparate-code \
	-o "$out/elf/x86_64-lib.so" "$e/lib.c"
gcc $small -fPIE -pie -Wl,-z,noseparate-code -o "$out/elf/x86_64-pie" "$e/t.c"
gcc -Os -fno-asynchronous-unwind-tables -c -o "$e/mod/seed.ko" "$e/mod.c"
cp "$e/mod/seed.ko" "$out/elf/x86_64-module.ko"
xz -C crc32 <"$e/mod/seed.ko" >"$out/elf/module.ko.xz"
gzip -9n <"$e/mod/seed.ko" >"$out/elf/module.ko.gz"
if command -v clang >/dev/null && command -v ld.lld >/dev/null; then
	for t in aarch64-linux-gnu arm-linux-gnueabihf mips-linux-gnu \
		 powerpc64-linux-gnu riscv64-linux-gnu i386-linux-gnu; do
		clang --target=$t $small -fuse-ld=lld -static -Wl,-e,_start \
			-o "$out/elf/${t%%-*}-exec" "$e/t.c"
	done
	clang --target=aarch64-linux-gnu $small -fuse-ld=lld -fPIC -shared \
		-o "$out/elf/aarch64-lib.so" "$e/lib.c"
	for t in s390x-linux-gnu mips-linux-gnu; do
		clang --target=$t -Os -c -o "$out/elf/${t%%-*}-module.ko" "$e/mod.c"
	done
fi
if [ -n "${FWSIGN:-}" ] && [ -x "$FWSIGN" ]; then
	"$FWSIGN" keygen -o "$e/key" --ec p256 --subject seed >/dev/null
	"$FWSIGN" sign "$e/mod" -o "$e/signed" --key "$e/key.key" \
		--cert "$e/key.crt" >/dev/null
	cp "$e/signed/seed.ko" "$out/elf/module-signed.ko"
	zstd -q -19 <"$e/signed/seed.ko" >"$out/elf/module-signed.ko.zst"
	# damaged trailers: struct module_signature is the 12 bytes before
	# the 28-byte magic, sig_len its last 4 (big-endian)
	python3 - "$e/signed/seed.ko" "$out/elf" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
d = sys.argv[2]
info = len(b) - 40
def put(name, data):
    open(d + '/trailer-' + name + '.ko', 'wb').write(data)
def with_info(i):
    return b[:info] + i + b[info + 12:]
put('siglen-huge', b[:info + 8] + struct.pack('>I', 0x7fffffff) + b[info + 12:])
put('siglen-zero', b[:info + 8] + bytes(4) + b[info + 12:])
put('siglen-all', b[:info + 8] + struct.pack('>I', info) + b[info + 12:])
put('id-type-1', with_info(b[info:info + 2] + b'\x01' + b[info + 3:info + 12]))
put('pad-set', with_info(b[info:info + 5] + b'\x01' + b[info + 6:info + 12]))
sl = struct.unpack('>I', b[info + 8:info + 12])[0]
# the PKCS#7 message cut short by 16 bytes, sig_len to match
put('pkcs7-cut', b[:info - 16] + b[info:info + 8] + struct.pack('>I', sl - 16)
    + b[info + 12:])
put('magic-only', b[-28:])
put('twice', b + b[info - sl:])
PY
fi
fx=${FIXTURES:-/var/cache/fwsign-fixtures}
for a in amd64 arm64 armhf mips64el s390x; do
	[ -d "$fx/$a/modules" ] || continue
	m=$(find "$fx/$a/modules" -name '*.ko' -size -7k -printf '%s %p\n' |
		sort -n | head -1 | cut -d' ' -f2-)
	[ -n "$m" ] && cp "$m" "$out/elf/debian-$a-$(basename "$m")"
	l=$(find "$fx/$a/lib" -maxdepth 1 -name 'libBrokenLocale.so*' | head -1)
	[ -n "$l" ] && head -c 4096 "$l" >"$out/elf/debian-$a-lib-head.so"
done

# Kernels (fuzz_kernel): the layout of certs/system_certificates.S (one
# builtin certificate, the extra-certificate slot of 1 KiB, the used word,
# the list size, module_cert_size) in a fake arm64 and riscv Image (slot
# found by the layout scan; filler of kernel/0001, a certificate in it),
# compressed with every codec, in uImages, as a vmlinux ELF (symbols;
# stripped; big-endian and 32-bit ones by clang), in a bzImage, and raw
# images and vmlinux with a System.map ("# map" inputs).  1-4 KiB each.
k=$work/kernel
mkdir -p "$k"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$k/key.pem" -subj /CN=seed-builtin -days 1 -outform DER \
	-out "$k/cert.der" 2>/dev/null
python3 - "$k" <<'PY'
import struct, sys
d = sys.argv[1]
cert = open(d + '/cert.der', 'rb').read()
SLOT = 1024
def filler(n):
    seed, b = 1, bytearray()
    for _ in range(n):
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        b.append((seed >> 16) & 0xff)
    return bytes(b)
open(d + '/filler.bin', 'wb').write(filler(SLOT))
def pad(b, a):
    return b + bytes(-len(b) % a)
def certs(b, a4, a8, w, be, in_slot):
    """system_certificates.S after b; returns the image and the offsets."""
    o = '>' if be else '<'
    b = pad(b, a8)
    sym = {'system_certificate_list': len(b)}
    b += cert
    sym['system_extra_cert'] = len(b)
    used = len(cert) if in_slot else 0
    b += cert + bytes(SLOT - len(cert)) if in_slot else filler(SLOT)
    b = pad(b, a4)
    sym['system_extra_cert_used'] = len(b)
    b += struct.pack(o + 'I', used)
    b = pad(b, a8)
    sym['system_certificate_list_size'] = len(b)
    b += struct.pack(o + ('Q' if w == 8 else 'I'), len(cert) + used)
    b = pad(b, a8)
    b += struct.pack(o + ('Q' if w == 8 else 'I'), len(cert))
    sym['linux_banner'] = len(b)
    b += b'Linux version 6.1.0-seed (fuzz) #1 SMP\n\0'
    return b, sym
def image(magic, flags):
    h = bytearray(64)
    struct.pack_into('<IIQQQ', h, 0, 0x91005a4d, 0x14000000, 0, 0, flags)
    h[0x38:0x3c] = magic
    return bytes(h)
for name, magic, flags, be, slot in (
        ('Image', b'ARM\x64', 0xa, 0, 0), ('Image-cert', b'ARM\x64', 0xa, 0, 1),
        ('Image-be', b'ARM\x64', 0xb, 1, 0), ('riscv-Image', b'RSC\x05', 0, 0, 0)):
    b, sym = certs(image(magic, flags), 16, 256, 8, be, slot)
    b = bytearray(b)
    struct.pack_into('<Q', b, 16, len(b))	# image_size
    open(d + '/' + name, 'wb').write(b)
# a raw image whose slot is zeros: found only through a System.map
b, sym = certs(b'\0' * 64, 4, 8, 8, 0, 0)
x = sym['system_extra_cert']
b = b[:x] + bytes(SLOT) + b[x + SLOT:]
sym['_text'] = 0
with open(d + '/raw-map', 'wb') as f:
    f.write(b'# map\n')
    for n, a in sorted(sym.items(), key=lambda s: s[1]):
        f.write(b'%016x D %s\n' % (0xffffffff81000000 + a, n.encode()))
    f.write(b'\n' + b)
PY
ko=$out/kernel
cp "$k/Image" "$k/Image-cert" "$k/Image-be" "$k/riscv-Image" "$k/raw-map" "$ko/"
gzip -9n <"$k/Image" >"$ko/Image.gz"
xz -6 --check=crc32 <"$k/Image" >"$ko/Image.xz"
lzma -9 <"$k/Image" >"$ko/Image.lzma"
zstd -q -19 <"$k/Image" >"$ko/Image.zst"
{ lz4 -l -9 -q -c <"$k/Image"
  python3 -c "import os,sys; sys.stdout.buffer.write(os.path.getsize(sys.argv[1]).to_bytes(4, 'little'))" "$k/Image"
} >"$ko/Image.lz4"
gzip -9n <"$k/Image-cert" >"$ko/Image-cert.gz"
for c in none:Image gzip:Image.gz lzma:Image.lzma zstd:Image.zst lz4:Image.lz4; do
	mkimage -A arm64 -O linux -T kernel -C "${c%%:*}" -a 0x80000 -e 0x80000 \
		-n seed -d "$ko/${c#*:}" "$ko/uImage-${c%%:*}" >/dev/null 2>&1 ||
		rm -f "$ko/uImage-${c%%:*}"
done
cat >"$k/certs.S" <<'EOF'
	.section .init.text,"ax"
	.globl _text
_text:
	.long 0
	.section .rodata,"a"
	.globl linux_banner
linux_banner:
	.asciz "Linux version 6.1.0-seed (fuzz) #1 SMP\n"
	.section .init.rodata,"a"
	.balign A8
	.globl system_certificate_list
system_certificate_list:
1:	.incbin CERT
2:
	.globl system_extra_cert
	.size system_extra_cert, 1024
system_extra_cert:
	.incbin FILLER
	.balign A4
	.globl system_extra_cert_used
system_extra_cert_used:
	.long 0
	.balign A8
	.globl system_certificate_list_size
system_certificate_list_size:
	WORD 2b - 1b
	.balign A8
	.globl module_cert_size
module_cert_size:
	WORD 2b - 1b
EOF
kdefs="-DCERT=\"$k/cert.der\" -DFILLER=\"$k/filler.bin\""
klink="-nostdlib -static -Wl,-e,_text -Wl,-z,max-page-size=16 -Wl,--build-id=none"
gcc -c $kdefs -DA4=4 -DA8=8 -DWORD=.quad -o "$k/x86.o" "$k/certs.S"
gcc $klink -Wl,-z,noseparate-code -o "$k/vmlinux" "$k/x86.o"
cp "$k/vmlinux" "$ko/vmlinux-x86_64"
strip -o "$ko/vmlinux-x86_64-stripped" "$k/vmlinux"
{ echo '# map'; nm -n "$k/vmlinux"; echo; cat "$ko/vmlinux-x86_64-stripped"; } \
	>"$ko/vmlinux-x86_64-map"
if command -v clang >/dev/null && command -v ld.lld >/dev/null; then
	for t in powerpc64-linux-gnu:.quad arm-linux-gnueabihf:.long \
		 mips-linux-gnu:.long; do
		a=${t%%-*}
		clang --target=${t%%:*} -c $kdefs -DA4=16 -DA8=256 -DWORD=${t#*:} \
			-o "$k/$a.o" "$k/certs.S"
		clang --target=${t%%:*} -fuse-ld=lld $klink -o "$k/vmlinux-$a" "$k/$a.o"
		llvm-objcopy --strip-all "$k/vmlinux-$a" "$ko/vmlinux-$a-stripped"
	done
	cp "$k/vmlinux-powerpc64" "$ko/"
fi
# bzImage: one setup sector, a stub holding mkpiggy's input_len and
# output_len, the payload (the stripped vmlinux, xz or gzip, then its
# size as kbuild appends it), the CRC32 of build.c
for c in xz gzip; do
	{ if [ $c = xz ]; then xz -6 --check=crc32 -c "$ko/vmlinux-x86_64-stripped"
	  else gzip -9n -c "$ko/vmlinux-x86_64-stripped"; fi
	  python3 -c "import os,sys; sys.stdout.buffer.write(os.path.getsize(sys.argv[1]).to_bytes(4, 'little'))" \
		"$ko/vmlinux-x86_64-stripped"; } >"$k/payload.$c"
	python3 - "$k/payload.$c" "$ko/bzImage-$c" <<'PY'
import struct, sys, zlib
p = open(sys.argv[1], 'rb').read()
setup = bytearray(1024)
setup[0x1f1] = 1
setup[0x1fe:0x200] = b'\x55\xaa'
setup[0x202:0x206] = b'HdrS'
struct.pack_into('<H', setup, 0x206, 0x020f)
stub = bytearray(256)
stub[16:24] = struct.pack('<I', len(p)) + p[-4:]
struct.pack_into('<II', setup, 0x248, len(stub), len(p))
img = bytes(setup) + bytes(stub) + p
open(sys.argv[2], 'wb').write(img + struct.pack('<I', ~zlib.crc32(img) & 0xffffffff))
PY
done
# ARM zImage (head.S's header at 0x24, the KLSZ table, the piggy ending
# in the decompressed size): a 32-bit ARM raw image (4-byte longs, the
# filler of kernel/0001 in the slot) compressed with gzip, xz (+ size),
# lz4 (+ size) and lzo (refused: named), bare and in a uImage
python3 - "$k" <<'PY'
import struct, sys
d = sys.argv[1]
cert = open(d + '/cert.der', 'rb').read()
filler = open(d + '/filler.bin', 'rb').read()
def pad(b, a):
    return b + bytes(-len(b) % a)
b = pad(bytes(64), 256) + cert + filler
b = pad(b, 16) + struct.pack('<I', 0)
b = pad(b, 256) + struct.pack('<I', len(cert))
b = pad(b, 256) + struct.pack('<I', len(cert)) + b'Linux version 6.1.0-seed (fuzz) #1\n\0'
open(d + '/arm-Image', 'wb').write(b)
PY
for c in gzip xz lz4 lzo; do
	case $c in
	gzip) gzip -9n <"$k/arm-Image" ;;
	xz) xz -6 --check=crc32 --arm <"$k/arm-Image" 2>/dev/null || xz -6 --check=crc32 <"$k/arm-Image" ;;
	lz4) lz4 -l -9 -q -c <"$k/arm-Image" ;;
	lzo) lzop -9 -c <"$k/arm-Image" 2>/dev/null || continue ;;
	esac >"$k/piggy.$c"
	[ $c = gzip ] || python3 -c "import os,sys; sys.stdout.buffer.write(os.path.getsize(sys.argv[1]).to_bytes(4, 'little'))" \
		"$k/arm-Image" >>"$k/piggy.$c"
	python3 - "$k/piggy.$c" "$ko/zImage-$c" <<'PY'
import struct, sys
p = open(sys.argv[1], 'rb').read()
h = bytearray(b'\x00\x00\xa0\xe1' * 9)		# mov r0, r0
h += struct.pack('<6I', 0x016f2818, 0, 0, 0x04030201, 0x45454545, 0x40)
h = h.ljust(0x40, b'\0')
h += struct.pack('<7I', 6, 0x5a534c4b, 0, 0x1000, 0x8000, 0x10000, 0)
h += b'rodata: \3757zXZ\0 \x1f\x8b\x08'.ljust(32, b'\0')	# magics before the piggy
size_at = len(h) + len(p) - 4
struct.pack_into('<I', h, 0x48, size_at)
img = bytearray(bytes(h) + p)
struct.pack_into('<I', img, 0x2c, len(img))
open(sys.argv[2], 'wb').write(bytes(img) + b'\xd0\x0d\xfe\xed')	# a DTB's magic appended
PY
done
mkimage -A arm -O linux -T kernel -C none -a 0x8000 -e 0x8000 -n seed \
	-d "$ko/zImage-gzip" "$ko/uImage-zImage" >/dev/null 2>&1 || rm -f "$ko/uImage-zImage"
find "$out" -type f -printf '%s\n' | awk '{ n++; s += $1 } END { printf "%d seeds, %d bytes\n", n, s }'
