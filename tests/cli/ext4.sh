#!/bin/bash
# ext2, ext3 and ext4 images (mke2fs -d from a tree of real Debian binaries
# of three architectures): the output is the input with only the signed
# files' data changed.  e2fsck -fn is clean; the superblock (UUID,
# features) and every inode (number, mode, owner, times, xattrs incl.
# security.capability, hard links, symlinks, devices, fifos) are as they
# were; the content is the original plus a trailer.  Reproducible; as
# nobody too.  A full image, --max-size, --in-place, truncated and corrupt
# images give one clear error and no output.
. "$(dirname "$0")/lib.sh"
need_fixtures
for t in mke2fs debugfs e2fsck dumpe2fs setcap; do
	command -v $t >/dev/null || { echo "$t missing (e2fsprogs, libcap2-bin)" >&2; exit 1; }
done
key vendor --rsa 2048
key big --rsa 4096
K=$WORK/keys/vendor
F=$FIXTURES
UTF=$(printf 'b\xc3\xa9')
# The same images every run; fwsign itself must not need the variable.
mkfs() { E2FSPROGS_FAKE_TIME=1600000000 mke2fs "$@"; }

# Every ELF file of the tree: signed in the output.  The rest is not.
SIGNED=$(printf '%s\n' bin/busybox bin/sh bin/ping usr/arm64/busybox \
	usr/s390x/busybox lib/libc.so.6 lib/libm.so.6 usr/arm64/libm.so.6 \
	usr/s390x/libutil.so.1 lib/modules/amd64.ko lib/modules/arm64.ko \
	lib/modules/s390x.ko "odd dir/lib with space.so" "odd dir/$UTF" bin/tiny)
is_signed() { grep -qxF -- "$1" <<<"$SIGNED"; }

mk_tree() {	# mk_tree DIR
	local t=$1
	mkdir -p "$t/bin" "$t/lib/modules" "$t/etc/deep/er/still" "$t/dev" \
		"$t/odd dir" "$t/usr/arm64" "$t/usr/s390x"
	cp "$F/amd64/bin/busybox" "$t/bin/busybox"
	cp "$F/arm64/bin/busybox" "$t/usr/arm64/busybox"
	cp "$F/s390x/bin/busybox" "$t/usr/s390x/busybox"
	cp "$F/amd64/lib/libc.so.6" "$F/amd64/lib/libm.so.6" "$t/lib/"
	cp "$F/arm64/lib/libm.so.6" "$t/usr/arm64/"
	cp "$F/s390x/lib/libutil.so.1" "$t/usr/s390x/"
	cp "$F/s390x/lib/ld64.so.1" "$t/bin/ping"
	cp "$F/amd64/modules/kernel/crypto/aes_ti.ko" "$t/lib/modules/amd64.ko"
	cp "$F/arm64/modules/kernel/crypto/aes_ti.ko" "$t/lib/modules/arm64.ko"
	cp "$F/s390x/modules/kernel/crypto/aegis128.ko" "$t/lib/modules/s390x.ko"
	cp "$F/s390x/lib/libresolv.so.2" "$t/odd dir/lib with space.so"
	cp "$F/arm64/lib/libdl.so.2" "$t/odd dir/$UTF"
	printf '#!/bin/sh\necho hello\n' >"$t/bin/hello.sh"
	printf 'root:x:0:0::/root:/bin/sh\n' >"$t/etc/passwd"
	printf 'tiny\n' >"$t/etc/tiny"
	# An 88-byte ELF32 executable: stored inline where inline_data is on.
	python3 -c 'import struct, sys
eh = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8) + struct.pack("<HHIIIIIHHHHHH",
	2, 3, 1, 0x08048054, 52, 0, 0, 52, 32, 1, 0, 0, 0)
ph = struct.pack("<8I", 1, 0, 0x08048000, 0x08048000, 88, 88, 5, 0x1000)
sys.stdout.buffer.write(eh + ph + b"\xcc" * 4)' >"$t/bin/tiny"
	chmod 755 "$t/bin/tiny"
	: >"$t/etc/empty"
	head -c 5000 /dev/urandom >"$t/etc/deep/er/still/data"
	truncate -s 3M "$t/etc/sparse" && printf 'end' >>"$t/etc/sparse"
	ln "$t/bin/busybox" "$t/bin/sh"				# hard link
	ln -s busybox "$t/bin/ls"
	ln -s /etc/shadow "$t/etc/evil"				# out of the image
	ln -s "$(printf '../%.0s' {1..40})usr/bin/env" "$t/etc/long"	# a slow symlink
	mkfifo "$t/dev/fifo"
	mknod "$t/dev/null" c 1 3
	mknod "$t/dev/sda" b 8 0
	mknod "$t/dev/big" c 300 70000				# new device encoding
	chmod 4755 "$t/bin/busybox"
	chown 100000:200000 "$t/bin/ping"			# high uid/gid bits
	setcap cap_net_raw+ep "$t/bin/ping"
	chmod 2755 "$t/bin/ping"
	chmod 0750 "$t/etc"
	setfattr -n user.vendor -v build-42 "$t/lib/libm.so.6"
	setfattr -n user.vendor -v tools "$t/bin/hello.sh"
	setfattr -n trusted.overlay.opaque -v y "$t/etc"
	chown 1234:5678 "$t/lib/libm.so.6"
	chown 100000:200000 "$t/usr/s390x/busybox"
	chown -h 42:42 "$t/bin/ls"
	find "$t" -depth -exec touch -h -d '2010-01-01 00:00:00' {} +
	touch -d '1999-12-31 23:59:59' "$t/lib/libc.so.6"
}

mk_tree "$WORK/tree"
(cd "$WORK/tree" && find . -mindepth 1 | sed 's#^\./##' | sort) >"$WORK/paths"
printf '%s\n' "" lost+found >>"$WORK/paths"
(cd "$WORK/tree" && find . -mindepth 1 -type d | sed 's#^\./##' | sort) >"$WORK/dirs"
printf '%s\n' "" lost+found >>"$WORK/dirs"

mk_img() {	# mk_img IMG SIZE mke2fs-options...
	local img=$1 size=$2; shift 2
	mkfs -q -F "$@" -d "$WORK/tree" "$img" "$size" >"$WORK/mkfs.txt" 2>&1 ||
		{ cat "$WORK/mkfs.txt" >&2; return 1; }
}

fsck_clean() { e2fsck -fn "$1" >"$WORK/fsck.txt" 2>&1 || { cat "$WORK/fsck.txt" >&2; return 1; }; }

# The superblock but for what signing must change.
sb() {
	dumpe2fs -h "$1" 2>/dev/null |
		grep -v -E '^(Free blocks|Free inodes|Last write time|Lifetime writes|Checksum):'
}

# debugfs's stat of an inode.  For a signed file, without its size, block
# count and map, checksum (and ctime when SOURCE_DATE_EPOCH set it).
istat() {	# istat IMG PATH [signed] [sde]
	debugfs -R "stat \"/$2\"" "$1" 2>/dev/null |
	if [ -n "${3:-}" ]; then
		sed -e '/^\(EXTENTS\|BLOCKS\):/,$d' -e '/^Inode checksum/d' \
		    -e 's/Size: [0-9]*$/Size: -/' -e 's/Blockcount: [0-9]*/Blockcount: -/' |
		if [ -n "${4:-}" ]; then grep -v '^ ctime:'; else cat; fi
	else
		cat
	fi
}

# Names, inode numbers, modes, owners of a directory, in on-disk order.
dls() {	# dls IMG DIR
	debugfs -R "ls -p \"/$2\"" "$1" 2>/dev/null | sed 's#/[0-9]*/$#/-/#'
}

same_inodes() {	# same_inodes IN OUT [sde]
	local p bad=0 s
	while IFS= read -r p; do
		s=
		is_signed "$p" && s=signed
		# an inline ELF leaves its inode when signed: checked on its own
		[ "$p" = bin/tiny ] && continue
		if ! diff <(istat "$1" "$p" $s ${3:-}) <(istat "$2" "$p" $s ${3:-}) >&2; then
			echo "inode of '$p' differs" >&2
			bad=1
		fi
	done <"$WORK/paths"
	while IFS= read -r p; do
		diff <(dls "$1" "$p") <(dls "$2" "$p") >&2 || { echo "directory '$p' differs" >&2; bad=1; }
	done <"$WORK/dirs"
	[ $bad = 0 ] && [ -n "$(istat "$2" bin/busybox)" ]
}

# The files of the output are those of the input, ELF files plus a trailer.
same_content() {	# same_content IN OUT
	local d=$WORK/rdump p bad=0
	rm -rf "$d" && mkdir -p "$d/in" "$d/out"
	debugfs -R "rdump / $d/in" "$1" >/dev/null 2>&1
	debugfs -R "rdump / $d/out" "$2" >/dev/null 2>&1
	[ "$(cd "$d/in" && find . | sort)" = "$(cd "$d/out" && find . | sort)" ] || return 1
	while IFS= read -r p; do
		[ -f "$d/in/$p" ] && [ ! -L "$d/in/$p" ] || continue
		if is_signed "$p"; then
			strip_sig "$d/in/$p" "$WORK/o"		# the modules come signed by Debian
			strip_sig "$d/out/$p" "$WORK/c"
			cmp -s "$WORK/o" "$WORK/c" && [ "$(sig_len "$d/out/$p")" -gt 0 ] &&
				! cmp -s "$d/in/$p" "$d/out/$p" ||
				{ echo "not original + trailer: $p" >&2; bad=1; }
		else
			cmp -s "$d/in/$p" "$d/out/$p" || { echo "changed: $p" >&2; bad=1; }
		fi
	done <"$WORK/paths"
	[ "$(cmp "$d/out/etc/sparse" <(head -c 3145728 /dev/zero; printf end) 2>&1)" = "" ] || bad=1
	[ $bad = 0 ]
}

same_files_img() {	# same_files_img IMG1 IMG2: the same file bytes
	local d=$WORK/rdump2
	rm -rf "$d" && mkdir -p "$d/a" "$d/b"
	debugfs -R "rdump / $d/a" "$1" >/dev/null 2>&1
	debugfs -R "rdump / $d/b" "$2" >/dev/null 2>&1
	same_files "$d/a" "$d/b" && [ -s "$d/a/bin/busybox" ]
}

quota_space() {	# quota_space IMG TYPE ID
	debugfs -R "list_quota $2" "$1" 2>/dev/null | awk -v id="$3" '$1 == id { print $2 }'
}

no_temp() { [ -z "$(ls -A "$(dirname "$1")" | grep fwsign)" ]; }
no_output() { [ ! -e "$1" ] && no_temp "$1"; }

check_signed() {	# check_signed NAME IN OUT [sde]
	local n=$1 in=$2 out=$3
	check "$n: e2fsck -fn clean" fsck_clean "$out"
	check "$n: superblock the same but for counts and write time" diff <(sb "$in") <(sb "$out")
	check "$n: UUID and features kept" [ "$(sb "$in" | grep -E '^(Filesystem UUID|Filesystem features):')" = \
		"$(sb "$out" | grep -E '^(Filesystem UUID|Filesystem features):')" ]
	check "$n: every inode (number, mode, owner, times, xattrs, links) kept" same_inodes "$in" "$out" ${4:-}
	check "$n: content is the original, ELF files plus a trailer" same_content "$in" "$out"
	check "$n: capability still there" sh -c "debugfs -R 'stat /bin/ping' '$out' 2>/dev/null | grep -q security.capability"
	expect_exit 0 "$n: verify the output" "$FWSIGN" verify "$out" --cert $K.crt
	expect_exit 1 "$n: verify the input finds unsigned files" "$FWSIGN" verify "$in" --cert $K.crt
	check "$n: no temporary left" no_temp "$out"
}

shadow_before=$(stat -c '%s %Y %Z' /etc/shadow)
for v in "ext2:-t ext2 -b 1024 -I 128" \
	 "ext3:-t ext3 -b 1024" \
	 "ext4:-t ext4" \
	 "ext4-inline:-t ext4 -b 1024 -O inline_data,^64bit -m 0" \
	 "ext4-quota:-t ext4 -b 1024 -O quota,project"; do
	n=${v%%:*}
	# shellcheck disable=SC2086
	mk_img "$WORK/$n.img" 20M ${v#*:}
	if [ $n = ext4-quota ]; then
		# a project, and quota files that match (mke2fs -d leaves them off)
		debugfs -w -R "set_inode_field /bin/ping projid 7" "$WORK/$n.img" >/dev/null 2>&1
		e2fsck -fy "$WORK/$n.img" >/dev/null 2>&1
		check "$n: input e2fsck clean" fsck_clean "$WORK/$n.img"
	fi
	before=$(sha256sum <"$WORK/$n.img")
	expect_exit 0 "$n: sign" "$FWSIGN" sign "$WORK/$n.img" -o "$WORK/$n-out.img" --key $K.key --cert $K.crt
	check_signed "$n" "$WORK/$n.img" "$WORK/$n-out.img"
	if [ $n = ext4-inline ]; then
		check "$n: the tiny ELF was inline" sh -c "debugfs -R 'stat /bin/tiny' '$WORK/$n.img' 2>/dev/null | grep -q '^Size of inline data: 88'"
		check "$n: signed, it moved to a block of its own" sh -c "debugfs -R 'stat /bin/tiny' '$WORK/$n-out.img' 2>/dev/null | grep -q '^EXTENTS:' &&
			! debugfs -R 'stat /bin/tiny' '$WORK/$n-out.img' 2>/dev/null | grep -q 'inline data'"
	fi
	if [ $n = ext4-quota ]; then
		# bin/ping grows by a block: its user, group and project pay for it
		for q in "user 100000" "group 200000" "project 7"; do
			check "$n: $q quota counts the new block" [ \
				$(( $(quota_space "$WORK/$n-out.img" $q) - $(quota_space "$WORK/$n.img" $q) )) -gt 0 ]
		done
	fi
	check "$n: report names the format" grep -q "ext4" <("$FWSIGN" info "$WORK/$n.img")
	check "$n: input unchanged" [ "$before" = "$(sha256sum <"$WORK/$n.img")" ]
	check "$n: output as big as the input" [ "$(stat -c %s "$WORK/$n.img")" = "$(stat -c %s "$WORK/$n-out.img")" ]
	# Without SOURCE_DATE_EPOCH nothing depends on the clock.
	check "$n: write time kept" [ "$(dumpe2fs -h "$WORK/$n.img" 2>/dev/null | grep '^Last write time:')" = \
		"$(dumpe2fs -h "$WORK/$n-out.img" 2>/dev/null | grep '^Last write time:')" ]
	"$FWSIGN" sign "$WORK/$n.img" -o "$WORK/$n-again.img" --key $K.key --cert $K.crt --jobs 1 >/dev/null 2>&1
	check "$n: signing twice gives the same bytes" cmp -s "$WORK/$n-out.img" "$WORK/$n-again.img"
	# Re-signing a signed image changes nothing; a shorter trailer shrinks files.
	"$FWSIGN" sign "$WORK/$n-out.img" -o "$WORK/$n-re.img" --key $K.key --cert $K.crt >/dev/null 2>&1
	check "$n: re-signing the output changes nothing" cmp -s "$WORK/$n-out.img" "$WORK/$n-re.img"
	"$FWSIGN" sign "$WORK/$n.img" -o "$WORK/$n-big.img" --key "$WORK/keys/big.key" --cert "$WORK/keys/big.crt" >/dev/null 2>&1
	"$FWSIGN" sign "$WORK/$n-big.img" -o "$WORK/$n-small.img" --key $K.key --cert $K.crt >/dev/null 2>&1
	check "$n: a 4096-bit trailer replaced by a 2048-bit one: e2fsck clean" fsck_clean "$WORK/$n-small.img"
	check "$n: ... and the same files as signing once" same_files_img "$WORK/$n-out.img" "$WORK/$n-small.img"
	check "$n: ... and the blocks of the longer trailers freed" [ \
		"$(dumpe2fs -h "$WORK/$n-out.img" 2>/dev/null | grep '^Free blocks')" = \
		"$(dumpe2fs -h "$WORK/$n-small.img" 2>/dev/null | grep '^Free blocks')" ]
	rm -f "$WORK/$n-again.img" "$WORK/$n-re.img" "$WORK/$n-big.img" "$WORK/$n-small.img"
done
check "the symlink to /etc/shadow was never followed" [ "$shadow_before" = "$(stat -c '%s %Y %Z' /etc/shadow)" ]

# SOURCE_DATE_EPOCH: signed files get it as ctime, the superblock as write
# time; mtimes stay; the same bytes whatever the thread count.
I=$WORK/ext4.img
SOURCE_DATE_EPOCH=1700000000 "$FWSIGN" sign "$I" -o "$WORK/sde1.img" --key $K.key --cert $K.crt --jobs 1 >/dev/null
SOURCE_DATE_EPOCH=1700000000 "$FWSIGN" sign "$I" -o "$WORK/sde2.img" --key $K.key --cert $K.crt --jobs 2 >/dev/null
check "SOURCE_DATE_EPOCH: same bytes twice" cmp -s "$WORK/sde1.img" "$WORK/sde2.img"
check_signed sde "$I" "$WORK/sde1.img" sde
check "SOURCE_DATE_EPOCH: ctime of a signed file" sh -c "debugfs -R 'stat /lib/libc.so.6' '$WORK/sde1.img' 2>/dev/null | grep -q '^ ctime: 0x6553f100:00000000'"
check "SOURCE_DATE_EPOCH: ctime of other files kept" [ "$(istat "$I" etc/passwd)" = "$(istat "$WORK/sde1.img" etc/passwd)" ]
check "SOURCE_DATE_EPOCH: superblock write time" sh -c "dumpe2fs -h '$WORK/sde1.img' 2>/dev/null | grep -q \"^Last write time: *$(LC_ALL=C TZ=UTC date -d @1700000000 '+%a %b %e %H:%M:%S %Y')\""
SOURCE_DATE_EPOCH=1700000000 "$FWSIGN" sign "$WORK/ext2.img" -o "$WORK/sde-ext2.img" --key $K.key --cert $K.crt >/dev/null
check "SOURCE_DATE_EPOCH with 128-byte inodes" sh -c "debugfs -R 'stat /lib/libc.so.6' '$WORK/sde-ext2.img' 2>/dev/null | grep -q '^ctime: 0x6553f100'"
check "SOURCE_DATE_EPOCH with 128-byte inodes: e2fsck clean" fsck_clean "$WORK/sde-ext2.img"
expect_exit 2 "a bad SOURCE_DATE_EPOCH" env SOURCE_DATE_EPOCH=soon "$FWSIGN" sign "$I" -o "$WORK/sde3.img" --key $K.key --cert $K.crt
check "a bad SOURCE_DATE_EPOCH: no output" [ ! -e "$WORK/sde3.img" ]

# As nobody: the same bytes as root's.
if command -v setpriv >/dev/null; then
	mkdir -p "$WORK/u"
	cp "$I" "$WORK/u/in.img"
	cp $K.key $K.crt "$WORK/u/"
	chown -R nobody:nogroup "$WORK/u"
	expect_exit 0 "sign as nobody" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env SOURCE_DATE_EPOCH=1700000000 "$FWSIGN" sign "$WORK/u/in.img" -o "$WORK/u/out.img" \
		--key "$WORK/u/vendor.key" --cert "$WORK/u/vendor.crt"
	check "nobody: the same image as root's" cmp -s "$WORK/sde1.img" "$WORK/u/out.img"
else
	fail "setpriv missing (util-linux)"
fi

# Refusals: nothing is written.
expect_exit 2 "--in-place" "$FWSIGN" sign "$I" --in-place --key $K.key --cert $K.crt
check "--in-place: says why" grep -q 'images are never edited in place: give an output file (see -o OUTPUT, --in-place)' "$WORK/err.txt"
size=$(stat -c %s "$I")
expect_exit 3 "--max-size below the image" "$FWSIGN" sign "$I" -o "$WORK/max.img" --max-size $((size - 1)) --key $K.key --cert $K.crt
check "--max-size: says by how much" grep -q 'exceeds the size limit .* by 1 bytes (see --max-size)' "$WORK/err.txt"
check "--max-size: no output, no temporary" no_output "$WORK/max.img"
expect_exit 0 "--max-size of the image" "$FWSIGN" sign "$I" -o "$WORK/max.img" --max-size "$size" --key $K.key --cert $K.crt

# A full image: the number of blocks missing, no output.
mkdir -p "$WORK/full/t"
cp "$F/amd64/bin/busybox" "$WORK/full/t/bb1"
cp "$F/arm64/bin/busybox" "$WORK/full/t/bb2"
cp "$F/s390x/bin/busybox" "$WORK/full/t/bb3"
for a in amd64 arm64 s390x; do		# unsigned: every file grows
	for l in libm.so.6 libresolv.so.2 libutil.so.1 libanl.so.1 libnsl.so.1; do
		cp "$F/$a/lib/$l" "$WORK/full/t/$a-$l"
	done
done
mkfs -q -F -t ext4 -b 1024 -m 0 -d "$WORK/full/t" "$WORK/full/room.img" 16M >/dev/null
"$FWSIGN" sign "$WORK/full/room.img" -o "$WORK/full/room-out.img" --key $K.key --cert $K.crt >/dev/null
fb() { dumpe2fs -h "$1" 2>/dev/null | awk '/^Free blocks:/ { print $3 }'; }
need=$(( $(fb "$WORK/full/room.img") - $(fb "$WORK/full/room-out.img") ))
# No block free, then a few: those are used, the rest is missing.
for want in 0 3; do
	for spare in $want $((want + 2)) $((want + 4)) $((want + 8)) $((want + 16)); do
		rm -f "$WORK/full/t/filler" "$WORK/full/full.img"
		head -c $(( ($(fb "$WORK/full/room.img") - spare) * 1024 )) /dev/zero |
			tr '\0' x >"$WORK/full/t/filler"
		mkfs -q -F -t ext4 -b 1024 -m 0 -d "$WORK/full/t" "$WORK/full/full.img" 16M \
			>/dev/null 2>&1 && break
	done
	free=$(fb "$WORK/full/full.img")
	n="full image ($free blocks free)"
	check "$n: signing needs more than is free ($need > $free)" [ "$need" -gt "$free" ]
	expect_exit 5 "$n" "$FWSIGN" sign "$WORK/full/full.img" -o "$WORK/full/out.img" --key $K.key --cert $K.crt
	check "$n: one line naming the image and the blocks missing" [ "$ERR" = \
		"fwsign: $WORK/full/full.img: not enough free space: the signed files need at least $((need - free)) more blocks of 1024 bytes" ]
	check "$n: no output, no temporary" no_output "$WORK/full/out.img"
done

# Bad images: one clear error, no output, no crash (also under ASan).
head -c 3000000 "$I" >"$WORK/trunc.img"
expect_exit 3 "truncated image" "$FWSIGN" sign "$WORK/trunc.img" -o "$WORK/bad-out.img" --key $K.key --cert $K.crt
check "truncated image: says so" grep -q "^fwsign: $WORK/trunc.img: truncated: 3000000 bytes" "$WORK/err.txt"
cp "$I" "$WORK/csum.img"
printf '\x01' | dd of="$WORK/csum.img" bs=1 seek=$((1024 + 0)) conv=notrunc status=none	# s_inodes_count
expect_exit 3 "superblock checksum wrong" "$FWSIGN" sign "$WORK/csum.img" -o "$WORK/bad-out.img" --key $K.key --cert $K.crt
check "superblock checksum wrong: says so" grep -q "^fwsign: $WORK/csum.img: not a usable ext2/3/4 image: .*[Ss]uperblock" "$WORK/err.txt"
cp "$WORK/ext2.img" "$WORK/corrupt.img"
printf '\0\0\0\0' | dd of="$WORK/corrupt.img" bs=1 seek=$((1024 + 32)) conv=notrunc status=none	# s_blocks_per_group
expect_exit 3 "corrupt superblock" "$FWSIGN" sign "$WORK/corrupt.img" -o "$WORK/bad-out.img" --key $K.key --cert $K.crt
check "corrupt superblock: says so" grep -q "^fwsign: $WORK/corrupt.img: not a usable ext2/3/4 image: The ext2 superblock is corrupt" "$WORK/err.txt"
cp "$WORK/ext2.img" "$WORK/gd.img"
dd if=/dev/zero of="$WORK/gd.img" bs=1024 seek=2 count=1 conv=notrunc status=none	# group descriptors
expect_exit 3 "group descriptors zeroed" "$FWSIGN" sign "$WORK/gd.img" -o "$WORK/bad-out.img" --key $K.key --cert $K.crt
check "group descriptors zeroed: names the image" grep -q "^fwsign: $WORK/gd.img: " "$WORK/err.txt"
# A directory whose extent header is corrupt: libext2fs would list it as
# empty; fwsign says so, during the walk, while the copy has begun.
cp "$I" "$WORK/dirx.img"
debugfs -w -R "sif /etc block[0] 0x1234" "$WORK/dirx.img" >/dev/null 2>&1
expect_exit 3 "corrupt directory extent header" "$FWSIGN" sign "$WORK/dirx.img" -o "$WORK/bad-out.img" --key $K.key --cert $K.crt
check "corrupt directory extent header: says so" grep -q "^fwsign: $WORK/dirx.img: etc: cannot read directory: Corrupt extent header" "$WORK/err.txt"
check "bad images: no output, no temporary" no_output "$WORK/bad-out.img"

# A directory linked twice (a loop): a warning, the rest signed.
cp "$WORK/ext2.img" "$WORK/loop.img"
debugfs -w -R "ln / /etc/deep/up" "$WORK/loop.img" >/dev/null 2>&1
expect_exit 0 "directory loop" "$FWSIGN" sign "$WORK/loop.img" -o "$WORK/loop-out.img" --key $K.key --cert $K.crt
check "directory loop: a warning" grep -q "warning: etc/deep/up: directory inode 2 seen twice" "$WORK/err.txt"
expect_exit 0 "directory loop: verify" "$FWSIGN" verify "$WORK/loop-out.img" --cert $K.crt

# Holes and unwritten extents in an ELF file read as zeros, whatever the
# blocks under them hold; a deep extent tree and a block map with a gap.
mkdir -p "$WORK/holes/t"
cat "$F/amd64/lib/libm.so.6" >"$WORK/holes/t/sparse.so"
truncate -s +300K "$WORK/holes/t/sparse.so"
cat "$F/amd64/lib/libutil.so.1" >>"$WORK/holes/t/sparse.so"
for opts in "-t ext4 -b 1024" "-t ext2 -b 1024 -I 128"; do
	H=$WORK/holes/${opts:3:4}
	# shellcheck disable=SC2086
	mkfs -q -F $opts -d "$WORK/holes/t" "$H.img" 8M >/dev/null 2>&1
	if [ "${opts:3:4}" = ext4 ]; then
		# blocks 900-950 of the file, in its hole: allocated, unwritten,
		# and full of junk on disk
		debugfs -w -R "fallocate /sparse.so 900 950" "$H.img" >/dev/null 2>&1
		pb=$(debugfs -R "stat /sparse.so" "$H.img" 2>/dev/null | grep -o '950\[u\]):[0-9]*' | cut -d: -f2)
		check "holes: an unwritten extent in the file" [ -n "$pb" ]
		head -c $((51 * 1024)) /dev/urandom | dd of="$H.img" bs=1024 seek="${pb:-0}" conv=notrunc status=none
	fi
	expect_exit 0 "holes ($opts): sign" "$FWSIGN" sign "$H.img" -o "$H-out.img" --key $K.key --cert $K.crt
	check "holes ($opts): e2fsck clean" fsck_clean "$H-out.img"
	debugfs -R "dump /sparse.so $H-out.so" "$H-out.img" >/dev/null 2>&1
	strip_sig "$H-out.so" "$H-strip.so"
	check "holes ($opts): the original bytes, zeros in the holes, and a trailer" \
		cmp -s "$WORK/holes/t/sparse.so" "$H-strip.so"
	check "holes ($opts): signed" [ "$(sig_len "$H-out.so")" -gt 0 ]
done

# Random damage to the metadata of small images: errors, never a crash.
mkdir -p "$WORK/fz/t" && cp "$F/s390x/lib/libutil.so.1" "$F/s390x/lib/libdl.so.2" "$WORK/fz/t/" &&
	mkdir -p "$WORK/fz/t/d/e" && cp "$F/s390x/lib/librt.so.1" "$WORK/fz/t/d/e/" && ln -s libdl.so.2 "$WORK/fz/t/l"
crashes=0
for opts in "-t ext4 -b 1024 -O inline_data,^has_journal" "-t ext2 -b 1024 -I 128"; do
	# shellcheck disable=SC2086
	mkfs -q -F $opts -d "$WORK/fz/t" "$WORK/fz/base.img" 1M >/dev/null 2>&1
	for seed in $(seq 1 40); do
		cp "$WORK/fz/base.img" "$WORK/fz/f.img"
		# a few random bytes in the first 64 KiB: superblock, descriptors,
		# bitmaps, inode table, directories
		python3 - "$WORK/fz/f.img" "$seed" <<-'EOF'
		import random, sys
		r = random.Random(int(sys.argv[2]))
		with open(sys.argv[1], "r+b") as f:
		    for _ in range(r.randint(1, 8)):
		        f.seek(r.randrange(1024, 65536)); f.write(bytes([r.randrange(256)]))
		EOF
		rm -f "$WORK/fz/o.img"
		"$FWSIGN" sign "$WORK/fz/f.img" -o "$WORK/fz/o.img" --key $K.key --cert $K.crt >/dev/null 2>"$WORK/fz/err"
		rc=$?
		if [ $rc -gt 5 ] || grep -q 'Sanitizer\|runtime error' "$WORK/fz/err"; then
			crashes=$((crashes + 1))
			cp "$WORK/fz/f.img" "/tmp/fwsign-ext4-crash-$seed.img"
			echo "crash (exit $rc) on seed $seed ($opts): $(head -3 "$WORK/fz/err")" >&2
		fi
	done
done
check "damaged images: no crash" [ $crashes = 0 ]
done_tests
