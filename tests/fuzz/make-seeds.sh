#!/bin/bash
# Small seed inputs for the fuzz targets, made at run time (no binaries in
# the tree): squashfs images of every compressor fwsign writes, small ext2
# and ext4 images, tar and cpio archives, all of one tiny tree with an ELF,
# a module, a symlink, a hard link, an xattr, a FIFO and, as root, a
# device node.  Usage: make-seeds.sh OUTDIR (makes OUTDIR/{squashfs,ext4,archive}).
set -euo pipefail
out=${1:?usage: make-seeds.sh OUTDIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000 E2FSPROGS_FAKE_TIME=1700000000
mkdir -p "$out/squashfs" "$out/ext4" "$out/archive"

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
find "$out" -type f -printf '%s\n' | awk '{ n++; s += $1 } END { printf "%d seeds, %d bytes\n", n, s }'
