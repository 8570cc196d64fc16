#!/bin/bash
# squashfs 4.0 in, squashfs 4.0 out, judged by squashfs-tools: for gzip, xz
# (with BCJ filters), zstd and lz4, 128 KiB and 4 KiB blocks, with and
# without fragments, `unsquashfs -s` and `unsquashfs -lln` of input and
# output agree on everything but the signed files' sizes (and directory
# sizes, see listing); the output
# extracts cleanly with owners, modes, times, xattrs (user, trusted,
# security), hard links, symlinks, devices and fifos as in the input; a
# signed file is its original bytes plus a trailer and everything else is
# byte-identical; fwsign verify accepts it; the same run twice, or as
# nobody, gives the same bytes; an image with nothing to sign comes out
# byte-identical; bad images are refused in one line, exit 3.
. "$(dirname "$0")/lib.sh"
need_fixtures
# The trees hold devices, foreign owners and trusted.* xattrs.
[ "$(id -u)" -eq 0 ] || { fail "needs root to build its test images"; done_tests; }
key vendor --rsa 2048
K=$WORK/keys/vendor
F=$FIXTURES

mk_tree() {	# mk_tree DIR: binaries of three architectures and the odd bits
	local t=$1
	mkdir -p "$t/bin" "$t/usr/bin" "$t/lib/modules" "$t/etc" "$t/dev" \
		"$t/odd dir" "$t/empty"
	cp "$F/amd64/bin/busybox" "$t/bin/busybox"
	cp "$F/arm64/bin/busybox" "$t/usr/bin/busybox-arm64"
	cp "$F/s390x/bin/busybox" "$t/usr/bin/busybox-s390x"
	cp "$F/amd64/lib/libanl.so.1" "$F/amd64/lib/libdl.so.2" "$t/lib/"
	cp "$(find "$F/amd64/modules" -name '*.ko' | sort | head -1)" "$t/lib/modules/a.ko"
	cp "$(find "$F/arm64/modules" -name '*.ko' | sort | tail -1)" "$t/lib/modules/arm64.ko"
	cp "$t/lib/modules/a.ko" "$t/lib/modules/copy-of-a.ko"	# a duplicate
	cp "$F/amd64/lib/libanl.so.1" "$t/odd dir/lib with space.so"
	cp "$F/amd64/lib/libdl.so.2" "$t/odd dir/$(printf 'b\xc3\xa9')"
	printf '#!/bin/sh\necho hello\n' >"$t/bin/hello.sh"
	chmod 755 "$t/bin/hello.sh"
	printf 'root:x:0:0::/root:/bin/sh\n' >"$t/etc/passwd"
	cp "$t/etc/passwd" "$t/etc/passwd-"		# a duplicate, not ELF
	seq 1 20000 >"$t/etc/numbers"
	{ head -c 65536 /dev/zero; echo end; } >"$t/etc/holes"	# sparse blocks
	: >"$t/etc/empty-file"
	ln "$t/bin/busybox" "$t/bin/sh"			# hard link
	ln "$t/etc/numbers" "$t/etc/numbers-link"
	ln -s busybox "$t/bin/ls"
	ln -s /etc/shadow "$t/etc/evil"			# out of the image
	ln -s ../../../../../usr/bin/env "$t/bin/escape"
	mkfifo "$t/dev/fifo"
	mknod "$t/dev/null" c 1 3
	mknod "$t/dev/sda" b 8 0
	chown 1234:5678 "$t/lib/libdl.so.2"
	chown -h 42:42 "$t/bin/ls"
	chown 7:7 "$t/etc/passwd"
	chmod 4755 "$t/bin/busybox"
	setcap cap_net_raw+ep "$t/usr/bin/busybox-arm64"
	setfattr -n user.vendor -v build-42 "$t/lib/libanl.so.1"
	setfattr -n user.vendor -v build-42 "$t/etc/numbers"
	setfattr -n trusted.overlay.opaque -v y "$t/etc"
	setfattr -n security.selinux -v system_u:object_r:bin_t:s0 "$t/bin/hello.sh"
	mkdir "$t/many"	# a listing over 8 KiB: headers and an index
	for i in $(seq 1 400); do echo "$i" >"$t/many/a-rather-long-file-name-number-$i"; done
	cp "$F/amd64/lib/libanl.so.1" "$t/many/zz-last.so"
	touch -h -d '2001-02-03 04:05:06' "$t/bin/ls"
	find "$t" -depth ! -path "$t/bin/ls" -exec touch -h -d '2010-01-01 00:00:00' {} +
	touch -d '1999-12-31 23:59:59' "$t/lib/libanl.so.1"
}

# A tree with nothing to sign: it must come out byte-identical.
mk_plain() {
	local t=$1
	mkdir -p "$t/etc/sub" "$t/dev" "$t/share"
	for i in $(seq 1 40); do seq 1 $((i * 150)) >"$t/share/f$i"; done
	seq 1 50000 >"$t/share/big"
	mkdir "$t/many"
	for i in $(seq 1 500); do echo "$i" >"$t/many/a-rather-long-file-name-number-$i"; done
	cp "$t/share/f3" "$t/share/f3-copy"
	ln "$t/share/f7" "$t/etc/f7-link"
	printf '#!/bin/sh\nexit 0\n' >"$t/etc/run.sh"
	ln -s ../share/big "$t/etc/sub/big"
	mkfifo "$t/dev/fifo"
	mknod "$t/dev/zero" c 1 5
	chown 3:4 "$t/share/f1"
	setfattr -n user.a -v b "$t/share/f2"
	setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$t/share/f4"
	# fixed times, so that its images come from the test cache (mk_image_cached)
	find "$t" -depth ! -path "$t/share/f5" -exec touch -h -d '2020-02-02 02:02:02' {} +
	touch -d '2015-05-05 05:05:05' "$t/share/f5"
}

# Everything of a tree that mksquashfs reads, hashed: names, types, modes,
# owners, times, sizes, link targets, device numbers, which names are
# hard links of each other (not the inode numbers: they change from run
# to run), file bytes and xattrs.
tree_key() {	# tree_key DIR
	(cd "$1" && find . -printf '%y %m %U:%G %T@ %s %n %l %p\n' | sort &&
		find . \( -type b -o -type c \) -print0 | sort -z |
			xargs -0r stat -c '%t:%T %n' &&
		find . ! -type d -links +1 -printf '%i %p\n' | sort -n |
			awk '{ i = $1; sub(/^[0-9]+ /, ""); if (i != last) printf "\n"; printf "%s|", $0; last = i }' &&
		find . -type f -print0 | sort -z | xargs -0 sha256sum &&
		find . -print0 | sort -z | xargs -0 getfattr -h -d -m - -e hex 2>/dev/null) |
		sha256sum
}

# mksquashfs 4.5.1 now and then writes a broken image with
# -always-use-fragments and small blocks; only judge what it got right.
mk_image() {	# mk_image TREE OUT options... (TREE in $WORK)
	local tree=$1 out=$2; shift 2
	mk_image_out "$(basename "$tree")" "$@" >"$out"
}
# The same, the image kept in the test cache (keyed by tree_key and the
# options): the ASan+UBSan pass and later runs make none (mksquashfs was
# 60% of this test's CPU).  For the trees made the same every run (t, p),
# not those with random bytes or fresh times (their keys never recur).
mk_image_cached() {	# mk_image_cached TREE OUT options...
	local tree=$1 out=$2; shift 2
	cached "$out" "$(tree_key "$tree")" mk_image_out "$(basename "$tree")" "$@"
}
mk_image_out() {	# mk_image_out NAME options...: an image of $WORK/NAME on stdout
	local name=$1 try; shift
	for try in 1 2 3 4; do
		rm -f "$WORK/mk.sqfs"
		mksquashfs "$WORK/$name" "$WORK/mk.sqfs" -noappend -quiet -no-progress \
			-mkfs-time 1700000000 "$@" >/dev/null || return 1
		rm -rf "$WORK/probe"
		unsquashfs -d "$WORK/probe" "$WORK/mk.sqfs" >/dev/null 2>&1 &&
			cat "$WORK/mk.sqfs" && return 0
	done
	return 1
}

# -lln with the sizes of the given paths (one per line in $2) masked, and
# those of directories: a signed file's inode grows by 4 bytes a block, so
# later inodes move, and a listing needs a new header where its entries'
# inodes now straddle a metadata block.
listing() {	# listing IMAGE MASKFILE
	unsquashfs -lln "$1" | python3 -c '
import sys
mask = set(l.rstrip("\n") for l in open(sys.argv[1]))
for line in sys.stdin:
    f = line.rstrip("\n").split(None, 5)
    if len(f) == 6 and (f[5].split(" -> ")[0] in mask or f[0][0] == "d"):
        f[2] = "SIZE"
    print(" ".join(f))' "$2"
}

# tree_meta with the xattrs in path order, whatever order readdir gives.
meta_sorted() {	# meta_sorted DIR
	(cd "$1" && find . -printf '%y %m %U:%G %T@ %n %l %p\n' | sort)
	(cd "$1" && find . -print0 | sort -z | xargs -0 getfattr -h -d -m - \
		--absolute-names 2>/dev/null | grep -v '^$' || true)
}

changed_files() {	# changed_files DIR1 DIR2: regular files whose bytes differ
	(cd "$1" && find . -type f | sort) | while IFS= read -r f; do
		cmp -s "$1/$f" "$2/$f" || echo "squashfs-root/${f#./}"
	done
}

check_image() {	# check_image NAME IN.sqfs OUT.sqfs
	local n=$1 in=$2 out=$3 f
	rm -rf "$WORK/xi" "$WORK/xo"
	unsquashfs -d "$WORK/xi" "$in" >/dev/null 2>&1
	check "$n: output extracts cleanly" unsquashfs -d "$WORK/xo" "$out" >"$WORK/unsq.txt" 2>&1
	changed_files "$WORK/xi" "$WORK/xo" >"$WORK/changed"
	check "$n: unsquashfs -s agrees" diff <(unsquashfs -s "$in" | grep -v -e '^Found' -e '^Filesystem size' -e '^Number of fragments') \
		<(unsquashfs -s "$out" | grep -v -e '^Found' -e '^Filesystem size' -e '^Number of fragments')
	check "$n: unsquashfs -lln agrees but for signed sizes" \
		diff <(listing "$in" "$WORK/changed") <(listing "$out" "$WORK/changed")
	check "$n: metadata, xattrs, links identical" diff <(tree_meta "$WORK/xi") <(tree_meta "$WORK/xo")
	check "$n: the signed files are the ELF ones" \
		[ "$(wc -l <"$WORK/changed")" -eq "$(grep -c '"action":"\(sign\|re-sign\)"' "$WORK/report.json")" ]
	check "$n: every ELF was signed" [ "$(wc -l <"$WORK/changed")" -ge 10 ]
	while IFS= read -r f; do
		f=${f#squashfs-root/}
		strip_sig "$WORK/xo/$f" "$WORK/c"
		strip_sig "$WORK/xi/$f" "$WORK/o"	# modules arrive signed by Debian
		cmp -s "$WORK/c" "$WORK/o" && [ "$(sig_len "$WORK/xo/$f")" -gt 0 ] ||
			fail "$n: $f is not its original bytes plus a trailer"
	done <"$WORK/changed"
	check "$n: capability kept" sh -c "getcap '$WORK/xo/usr/bin/busybox-arm64' | grep -q cap_net_raw"
	check "$n: setuid kept" [ -u "$WORK/xo/bin/busybox" ]
	check "$n: device kept" [ "$(stat -c '%t:%T' "$WORK/xo/dev/sda")" = 8:0 ]
	check "$n: hard link kept" [ "$(stat -c %i "$WORK/xo/bin/busybox")" = "$(stat -c %i "$WORK/xo/bin/sh")" ]
	check "$n: symlink out kept" [ "$(readlink "$WORK/xo/etc/evil")" = /etc/shadow ]
	expect_exit 0 "$n: verify" "$FWSIGN" verify "$out" --cert $K.crt
	# the kernel is the other judge, where this machine lets us mount
	if [ "$CAN_MOUNT" = 1 ]; then
		if mount -t squashfs -o loop,ro "$out" "$WORK/mnt" 2>/dev/null; then
			pass
			check "$n: kernel sees what unsquashfs sees" \
				diff <(meta_sorted "$WORK/mnt") <(meta_sorted "$WORK/xo")
			check "$n: kernel reads the same bytes" same_files "$WORK/mnt" "$WORK/xo"
			umount "$WORK/mnt"
		else
			fail "$n: the kernel does not mount the output"
		fi
	fi
}

mk_tree "$WORK/t"
mk_plain "$WORK/p"
# Can this machine mount a squashfs (root, loop devices)?
CAN_MOUNT=0
mkdir -p "$WORK/mnt"
trap 'umount "$WORK/mnt" 2>/dev/null; rm -rf "$WORK"' EXIT
if [ "$(id -u)" = 0 ] && mksquashfs "$WORK/p" "$WORK/m0.sqfs" -quiet -no-progress >/dev/null 2>&1 &&
	mount -t squashfs -o loop,ro "$WORK/m0.sqfs" "$WORK/mnt" 2>/dev/null; then
	umount "$WORK/mnt"
	CAN_MOUNT=1
else
	echo "note: cannot mount squashfs here; the kernel checks are skipped" >&2
fi
mkdir -m 1777 "$WORK/u"
cp $K.key $K.crt "$WORK/u/" && chmod 644 "$WORK/u/vendor.key"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

i=0
while IFS='|' read -r name same opts; do
	[ -n "$name" ] || continue
	i=$((i + 1))
	img=$WORK/in$i.sqfs out=$WORK/out$i.sqfs
	# shellcheck disable=SC2086
	if ! mk_image_cached "$WORK/t" "$img" $opts; then
		fail "$name: mksquashfs $opts failed"
		continue
	fi
	before=$(sha256sum <"$img")
	expect_exit 0 "$name: sign" "$FWSIGN" sign "$img" -o "$out" --key $K.key --cert $K.crt --json
	cp "$WORK/out.txt" "$WORK/report.json"
	check "$name: format is squashfs" grep -q '"format":"squashfs"' "$WORK/report.json"
	check_image "$name" "$img" "$out"
	check "$name: input unchanged" [ "$before" = "$(sha256sum <"$img")" ]
	SOURCE_DATE_EPOCH=1234 "$FWSIGN" sign "$img" -o "$out.2" --key $K.key --cert $K.crt --jobs 1 >/dev/null
	check "$name: reproducible" cmp -s "$out" "$out.2"
	if [ $((i % 3)) -eq 1 ]; then
		cp "$img" "$WORK/u/in.sqfs" && chmod 644 "$WORK/u/in.sqfs"
		rm -f "$WORK/u/out.sqfs"
		expect_exit 0 "$name: sign as nobody" as_nobody "$FWSIGN" sign "$WORK/u/in.sqfs" \
			-o "$WORK/u/out.sqfs" --key "$WORK/u/vendor.key" --cert "$WORK/u/vendor.crt"
		check "$name: nobody's output is root's" cmp -s "$out" "$WORK/u/out.sqfs"
	fi
	# nothing to sign: the very same bytes (but where mksquashfs's own
	# image would not mount, see xz_create)
	# shellcheck disable=SC2086
	if [ "$same" = same ] && mk_image_cached "$WORK/p" "$WORK/plain.sqfs" $opts; then
		rm -f "$WORK/plain-out.sqfs"
		expect_exit 0 "$name: sign a plain image" "$FWSIGN" sign "$WORK/plain.sqfs" \
			-o "$WORK/plain-out.sqfs" --key $K.key --cert $K.crt
		check "$name: nothing signed, same bytes" cmp "$WORK/plain.sqfs" "$WORK/plain-out.sqfs"
	fi
	rm -f "$out.2" "$img" "$out"
done <<'EOF'
gzip 128K|same|-comp gzip
gzip 4K always-fragments|same|-comp gzip -b 4K -always-use-fragments
xz bcj x86,arm|same|-comp xz -Xbcj x86,arm
xz 4K no-fragments|same|-comp xz -b 4K -no-fragments
xz 4K bcj arm always-fragments|mountable|-comp xz -b 4K -Xbcj arm -always-use-fragments -no-exports
zstd 128K always-fragments|same|-comp zstd -always-use-fragments
zstd 4K no-duplicates|same|-comp zstd -b 4K -no-duplicates
lz4 128K no-fragments|same|-comp lz4 -no-fragments
lz4 4K hc|same|-comp lz4 -b 4K -Xhc
gzip uncompressed tables|same|-comp gzip -noI -noD -noF -noX -Xcompression-level 3
EOF

# --max-size is honoured before anything appears; --in-place is refused.
mk_image_cached "$WORK/t" "$WORK/m.sqfs" -comp zstd
size=$(stat -c %s "$WORK/m.sqfs")
expect_exit 3 "max-size" "$FWSIGN" sign "$WORK/m.sqfs" -o "$WORK/m-out.sqfs" --key $K.key --cert $K.crt --max-size "$size"
check "max-size: says so" grep -q 'exceeds the size limit .*(see --max-size)' "$WORK/err.txt"
check "max-size: no output" [ ! -e "$WORK/m-out.sqfs" ]
check "max-size: no temporary" [ -z "$(ls -A "$WORK" | grep '\.fwsign-')" ]

# Re-signing with the same key writes the same bytes: the blocks past the
# bytes kept are compared with the input's, not taken as new.  Many blocks
# to compress (4 KiB): --jobs 1 and 3 agree (the window of blocks
# compressed at once is passed many times), and nothing is left beside
# the output (what waits for commit waits in a nameless file).
mk_image_cached "$WORK/t" "$WORK/rs.sqfs" -comp gzip -b 4K
mkdir "$WORK/rs"
expect_exit 0 "re-sign: sign" "$FWSIGN" sign "$WORK/rs.sqfs" -o "$WORK/rs/1.sqfs" --key $K.key --cert $K.crt --jobs 3
expect_exit 0 "re-sign: again" "$FWSIGN" sign "$WORK/rs/1.sqfs" -o "$WORK/rs/2.sqfs" --key $K.key --cert $K.crt
check "re-sign: same key, same bytes" cmp -s "$WORK/rs/1.sqfs" "$WORK/rs/2.sqfs"
expect_exit 0 "re-sign: jobs 1" "$FWSIGN" sign "$WORK/rs.sqfs" -o "$WORK/rs/3.sqfs" --key $K.key --cert $K.crt --jobs 1
check "re-sign: --jobs 1 and 3 agree" cmp -s "$WORK/rs/1.sqfs" "$WORK/rs/3.sqfs"
check "re-sign: nothing else beside the outputs" [ "$(ls -A "$WORK/rs" | tr '\n' ' ')" = "1.sqfs 2.sqfs 3.sqfs " ]
expect_exit 0 "max-size with room" "$FWSIGN" sign "$WORK/m.sqfs" -o "$WORK/m-out.sqfs" --key $K.key --cert $K.crt --max-size $((size + 65536))
expect_exit 2 "in place refused" "$FWSIGN" sign "$WORK/m.sqfs" --in-place --key $K.key --cert $K.crt

# Bad images: one line, exit 3, no output, no crash.
bad() {	# bad NAME IMAGE [pattern]
	local n=$1 img=$2 pat=${3:-}
	rm -f "$WORK/bad-out.sqfs"
	expect_exit 3 "$n: refused" "$FWSIGN" sign "$img" -o "$WORK/bad-out.sqfs" --key $K.key --cert $K.crt
	check "$n: one line" [ "$(wc -l <"$WORK/err.txt")" -eq 1 ]
	check "$n: says what" grep -q "^fwsign: .*${pat}" "$WORK/err.txt"
	check "$n: no output" [ ! -e "$WORK/bad-out.sqfs" ]
	check "$n: no temporary" [ -z "$(ls -A "$WORK" | grep '\.fwsign-')" ]
}
mk_image_cached "$WORK/p" "$WORK/g.sqfs" -comp gzip -b 4K
gsize=$(stat -c %s "$WORK/g.sqfs")
head -c $((gsize / 2)) "$WORK/g.sqfs" >"$WORK/trunc.sqfs"
bad truncated "$WORK/trunc.sqfs" truncated
head -c 200 "$WORK/g.sqfs" >"$WORK/trunc2.sqfs"
bad "truncated to 200 bytes" "$WORK/trunc2.sqfs" truncated
cp "$WORK/g.sqfs" "$WORK/super.sqfs"
printf '\xff\xff\xff\xff\xff\xff\xff\x7f' | dd of="$WORK/super.sqfs" bs=1 seek=64 conv=notrunc 2>/dev/null
bad "corrupt table offsets" "$WORK/super.sqfs" corrupt
cp "$WORK/g.sqfs" "$WORK/super2.sqfs"
printf '\x11\x00' | dd of="$WORK/super2.sqfs" bs=1 seek=22 conv=notrunc 2>/dev/null	# block_log
bad "corrupt block size" "$WORK/super2.sqfs" squashfs
cp "$WORK/g.sqfs" "$WORK/super3.sqfs"
printf '\xff\xff\xff\xff' | dd of="$WORK/super3.sqfs" bs=1 seek=16 conv=notrunc 2>/dev/null	# fragments
bad "absurd fragment count" "$WORK/super3.sqfs" corrupt
cp "$WORK/g.sqfs" "$WORK/super4.sqfs"
printf '\x00\x00\x00\x40' | dd of="$WORK/super4.sqfs" bs=1 seek=4 conv=notrunc 2>/dev/null	# inodes
bad "absurd inode count" "$WORK/super4.sqfs" inode
# A big ELF file is hashed as its blocks are decoded (never read whole): a
# corrupt block in its middle, which only the hashing reads, is bad input
# naming the file, not a signing failure.
mkdir -p "$WORK/big/bin"
cp "$F/amd64/bin/busybox" "$WORK/big/bin/busybox"
mk_image "$WORK/big" "$WORK/big.sqfs" -comp gzip -b 64K -no-fragments
expect_exit 0 "big ELF: sign" "$FWSIGN" sign "$WORK/big.sqfs" -o "$WORK/big-out.sqfs" --key $K.key --cert $K.crt --ima
rm -rf "$WORK/big-x"
unsquashfs -d "$WORK/big-x" "$WORK/big-out.sqfs" >/dev/null 2>&1
cp "$F/amd64/bin/busybox" "$WORK/bb"
"$SIGN_FILE" sha256 $K.key $K.crt "$WORK/bb" "$WORK/bb.signed"
check "big ELF: sign-file's bytes" cmp -s "$WORK/big-x/bin/busybox" "$WORK/bb.signed"
cp "$WORK/big.sqfs" "$WORK/big-bad.sqfs"
printf 'corrupt!corrupt!' | dd of="$WORK/big-bad.sqfs" bs=1 seek=$((96 + 500000)) conv=notrunc 2>/dev/null
bad "corrupt block of a big ELF file" "$WORK/big-bad.sqfs" "bin/busybox.*squashfs: .*data block"
# Duplicate files whose blocks mksquashfs stored once (the writer finds them
# by their place, in the input's order) still share them: the output grows
# by the trailers, not by a second copy of 1 MiB; both copies extract whole.
mkdir -p "$WORK/dup/bin" "$WORK/dup/a" "$WORK/dup/z"
cp "$F/amd64/bin/busybox" "$WORK/dup/bin/busybox"
head -c 1048576 /dev/urandom >"$WORK/dup/a/blob"
cp "$WORK/dup/a/blob" "$WORK/dup/z/blob-copy"
cp "$WORK/dup/a/blob" "$WORK/dup/bin/blob-copy2"
mk_image "$WORK/dup" "$WORK/dup.sqfs" -comp gzip -b 128K
expect_exit 0 "duplicates: sign" "$FWSIGN" sign "$WORK/dup.sqfs" -o "$WORK/dup-out.sqfs" --key $K.key --cert $K.crt
check "duplicates: blocks still shared" \
	test "$(stat -c %s "$WORK/dup-out.sqfs")" -lt $(( $(stat -c %s "$WORK/dup.sqfs") + 262144 ))
rm -rf "$WORK/dup-x"
unsquashfs -d "$WORK/dup-x" "$WORK/dup-out.sqfs" >/dev/null 2>&1
check "duplicates: both copies whole" cmp -s "$WORK/dup-x/z/blob-copy" "$WORK/dup/a/blob"
check "duplicates: the third copy whole" cmp -s "$WORK/dup-x/bin/blob-copy2" "$WORK/dup/a/blob"
{ printf 'hsqs'; head -c 24 /dev/urandom; printf '\x04\x00\x00\x00'; head -c 100000 /dev/urandom; } >"$WORK/random.sqfs"
bad "random bytes with the magic" "$WORK/random.sqfs" squashfs
mksquashfs "$WORK/p" "$WORK/lzo.sqfs" -comp lzo -quiet -no-progress -noappend >/dev/null 2>&1 &&
	bad lzo "$WORK/lzo.sqfs" "squashfs uses lzo, which this libsquashfs cannot write"
printf 'hsqs' >"$WORK/v3.sqfs"; head -c 24 /dev/zero >>"$WORK/v3.sqfs"
printf '\x03\x00\x01\x00' >>"$WORK/v3.sqfs"; head -c 4000 /dev/zero >>"$WORK/v3.sqfs"
bad "version 3.1" "$WORK/v3.sqfs" "version 3.1 is not supported"

# Forged metadata (written uncompressed with -noI so it can be patched).
cat >"$WORK/sqpatch.py" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
sb = struct.unpack_from('<IIIIIHHHHHHQQQQQQQQ', d, 0)
root, inode_start, dir_start = sb[11], sb[15], sb[16]
def stream(start, end):
    out, where, pos = bytearray(), [], start
    while pos < end:
        h = struct.unpack_from('<H', d, pos)[0]
        if not h & 0x8000:	# a compressed table after it: stop
            break
        out += d[pos + 2:pos + 2 + (h & 0x7fff)]
        where += range(pos + 2, pos + 2 + (h & 0x7fff))
        pos += 2 + (h & 0x7fff)
    return out, where
ino, iw = stream(inode_start, dir_start)
dirs, dw = stream(dir_start, sb[17])
if sys.argv[3] == 'loop':	# the root's first subdirectory becomes the root
    off = root & 0xffff
    size, doff = struct.unpack_from('<HH', ino, off + 24)
    cnt, sblk, inum = struct.unpack_from('<III', dirs, doff)
    pos = doff + 12
    for _ in range(cnt + 1):
        eoff, diff, typ, nsz = struct.unpack_from('<HhHH', dirs, pos)
        if typ == 1:
            d[dw[pos]], d[dw[pos + 1]] = off & 0xff, off >> 8
            break
        pos += 8 + nsz + 1
    else:
        sys.exit('no subdirectory')
elif sys.argv[3] == 'longlink':	# the symlink to "far-away": 4 GiB long
    i = ino.find(b'far-away')
    for k, b in enumerate(struct.pack('<I', 0xffffffff)):
        d[iw[i - 4 + k]] = b
elif sys.argv[3] == 'dotdot':	# the directory "zz" becomes ".."
    i = d.find(b'zz', dir_start)
    d[i:i + 2] = b'..'
else:				# the first inode, a hard-linked file: 2^62 bytes
    assert struct.unpack_from('<H', ino, 0)[0] == 9
    for i, b in enumerate(struct.pack('<Q', 1 << 62)):
        d[iw[24 + i]] = b
open(sys.argv[2], 'wb').write(d)
PY
mkdir -p "$WORK/h/a/b" && echo x >"$WORK/h/a/b/f" && ln "$WORK/h/a/b/f" "$WORK/h/a/g"
mksquashfs "$WORK/h" "$WORK/h.sqfs" -noI -quiet -no-progress -noappend >/dev/null
python3 "$WORK/sqpatch.py" "$WORK/h.sqfs" "$WORK/loop.sqfs" loop
bad "directory loop" "$WORK/loop.sqfs" "directory loop"
python3 "$WORK/sqpatch.py" "$WORK/h.sqfs" "$WORK/huge.sqfs" bigfile
bad "absurd file size" "$WORK/huge.sqfs" "absurd"
mkdir -p "$WORK/sl" && echo x >"$WORK/sl/f" && ln -s far-away "$WORK/sl/l"
mksquashfs "$WORK/sl" "$WORK/sl.sqfs" -noI -quiet -no-progress -noappend >/dev/null
python3 "$WORK/sqpatch.py" "$WORK/sl.sqfs" "$WORK/longlink.sqfs" longlink
bad "absurd symlink size" "$WORK/longlink.sqfs" "symlink of 4294967295 bytes is absurd"
# A name that would escape: not handed to signing, kept as it was.
mkdir -p "$WORK/dd/zz" && cp "$F/amd64/lib/libdl.so.2" "$WORK/dd/zz/" &&
	cp "$F/amd64/lib/libanl.so.1" "$WORK/dd/"
mksquashfs "$WORK/dd" "$WORK/dd.sqfs" -noI -quiet -no-progress -noappend >/dev/null
python3 "$WORK/sqpatch.py" "$WORK/dd.sqfs" "$WORK/dotdot.sqfs" dotdot
expect_exit 0 "entry named ..: signed" "$FWSIGN" sign "$WORK/dotdot.sqfs" -o "$WORK/dotdot-out.sqfs" \
	--key $K.key --cert $K.crt
check "entry named ..: warned" grep -q 'unsafe name skipped' "$WORK/err.txt"
check "entry named ..: the rest signed" grep -q '^signed 1,' "$WORK/out.txt"
check "entry named ..: listing kept" diff <(unsquashfs -lln "$WORK/dotdot.sqfs" 2>&1 | grep -v libanl) \
	<(unsquashfs -lln "$WORK/dotdot-out.sqfs" 2>&1 | grep -v libanl)

# Random damage to a small image: refused (3) or signed (0) into an image
# unsquashfs reads whenever it reads the damaged input; never a crash.
mkdir -p "$WORK/z/d" && cp "$F/amd64/lib/libdl.so.2" "$WORK/z/d/" &&
	cp "$(find "$F/amd64/modules" -name '*.ko' | sort | head -1)" "$WORK/z/m.ko" &&
	echo hi >"$WORK/z/d/t" && ln "$WORK/z/d/t" "$WORK/z/t2" && setfattr -n user.k -v v "$WORK/z/d/t"
mksquashfs "$WORK/z" "$WORK/z.sqfs" -b 4K -noI -quiet -no-progress -noappend >/dev/null
python3 - "$WORK/z.sqfs" "$FWSIGN" "$K" "$WORK" <<'PY' && pass || fail "fuzz"
import os, random, subprocess, sys
src, tool, key, work = open(sys.argv[1], 'rb').read(), sys.argv[2], sys.argv[3], sys.argv[4]
random.seed(7)
m, o, bad = work + '/fz.sqfs', work + '/fz-out.sqfs', 0
def extracts(img):
    r = subprocess.run(['unsquashfs', '-d', work + '/fzx', '-f', img], capture_output=True)
    subprocess.run(['rm', '-rf', work + '/fzx'])
    return r.returncode == 0
for i in range(80):
    d = bytearray(src)
    if i % 4 == 3:
        d = d[:random.randrange(96, len(d))]
    else:
        lo = 4 if i % 4 == 0 else 96
        for _ in range(random.randint(1, 6)):
            d[random.randrange(lo, 96 if i % 4 == 0 else len(d))] = random.randrange(256)
    open(m, 'wb').write(d)
    if os.path.exists(o):
        os.unlink(o)
    r = subprocess.run([tool, 'sign', m, '-o', o, '--key', key + '.key', '--cert', key + '.crt'],
                       capture_output=True, text=True, errors='replace')
    if r.returncode not in (0, 3) or 'Sanitizer' in r.stderr or 'runtime error' in r.stderr:
        bad += 1
        print('fuzz case', i, 'exit', r.returncode, r.stderr[-600:], file=sys.stderr)
    elif r.returncode == 0 and extracts(m) and not extracts(o):
        bad += 1
        print('fuzz case', i, 'wrote an image unsquashfs refuses', file=sys.stderr)
sys.exit(1 if bad else 0)
PY
done_tests
