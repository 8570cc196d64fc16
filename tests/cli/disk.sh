#!/bin/bash
# Partitioned disk images, made by sfdisk (MBR with an extended partition
# and logical ones; GPT), sgdisk (GPT) and fdisk -b 4096 (GPT of 4 KiB
# sectors), holding an ext4 root (mke2fs -d from real Debian binaries), a
# squashfs and random bytes where a bootloader would be (MBR boot code,
# the gap before the first partition).  fwsign info shows the partitions;
# sign rewrites them in place: sfdisk -d, sgdisk -p/-v and fdisk -l are the
# same before and after, every byte outside the partitions is the same (cmp
# on each range), each partition cut out with dd passes e2fsck -fn or
# unsquashfs -l and fwsign verify; gzip'ed images come out gzip'ed with the
# same inside.  A squashfs that grows past its partition, overlapping
# partitions, a partition past the end, bad GPT CRCs (header, entries,
# backup), an EBR chain that loops, a FAT volume longer than its
# partition and two kernel files sharing clusters are refused in one line
# each, exit 3, no output; a FAT boot sector is no disk.  Kernel files:
# the test kernel (a bzImage with a slot) in an ext2 boot partition, in a
# squashfs root, and in FAT32 (Pi-like), FAT16 and FAT12 volumes,
# fragmented or not, comes out as fwsign inject-cert makes it (the
# certificate found in its xz payload by a Python check), read back by
# debugfs, unsquashfs and mcopy, fsck.fat clean; Debian's bzImage (no
# slot) is refused, also by a plan, or left alone with
# --skip-kernels-without-slot.
. "$(dirname "$0")/lib.sh"
need_fixtures
for t in sfdisk sgdisk fdisk jq mke2fs e2fsck mksquashfs unsquashfs mkfs.vfat gzip; do
	command -v $t >/dev/null || { echo "$t missing (fdisk, gdisk, jq, e2fsprogs, squashfs-tools, dosfstools)" >&2; exit 1; }
done
key vendor --rsa 2048
K=$WORK/keys/vendor
F=$FIXTURES
W=$WORK/disk
mkdir -p "$W"
export SOURCE_DATE_EPOCH=1700000000

not() { ! "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
sign() {	# sign IN OUT
	"$FWSIGN" sign "$1" -o "$2" -k "$K.key" -c "$K.crt" >"$W/sign.txt" 2>&1
}

# The trees: ELF files of two architectures and a module.
mk_tree() {	# mk_tree DIR ARCH
	mkdir -p "$1/bin" "$1/lib/modules" "$1/etc"
	cp "$F/$2/bin/busybox" "$1/bin/"
	cp "$F/$2/lib/libm.so.6" "$1/lib/"
	cp "$F/$2/modules/kernel/crypto/aes_ti.ko" "$1/lib/modules/" 2>/dev/null ||
		cp "$(find "$F/$2/modules" -name '*.ko' | head -1)" "$1/lib/modules/"
	printf 'root:x:0:0::/root:/bin/sh\n' >"$1/etc/passwd"
}
mk_tree "$W/root" amd64
mk_tree "$W/sq" arm64
E2FSPROGS_FAKE_TIME=1600000000 mke2fs -q -t ext4 -d "$W/root" \
	-E root_owner=0:0 "$W/ext4.img" 8M >/dev/null || exit 1
mksquashfs "$W/sq" "$W/sq.img" -quiet -noappend -all-root >/dev/null || exit 1
mksquashfs "$W/root" "$W/sq5.img" -quiet -noappend -all-root >/dev/null || exit 1
SQ=$(( ($(stat -c %s "$W/sq.img") + 511) / 512 ))
SQ5=$(( ($(stat -c %s "$W/sq5.img") + 511) / 512 ))

put() {	# put IMG FILE LBA
	dd if="$2" of="$1" bs=512 seek="$3" conv=notrunc status=none
}
# Random "bootloader" bytes: MBR boot code, then LBA n..2047.
gap() {	# gap IMG FIRST_LBA
	head -c 440 /dev/urandom >"$W/boot"
	printf '\xfa' | dd of="$W/boot" conv=notrunc status=none	# cli
	dd if="$W/boot" of="$1" conv=notrunc status=none
	head -c $(( (2048 - $2) * 512 )) /dev/urandom >"$W/gapbytes"
	put "$1" "$W/gapbytes" "$2"
}

# MBR: p1 ext4, p2 squashfs, p3 extended with logical p5 (squashfs) and
# p6 (random data).
mbr() {
	local img=$W/mbr.img
	truncate -s 32M "$img"
	printf 'label: dos\nlabel-id: 0x12345678\ndevice: %s\n%s\n%s\n%s\n%s\n%s\n' "$img" \
		"${img}1 : start=2048, size=16384, type=83, bootable" \
		"${img}2 : start=18432, size=$SQ, type=83" \
		"${img}3 : start=$((18432 + SQ + 2048)), type=5" \
		"${img}5 : size=$SQ5, type=83" \
		"${img}6 : size=2048, type=da" | sfdisk -q "$img" || return 1
	gap "$img" 1
	put "$img" "$W/ext4.img" 2048
	put "$img" "$W/sq.img" 18432
	local p5 p6
	p5=$(sfdisk -J "$img" | jq '.partitiontable.partitions[3].start')
	p6=$(sfdisk -J "$img" | jq '.partitiontable.partitions[4].start')
	put "$img" "$W/sq5.img" "$p5"
	head -c 1M /dev/urandom >"$W/p6"
	put "$img" "$W/p6" "$p6"
}
# GPT by sfdisk: p1 ext4 'rootfs', p2 squashfs 'squash'.
gpt_sfdisk() {
	local img=$W/gpt.img
	truncate -s 32M "$img"
	printf 'label: gpt\nlabel-id: 11111111-2222-3333-4444-555555555555\nstart=2048, size=16384, type=L, name=rootfs\nstart=18432, size=%d, type=L, name=squash\n' \
		"$SQ" | sfdisk -q "$img" || return 1
	gap "$img" 34
	put "$img" "$W/ext4.img" 2048
	put "$img" "$W/sq.img" 18432
}
# GPT by sgdisk, the squashfs first.
gpt_sgdisk() {
	local img=$W/sgd.img
	truncate -s 33M "$img"
	sgdisk -U 11111111-2222-3333-4444-666666666666 \
		-n 1:2048:+$((SQ + 2048)) -t 1:8300 -c 1:squash \
		-n 2:0:+8M -t 2:8300 -c 2:rootfs "$img" >/dev/null || return 1
	local p2
	p2=$(sgdisk -i 2 "$img" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
	gap "$img" 34
	head -c 1M /dev/urandom >"$W/tail"	# as an overlay after a squashfs
	put "$img" "$W/tail" $((2048 + SQ))
	put "$img" "$W/sq.img" 2048
	put "$img" "$W/ext4.img" "$p2"
}
mbr || exit 1
gpt_sfdisk || exit 1
gpt_sgdisk || exit 1

# The bytes outside the partitions of A and B (sfdisk's view) are equal;
# prints the ranges, checks each with cmp.
cmp_outside() {	# cmp_outside A B
	local a=$1 b=$2 pos=0 start size
	local size_all
	size_all=$(stat -c %s "$a")
	[ "$size_all" -eq "$(stat -c %s "$b")" ] || return 1
	while read -r start size; do
		if [ "$start" -gt "$pos" ]; then
			cmp -s -i "$pos:$pos" -n $((start - pos)) "$a" "$b" || { echo "differ in [$pos, $start)" >&2; return 1; }
		fi
		pos=$((start + size))
	done < <(sfdisk -J "$a" | jq -r '.partitiontable.partitions[] |
		select(.type != "5" and .type != "f") | "\(.start * 512) \(.size * 512)"' | sort -n)
	cmp -s -i "$pos:$pos" "$a" "$b"
}
# Partition N of IMG to OUT.
part() {	# part IMG N OUT
	local s n
	s=$(sfdisk -J "$1" | jq ".partitiontable.partitions[] | select(.node | endswith(\"img$2\")) | .start")
	n=$(sfdisk -J "$1" | jq ".partitiontable.partitions[] | select(.node | endswith(\"img$2\")) | .size")
	dd if="$1" of="$3" bs=512 skip="$s" count="$n" status=none
}
table() { sfdisk -d "$1" | sed "s|$1|IMG|"; }
sgtable() { { sgdisk -p "$1"; sgdisk -v "$1"; } | sed "s|$1|IMG|"; }
# Every partition of a signed image read by its tool and verified.
check_parts() {	# check_parts NAME IMG EXT4-PARTS SQUASHFS-PARTS
	local name=$1 img=$2 n
	for n in $3; do
		part "$img" "$n" "$W/x"
		check "$name p$n: e2fsck -fn" quiet e2fsck -fn "$W/x"
		expect_exit 0 "$name p$n: verify" "$FWSIGN" verify "$W/x" -c "$K.crt"
		check "$name p$n: 3 signed" grep -q '^3 good, 0 unsigned' "$WORK/out.txt"
	done
	for n in $4; do
		part "$img" "$n" "$W/x"
		check "$name p$n: unsquashfs -l" quiet unsquashfs -l "$W/x"
		expect_exit 0 "$name p$n: verify" "$FWSIGN" verify "$W/x" -c "$K.crt"
		check "$name p$n: 3 signed" grep -q '^3 good, 0 unsigned' "$WORK/out.txt"
	done
}

# --- info: the partitions and what is in them
"$FWSIGN" info "$W/mbr.img" >"$W/info.txt" 2>&1
check "mbr info: MBR" grep -q 'disk.*(MBR, 512-byte sectors, 4 partitions' "$W/info.txt"
check "mbr info: p1 ext4" grep -q '^  p1  ext4  at 0x100000, 8388608 bytes' "$W/info.txt"
check "mbr info: p2 squashfs" grep -q '^  p2  squashfs  at 0x900000' "$W/info.txt"
check "mbr info: logical p5 squashfs" grep -q '^  p5  squashfs' "$W/info.txt"
check "mbr info: logical p6 data" grep -q '^  p6  data.*(type 0xda)' "$W/info.txt"
"$FWSIGN" info "$W/gpt.img" >"$W/info.txt" 2>&1
check "gpt info: names" grep -q "GPT, 512-byte sectors, 2 partitions: p1 name 'rootfs', p2 name 'squash'" "$W/info.txt"

# --- sign: tables and outside bytes identical, partitions good
for img in mbr gpt sgd; do
	in=$W/$img.img out=$W/$img.signed.img
	expect_exit 0 "$img: sign" sign "$in" "$out"
	check "$img: same size" [ "$(stat -c %s "$in")" -eq "$(stat -c %s "$out")" ]
	check "$img: sfdisk -d identical" cmp -s <(table "$in") <(table "$out")
	check "$img: bytes outside partitions identical" cmp_outside "$in" "$out"
	check "$img: partitions changed" not cmp -s "$in" "$out"
	"$FWSIGN" verify "$out" -c "$K.crt" >"$W/v.txt" 2>&1
	check "$img: verify the whole image" grep -q ' 0 unsigned, 0 foreign-key, 0 bad-signature' "$W/v.txt"
done
check_parts mbr "$W/mbr.signed.img" 1 "2 5"
part "$W/mbr.img" 6 "$W/a"; part "$W/mbr.signed.img" 6 "$W/b"
check "mbr: data partition p6 untouched" cmp -s "$W/a" "$W/b"
check_parts gpt "$W/gpt.signed.img" 1 2
check_parts sgd "$W/sgd.signed.img" 2 1
for img in gpt sgd; do
	check "$img: sgdisk -p and -v identical" cmp -s <(sgtable "$W/$img.img") <(sgtable "$W/$img.signed.img")
	check "$img: sgdisk -v clean" grep -q 'No problems found' <(sgdisk -v "$W/$img.signed.img")
done
# the bytes after the signed squashfs in its partition are the old ones
part "$W/sgd.img" 1 "$W/a"; part "$W/sgd.signed.img" 1 "$W/b"
used=$(od -An -tu8 -j 40 -N 8 "$W/b" | tr -d ' ')
used=$(( (used + 4095) / 4096 * 4096 ))
check "sgd: partition tail kept" cmp -s -i "$used:$used" "$W/a" "$W/b"
check "sgd: the overlay bytes are there" cmp -s -i $((SQ * 512)):0 -n 1048576 "$W/b" "$W/tail"
# reproducible
sign "$W/gpt.img" "$W/again.img"
check "gpt: reproducible" cmp -s "$W/gpt.signed.img" "$W/again.img"

# a GPT of 4096-byte sectors (fdisk -b 4096): ext4 in p1, squashfs in p2
rm -f "$W/g4.img"
truncate -s 24M "$W/g4.img"
printf 'g\nn\n1\n256\n+2047\nn\n2\n2304\n\nw\n' | fdisk -b 4096 "$W/g4.img" >/dev/null 2>&1
dd if="$W/ext4.img" of="$W/g4.img" bs=4096 seek=256 conv=notrunc status=none
dd if="$W/sq.img" of="$W/g4.img" bs=4096 seek=2304 conv=notrunc status=none
"$FWSIGN" info "$W/g4.img" >"$W/info.txt" 2>&1
check "gpt 4k: info" grep -q "GPT, 4096-byte sectors, 2 partitions" "$W/info.txt"
expect_exit 0 "gpt 4k: sign" sign "$W/g4.img" "$W/g4.signed.img"
check "gpt 4k: fdisk -l identical" cmp -s <(fdisk -b 4096 -l "$W/g4.img" | sed "s|$W/g4.img|IMG|" | tr -s ' ') \
	<(fdisk -b 4096 -l "$W/g4.signed.img" | sed "s|$W/g4.signed.img|IMG|" | tr -s ' ')
check "gpt 4k: tables and gap identical" cmp -s -n $((256 * 4096)) "$W/g4.img" "$W/g4.signed.img"
check "gpt 4k: backup table identical" cmp -s -i $((5888 * 4096)):$((5888 * 4096)) "$W/g4.img" "$W/g4.signed.img"
dd if="$W/g4.signed.img" of="$W/x" bs=4096 skip=256 count=2048 status=none
check "gpt 4k p1: e2fsck -fn" quiet e2fsck -fn "$W/x"
expect_exit 0 "gpt 4k p1: verify" "$FWSIGN" verify "$W/x" -c "$K.crt"
dd if="$W/g4.signed.img" of="$W/x" bs=4096 skip=2304 count=3584 status=none
check "gpt 4k p2: unsquashfs -l" quiet unsquashfs -l "$W/x"
expect_exit 0 "gpt 4k p2: verify" "$FWSIGN" verify "$W/x" -c "$K.crt"

# --- gzip'ed
gzip -n -9 -c "$W/gpt.img" >"$W/gpt.img.gz"
expect_exit 0 "gz: sign" sign "$W/gpt.img.gz" "$W/gpt.signed.img.gz"
"$FWSIGN" info "$W/gpt.img.gz" >"$W/info.txt" 2>&1
check "gz: info shows the disk in the stream" grep -q '^  decoded  disk.*GPT' "$W/info.txt"
check "gz: output is gzip" gzip -t "$W/gpt.signed.img.gz"
gzip -dc "$W/gpt.signed.img.gz" >"$W/gz.img"
check "gz: same as the plain image signed" cmp -s "$W/gz.img" "$W/gpt.signed.img"

# --- not a disk: a FAT boot sector ends in 55 aa too; a bare ext4
mkfs.vfat -C "$W/fat.img" 4096 >/dev/null
"$FWSIGN" info "$W/fat.img" >"$W/info.txt" 2>&1
check "fat: not a disk" not grep -q "  disk, " "$W/info.txt"
"$FWSIGN" info "$W/ext4.img" >"$W/info.txt" 2>&1
check "bare ext4: a filesystem" grep -q 'ext4' "$W/info.txt"
check "bare ext4: not a disk" not grep -q "  disk, " "$W/info.txt"

# --- refused: one line each, exit 3, no output
refuse() {	# refuse WHAT IMG PATTERN
	rm -f "$W/bad.out"
	expect_exit 3 "$1: exit 3" sign "$2" "$W/bad.out"
	ERR=$(cat "$W/sign.txt")
	[ -z "${SHOW:-}" ] || echo "$ERR"
	check "$1: one line" [ "$(wc -l <"$W/sign.txt")" -eq 1 ]
	check "$1: says '$3' ($ERR)" grep -q -- "$3" "$W/sign.txt"
	check "$1: no output" [ ! -e "$W/bad.out" ]
	check "$1: no temporary left" [ -z "$(ls -A "$W" | grep fwsign)" ]
}
# a squashfs bigger once signed than its partition (exactly its size):
# 20 libraries, 20 signatures, more than mksquashfs's 4 KiB padding
mksquashfs "$F/amd64/lib" "$W/libs.img" -quiet -noappend -all-root >/dev/null
LS=$(( $(stat -c %s "$W/libs.img") / 512 ))
truncate -s 24M "$W/tight.img"
printf 'label: dos\n2048,%d,83\n' "$LS" | sfdisk -q "$W/tight.img"
put "$W/tight.img" "$W/libs.img" 2048
refuse "grown" "$W/tight.img" "tight.img: p1: the new content ([0-9]* bytes) grew past the partition's end ($((LS * 512)) bytes): [0-9]* bytes missing"
# overlap: p2 starts inside p1
cp "$W/mbr.img" "$W/ov.img"
printf '\x00\x30\x00\x00' | dd of="$W/ov.img" bs=1 seek=$((446 + 16 + 8)) conv=notrunc status=none
refuse "overlap" "$W/ov.img" "bad MBR partition table: partitions p1 (LBA 2048-18431) and p2 (LBA 12288-.*) overlap"
# past the end: the image cut short
head -c 20M "$W/mbr.img" >"$W/short.img"
refuse "past end" "$W/short.img" "bad MBR partition table: p3 (LBA .*) lies past the end of the disk (40960 sectors of 512 bytes): [0-9]* bytes missing"
# EBR chain that loops: p6's EBR links back to the first
ext=$(sfdisk -J "$W/mbr.img" | jq '.partitiontable.partitions[2].start')
ebr2=$(( ext + $(od -An -tu4 -j $((ext * 512 + 446 + 16 + 8)) -N 4 "$W/mbr.img") ))
check "the second EBR is not the first" [ "$ebr2" -gt "$ext" ]
cp "$W/mbr.img" "$W/loop.img"
printf '\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00' |
	dd of="$W/loop.img" bs=1 seek=$((ebr2 * 512 + 446 + 16)) conv=notrunc status=none
refuse "EBR loop" "$W/loop.img" "bad MBR partition table: the EBR chain loops back to LBA $ext"
# GPT: one byte flipped in the primary header, the entries, the backup
flip() {	# flip IN OUT OFFSET
	cp "$1" "$2"
	printf '\x5a' | dd of="$2" bs=1 seek="$3" conv=notrunc status=none
}
sz=$(stat -c %s "$W/gpt.img")
flip "$W/gpt.img" "$W/crc1.img" $((512 + 60))
refuse "gpt header crc" "$W/crc1.img" "bad GPT partition table: primary GPT header: CRC mismatch"
flip "$W/gpt.img" "$W/crc2.img" $((1024 + 128 + 60))
refuse "gpt entries crc" "$W/crc2.img" "bad GPT partition table: primary GPT entries: CRC mismatch"
flip "$W/gpt.img" "$W/crc3.img" $((sz - 512 + 60))
refuse "gpt backup crc" "$W/crc3.img" "bad GPT partition table: backup GPT header: CRC mismatch"
flip "$W/gpt.img" "$W/crc4.img" $((sz - 512 - 32 * 512 + 60))
refuse "gpt backup entries crc" "$W/crc4.img" "bad GPT partition table: backup GPT entries: CRC mismatch"
# GPT whose entry points past the disk (CRCs made right by Python's zlib)
python3 - "$W/gpt.img" "$W/gpast.img" <<'EOF'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], 'rb').read())
last = len(b) // 512 - 1
for hdr in (512, last * 512):
    ent = struct.unpack_from('<Q', b, hdr + 72)[0] * 512
    n, es = struct.unpack_from('<II', b, hdr + 80)
    struct.pack_into('<Q', b, ent + 128 + 40, last + 1000)  # p2's last LBA
    struct.pack_into('<I', b, hdr + 88, zlib.crc32(bytes(b[ent:ent + n * es])))
    struct.pack_into('<I', b, hdr + 16, 0)
    hs = struct.unpack_from('<I', b, hdr + 12)[0]
    struct.pack_into('<I', b, hdr + 16, zlib.crc32(bytes(b[hdr:hdr + hs])))
open(sys.argv[2], 'wb').write(b)
EOF
check "gpast: sgdisk sees it too" grep -q "partition 2 is too big for the disk" <(sgdisk -v "$W/gpast.img")
refuse "gpt past end" "$W/gpast.img" "bad GPT partition table: p2 (LBA 18432-.*) lies outside the usable LBAs 2048-.*, past the end of the disk"
# a truncated GPT image: its backup header is gone
head -c 30M "$W/gpt.img" >"$W/gshort.img"
refuse "gpt cut" "$W/gshort.img" "the backup GPT header is at LBA 65535, not at the disk's last (61439)"
# --- kernel files in an ext2 boot partition: the test kernel (a bzImage
# with kernel/0001's slot) as /vmlinuz gets the certificate; Debian's
# bzImage (no slot) in /boot is refused, or left alone with
# --skip-kernels-without-slot; --no-inject-cert leaves both alone
KTREE=$("$SRCDIR/tests/e2e/build-kernel.sh") || { echo "kernel build failed" >&2; exit 1; }
DEB=$("$SRCDIR/tests/e2e/fetch-debian-kernels.sh" amd64) ||
	{ echo "cannot fetch Debian kernels" >&2; exit 1; }
command -v debugfs >/dev/null || { echo "debugfs missing (e2fsprogs)" >&2; exit 1; }
mkdir -p "$W/boottree/boot"
cp "$KTREE/arch/x86/boot/bzImage" "$W/boottree/vmlinuz"
cp "$DEB/amd64/vmlinuz" "$W/boottree/boot/vmlinuz-deb"
printf 'linux /vmlinuz root=/dev/sda2\n' >"$W/boottree/boot/grub.cfg"
E2FSPROGS_FAKE_TIME=1600000000 mke2fs -q -t ext2 -d "$W/boottree" \
	-E root_owner=0:0 "$W/boot.img" 16M >/dev/null || exit 1
truncate -s 40M "$W/kd.img"
printf 'label: dos\n2048,32768,83\n34816,16384,83\n' | sfdisk -q "$W/kd.img"
gap "$W/kd.img" 1
put "$W/kd.img" "$W/boot.img" 2048
put "$W/kd.img" "$W/ext4.img" 34816
"$FWSIGN" inject-cert "$W/boottree/vmlinuz" --cert "$K.der" -o "$W/ref.bzImage" >/dev/null
refuse "kernel without slot" "$W/kd.img" "kd.img: p1: boot/vmlinuz-deb: kernel without an extra-certificate slot"
expect_exit 3 "kd: the plan refuses it too" "$FWSIGN" sign -n "$W/kd.img" -k "$K.key" -c "$K.crt"
"$FWSIGN" sign -n "$W/kd.img" -k "$K.key" -c "$K.crt" --skip-kernels-without-slot >"$W/plan.txt" 2>&1
check "kd: the plan counts the kernels" grep -q '^2 kernels: 0 hold the certificate, 1 without a slot' "$W/plan.txt"
"$FWSIGN" sign "$W/kd.img" -o "$W/kd.signed.img" -k "$K.key" -c "$K.crt" \
	--skip-kernels-without-slot >"$W/sign.txt" 2>&1
check "kd: signed ($(tail -3 "$W/sign.txt"))" [ -s "$W/kd.signed.img" ]
check "kd: kernels counted" grep -q '^2 kernels: 1 hold the certificate, 1 without a slot' "$W/sign.txt"
check "kd: sfdisk -d identical" cmp -s <(table "$W/kd.img") <(table "$W/kd.signed.img")
check "kd: bytes outside partitions identical" cmp_outside "$W/kd.img" "$W/kd.signed.img"
part "$W/kd.signed.img" 1 "$W/p1"
check "kd p1: e2fsck -fn" quiet e2fsck -fn "$W/p1"
debugfs -R "dump /vmlinuz $W/vmlinuz.out" "$W/p1" >/dev/null 2>&1
debugfs -R "dump /boot/vmlinuz-deb $W/deb.out" "$W/p1" >/dev/null 2>&1
check "kd: /vmlinuz is inject-cert's output" cmp -s "$W/vmlinuz.out" "$W/ref.bzImage"
check "kd: /vmlinuz changed" not cmp -s "$W/vmlinuz.out" "$W/boottree/vmlinuz"
check "kd: Debian's kernel untouched" cmp -s "$W/deb.out" "$DEB/amd64/vmlinuz"
# the certificate in the slot, read without fwsign: the bzImage's CRC
# and payload (setup header), the xz payload decoded, the DER in it once
cat >"$W/slot.py" <<'EOF'
import struct, subprocess, sys, zlib
b = open(sys.argv[1], "rb").read()
der = open(sys.argv[2], "rb").read()
if (~zlib.crc32(b[:-4]) & 0xffffffff) != struct.unpack_from("<I", b, len(b) - 4)[0]:
    sys.exit("slot.py: bzImage CRC32 wrong")
pm = ((b[0x1f1] or 4) + 1) * 512
poff, plen = struct.unpack_from("<II", b, 0x248)
raw = subprocess.run(["xz", "-dc", "--single-stream"], input=b[pm + poff:pm + poff + plen],
                     stdout=subprocess.PIPE, check=True).stdout
if raw.count(der) != 1:
    sys.exit("slot.py: the certificate is not in the kernel once")
EOF
check "kd: the certificate in /vmlinuz's slot (xz, CRC)" python3 "$W/slot.py" "$W/vmlinuz.out" "$K.der"
check "kd: no certificate in the input's kernel" not quiet python3 "$W/slot.py" "$W/boottree/vmlinuz" "$K.der"
"$FWSIGN" verify "$W/kd.signed.img" -c "$K.crt" >"$W/v.txt" 2>&1
check "kd: verify sees the kernel's certificate" grep -q '^2 kernels: 1 hold the certificate, 1 without a slot' "$W/v.txt"
"$FWSIGN" sign "$W/kd.img" -o "$W/kd.noinj.img" -k "$K.key" -c "$K.crt" \
	--no-inject-cert >"$W/sign.txt" 2>&1
part "$W/kd.img" 1 "$W/a"; part "$W/kd.noinj.img" 1 "$W/b"
check "kd: --no-inject-cert leaves the boot partition alone" cmp -s "$W/a" "$W/b"
# a kernel file in a squashfs root (GPT), rewritten by the squashfs writer
mkdir -p "$W/ksq/boot"
cp "$W/boottree/vmlinuz" "$W/ksq/boot/vmlinuz"
cp "$F/amd64/bin/busybox" "$W/ksq/boot/"
mksquashfs "$W/ksq" "$W/ksq.img" -quiet -noappend -all-root >/dev/null
truncate -s 8M "$W/ks.img"
printf 'label: gpt\nstart=2048, size=12000, type=L, name=root\n' | sfdisk -q "$W/ks.img"
put "$W/ks.img" "$W/ksq.img" 2048
expect_exit 0 "ks: sign" sign "$W/ks.img" "$W/ks.signed.img"
check "ks: kernel counted" grep -q '^1 kernel: 1 hold the certificate, 0 without a slot' "$W/sign.txt"
part "$W/ks.signed.img" 1 "$W/x"
unsquashfs -cat "$W/x" boot/vmlinuz >"$W/kv" 2>/dev/null
check "ks: /boot/vmlinuz is inject-cert's output" cmp -s "$W/kv" "$W/ref.bzImage"
# --- a FAT32 boot partition, as a Raspberry Pi's (mkfs.vfat, mcopy): the
# test kernel as kernel8.img, fragmented (a file deleted before it left a
# hole), and as overlays/vmlinuz in one run; Debian's kernel (no slot) and
# config.txt beside them.  Each kernel file is rewritten in place at its
# size: fsck.fat is clean, mcopy reads inject-cert's output, the rest and
# the directory listing are as they were.
for t in mkfs.vfat mcopy mdir mdel mmd fsck.fat; do
	command -v $t >/dev/null || { echo "$t missing (dosfstools, mtools)" >&2; exit 1; }
done
rm -f "$W/fat.img"
mkfs.vfat -C -F 32 -n BOOT -i 12345678 "$W/fat.img" 65536 >/dev/null
head -c 300000 /dev/urandom >"$W/hole.bin"
printf 'arm_64bit=1\nkernel=kernel8.img\n' >"$W/config.txt"
mcopy -i "$W/fat.img" "$W/hole.bin" ::hole.bin
mcopy -i "$W/fat.img" "$W/config.txt" ::config.txt
mdel -i "$W/fat.img" ::hole.bin
# FSInfo (sector 1)'s next-free hint "unknown": mcopy then fills the hole
printf '\xff\xff\xff\xff' | dd of="$W/fat.img" bs=1 seek=$((512 + 492)) conv=notrunc status=none
mcopy -i "$W/fat.img" "$W/boottree/vmlinuz" ::kernel8.img
mmd -i "$W/fat.img" ::overlays
mcopy -i "$W/fat.img" "$W/boottree/vmlinuz" ::overlays/vmlinuz
mcopy -i "$W/fat.img" "$DEB/amd64/vmlinuz" ::vmlinuz.deb
truncate -s 100M "$W/pi.img"
printf 'label: dos\nlabel-id: 0x5452574f\n8192,131072,c\n139264,16384,83\n' | sfdisk -q "$W/pi.img"
gap "$W/pi.img" 1
put "$W/pi.img" "$W/fat.img" 8192
put "$W/pi.img" "$W/ext4.img" 139264
"$FWSIGN" info "$W/pi.img" >"$W/info.txt" 2>&1
check "pi info: FAT32 with 3 kernel files" grep -q '^  p1  FAT .*(FAT32, .* 3 kernel files)' "$W/info.txt"
check "pi info: kernel8.img fragmented" grep -q '^    kernel8.img  kernel  decoded' "$W/info.txt"
check "pi info: overlays/vmlinuz in one run" grep -q '^    overlays/vmlinuz  kernel  at 0x' "$W/info.txt"
refuse "pi: kernel without slot" "$W/pi.img" "pi.img: p1/vmlinuz.deb: kernel without an extra-certificate slot"
"$FWSIGN" sign "$W/pi.img" -o "$W/pi.signed.img" -k "$K.key" -c "$K.crt" \
	--skip-kernels-without-slot >"$W/sign.txt" 2>&1
check "pi: signed ($(tail -3 "$W/sign.txt"))" [ -s "$W/pi.signed.img" ]
check "pi: kernels counted" grep -q '^3 kernels: 2 hold the certificate, 1 without a slot' "$W/sign.txt"
check "pi: sfdisk -d identical" cmp -s <(table "$W/pi.img") <(table "$W/pi.signed.img")
check "pi: bytes outside partitions identical" cmp_outside "$W/pi.img" "$W/pi.signed.img"
part "$W/pi.signed.img" 1 "$W/p1"
check "pi p1: fsck.fat -n clean" quiet fsck.fat -n "$W/p1"
check "pi p1: same listing" cmp -s <(mdir -i "$W/fat.img" -/ -a ::) <(mdir -i "$W/p1" -/ -a ::)
rm -f "$W/k8" "$W/ov" "$W/deb" "$W/cfg"
mcopy -i "$W/p1" ::kernel8.img "$W/k8"
mcopy -i "$W/p1" ::overlays/vmlinuz "$W/ov"
mcopy -i "$W/p1" ::vmlinuz.deb "$W/deb"
mcopy -i "$W/p1" ::config.txt "$W/cfg"
check "pi: kernel8.img (fragmented) is inject-cert's output" cmp -s "$W/k8" "$W/ref.bzImage"
check "pi: overlays/vmlinuz is inject-cert's output" cmp -s "$W/ov" "$W/ref.bzImage"
check "pi: the certificate in kernel8.img's slot" python3 "$W/slot.py" "$W/k8" "$K.der"
check "pi: Debian's kernel untouched" cmp -s "$W/deb" "$DEB/amd64/vmlinuz"
check "pi: config.txt untouched" cmp -s "$W/cfg" "$W/config.txt"
part "$W/pi.signed.img" 2 "$W/x"
check "pi p2: e2fsck -fn" quiet e2fsck -fn "$W/x"
# the FAT volume longer than its partition
cp "$W/pi.img" "$W/picut.img"
printf '\x00\x00\x01\x00' | dd of="$W/picut.img" bs=1 seek=$((446 + 12)) conv=notrunc status=none
refuse "pi: FAT cut short" "$W/picut.img" "picut.img: p1: bad FAT: the volume (67108864 bytes) is cut short at 33554432"
# bare FAT12 and FAT16 volumes (no partition table), the kernel
# fragmented around a deleted file; zImage is read by its long name (mcopy
# gives it one: mixed case)
for b in 12 16; do
	rm -f "$W/f$b.img"
	mkfs.vfat -C -F $b -i 12345678 "$W/f$b.img" $((b == 12 ? 8192 : 16384)) >/dev/null
	mcopy -i "$W/f$b.img" "$W/hole.bin" ::hole.bin
	mcopy -i "$W/f$b.img" "$W/config.txt" ::config.txt
	mdel -i "$W/f$b.img" ::hole.bin
	mcopy -i "$W/f$b.img" "$W/boottree/vmlinuz" ::zImage
	"$FWSIGN" info "$W/f$b.img" >"$W/info.txt" 2>&1
	check "fat$b: info" grep -q "FAT$b, .*1 kernel file" "$W/info.txt"
	check "fat$b: fragmented" grep -q "^  zImage  kernel  decoded" "$W/info.txt"
	expect_exit 0 "fat$b: sign" sign "$W/f$b.img" "$W/f$b.signed.img"
	check "fat$b: fsck.fat -n clean" quiet fsck.fat -n "$W/f$b.signed.img"
	rm -f "$W/z"
	mcopy -i "$W/f$b.signed.img" ::zImage "$W/z"
	check "fat$b: the kernel is inject-cert's output" cmp -s "$W/z" "$W/ref.bzImage"
	check "fat$b: same size" [ "$(stat -c %s "$W/f$b.img")" -eq "$(stat -c %s "$W/f$b.signed.img")" ]
done
# two kernel files sharing their clusters (B.IMG's entry given A.IMG's
# first cluster): written back twice, so refused
rm -f "$W/xl.img"
mkfs.vfat -C -F 16 -i 12345678 "$W/xl.img" 16384 >/dev/null
mcopy -i "$W/xl.img" "$W/boottree/vmlinuz" ::A.IMG
mcopy -i "$W/xl.img" "$W/boottree/vmlinuz" ::B.IMG
python3 - "$W/xl.img" <<'EOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
bps, spc, rsvd, nfats, roots = struct.unpack_from('<HBHBH', b, 11)
fatsz = struct.unpack_from('<H', b, 22)[0]
root = (rsvd + nfats * fatsz) * bps
ents = {bytes(b[o:o + 11]): o for o in range(root, root + roots * 32, 32)}
a, bb = ents[b'A       IMG'], ents[b'B       IMG']
b[bb + 26:bb + 28] = b[a + 26:a + 28]
open(sys.argv[1], 'wb').write(b)
EOF
refuse "fat: cross-linked kernels" "$W/xl.img" "xl.img: bad FAT: B.IMG shares cluster [0-9]* with another file or directory"
done_tests
