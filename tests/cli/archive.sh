#!/bin/bash
# tar (ustar, pax, GNU) and cpio (newc, odc) archives, plain or gzip, xz,
# zstd, lz4 compressed, made by bsdtar, GNU tar and GNU cpio from real
# Debian binaries: the output has the same format, compression and
# compression settings, the same entries in the same order with the same
# header fields (owners and their names, setuid, times, pax xattrs
# incl. security.capability, devices, fifos, symlinks, hard links; newc
# hard links keep their data on the last name), every ELF is its original
# bytes plus a trailer, every other file is byte-identical; verify passes,
# the input is untouched, the output is reproducible.  Hostile archives
# (.., absolute paths, absurd sizes, truncation) give warnings or one-line
# errors.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048
K=$WORK/keys/vendor
ROOT=0
[ "$(id -u)" -eq 0 ] && ROOT=1

# Header fields of every entry, one line each, in archive order; the size
# only says whether the entry carries data.  pax records are listed but
# size, hdrcharset, and path and linkpath (names are compared whole; a
# long name may be split into ustar prefix + name instead).
cat >"$WORK/hdr.py" <<'EOF'
import io, sys, tarfile, subprocess
def raw(path):
    data = open(path, 'rb').read()
    for tool in (['gzip', '-dc'], ['xz', '-dc'], ['zstd', '-dcq'], ['lz4', '-dcq']):
        r = subprocess.run(tool, input=data, capture_output=True)
        if r.returncode == 0:
            return r.stdout
    return data
def cpio(d):
    pos = 0
    while pos < len(d):
        if d[pos:pos+6] == b'070701':
            f = [int(d[pos+6+8*i:pos+14+8*i], 16) for i in range(13)]
            ino, mode, uid, gid, nlink, mtime, size, dmaj, dmin, rmaj, rmin, nsz = f[:12]
            name = d[pos+110:pos+110+nsz-1]
            pos = (pos + 110 + nsz + 3) & ~3
            body = d[pos:pos+size]
            pos = (pos + size + 3) & ~3
            fields = (ino, oct(mode), uid, gid, nlink, mtime, dmaj, dmin, rmaj, rmin)
        elif d[pos:pos+6] == b'070707':
            h = d[pos:pos+76]
            dev, ino, mode, uid, gid, nlink, rdev = (int(h[6+6*i:12+6*i], 8) for i in range(7))
            mtime, nsz, size = int(h[48:59], 8), int(h[59:65], 8), int(h[65:76], 8)
            name = d[pos+76:pos+76+nsz-1]
            pos += 76 + nsz
            body = d[pos:pos+size]
            pos += size
            fields = (oct(mode), uid, gid, nlink, rdev, mtime)
        else:
            break
        if name == b'TRAILER!!!':
            break
        if (mode & 0o170000) == 0o120000:
            print(name, fields, 'symlink', body)
        else:
            print(name, fields, 'data' if size else 'nodata')
def tar(data):
    for m in tarfile.open(fileobj=io.BytesIO(data)):
        pax = sorted((k, v) for k, v in m.pax_headers.items()
                     if k not in ('size', 'hdrcharset', 'path', 'linkpath'))
        print(repr(m.name), m.type, oct(m.mode), m.uid, m.gid, m.uname, m.gname, m.mtime,
              'data' if m.size else 'nodata', repr(m.linkname), m.devmajor, m.devminor, pax)
d = raw(sys.argv[1])
if d[:5] == b'07070':
    cpio(d)
else:
    tar(d)
EOF
hdr() { python3 "$WORK/hdr.py" "$1"; }

# The tree: busybox of three architectures (one setuid, with two more
# names as hard links), libraries (one with a user xattr, one owned by
# daemon:bin, one by 1234:5678 with no names), modules, a script, data,
# odd names, a symlink pointing out of the tree, a fifo, a device.
T=$WORK/tree
mkdir -p "$T/bin" "$T/lib/modules" "$T/etc" "$T/dev" "$T/odd dir"
cp "$FIXTURES/amd64/bin/busybox" "$T/bin/busybox"
cp "$FIXTURES/arm64/bin/busybox" "$T/bin/busybox.arm64"
cp "$FIXTURES/s390x/bin/busybox" "$T/bin/busybox.s390x"
cp "$FIXTURES/amd64/lib/libm.so.6" "$FIXTURES/amd64/lib/libresolv.so.2" "$T/lib/"
cp "$FIXTURES/arm64/lib/libresolv.so.2" "$T/odd dir/$(printf 'lib \xc3\xa9 x.so')"
i=0
for m in $(find "$FIXTURES/amd64/modules" -name '*.ko' | sort | head -3); do
	i=$((i + 1)); cp "$m" "$T/lib/modules/m$i.ko"
done
printf '#!/bin/sh\necho hello\n' >"$T/bin/hello.sh"
printf 'root:x:0:0::/root:/bin/sh\n' >"$T/etc/passwd"
long=$(printf 'a%.0s' $(seq 1 98))
mkdir -p "$T/odd dir/$long"
printf 'long name\n' >"$T/odd dir/$long/${long:0:90}.txt"	# fits ustar
ln "$T/bin/busybox" "$T/bin/sh"
ln "$T/bin/busybox" "$T/bin/ash"
ln -s busybox "$T/bin/ls"
ln -s /etc/shadow "$T/etc/evil"
mkfifo "$T/dev/fifo"
chmod 755 "$T/bin/hello.sh"
chmod 4755 "$T/bin/busybox"
chmod 0750 "$T/etc"
setfattr -n user.vendor -v build-42 "$T/lib/libm.so.6"
if [ $ROOT = 1 ]; then
	setcap cap_net_raw+ep "$T/bin/busybox.arm64"
	chown daemon:bin "$T/lib/libresolv.so.2"
	chown 1234:5678 "$T/lib/libm.so.6"
	mknod "$T/dev/null" c 1 3
fi
find "$T" -exec touch -h -d '2020-02-02 02:02:02.5' {} +

# extract ARCHIVE DIR: bsdtar for tar, GNU cpio for cpio (which keeps
# newc hard links together), with owners, modes and xattrs.
extract() {
	mkdir -p "$2"
	if is_cpio "$1"; then
		decomp "$1" | (cd "$2" && cpio -idm --quiet --no-absolute-filenames)
	else
		bsdtar -xpf "$1" --xattrs --numeric-owner -C "$2"
	fi
}
decomp() {	# the uncompressed archive on stdout
	case $(file -b "$1") in
	gzip*) gzip -dc "$1" ;; XZ*) xz -dc "$1" ;; Zstandard*) zstd -dcq "$1" ;;
	LZ4*) lz4 -dcq "$1" ;; *) cat "$1" ;;
	esac
}
is_cpio() { [ "$(decomp "$1" | head -c 5 | tr -d '\0')" = 07070 ]; }
comp() {	# comp CODEC FILE: compressed copy FILE.CODEC, echoes its name
	# (cached by content, lib.sh: the ASan+UBSan pass compresses no tar
	# again; the command names FILE without its directory, for the key)
	local sum f=${2##*/} c
	case $1 in
	none) echo "$2"; return ;;
	gz) c="gzip -9 -c" ;;
	xz) c="xz -c --check=crc32 --lzma2=dict=1MiB" ;;
	zst) c="zstd -q -c --no-check" ;;
	lz4) c="lz4 -q -c -BD" ;;
	esac
	sum=$(sha256sum <"$2")
	# shellcheck disable=SC2086
	(cd "${2%/*}" && cached "$f.$1" "$sum" $c "$f")
	echo "$2.$1"
}

# check_archive IN OUT what: everything the header says, every byte.
check_archive() {
	local in=$1 out=$2 what=$3 f
	check "$what: same format and compression" [ "$(file -b "$in" | cut -d, -f1)" = "$(file -b "$out" | cut -d, -f1)" ]
	decomp "$in" >"$WORK/d-in"; decomp "$out" >"$WORK/d-out"
	check "$what: same archive format inside" [ "$(file -b "$WORK/d-in")" = "$(file -b "$WORK/d-out")" ]
	local li lo
	li=$(stat -c %s "$WORK/d-in"); lo=$(stat -c %s "$WORK/d-out")
	check "$what: same block padding ($li, $lo bytes)" [ $((li % 512)) = $((lo % 512)) -a $((li % 10240 == 0)) = $((lo % 10240 == 0)) ]
	hdr "$WORK/d-in" >"$WORK/h-in"; hdr "$WORK/d-out" >"$WORK/h-out"
	check "$what: same headers, same order" diff -u "$WORK/h-in" "$WORK/h-out"
	[ -s "$WORK/h-in" ] || fail "$what: no headers read"
	bsdtar -tvf "$in" | awk '{$5=""; print}' >"$WORK/l-in"
	bsdtar -tvf "$out" | awk '{$5=""; print}' >"$WORK/l-out"
	check "$what: bsdtar lists the same" diff -u "$WORK/l-in" "$WORK/l-out"
	rm -rf "$WORK/x-in" "$WORK/x-out"
	extract "$in" "$WORK/x-in"; extract "$out" "$WORK/x-out"
	for f in bin/busybox bin/busybox.arm64 bin/busybox.s390x lib/libm.so.6 \
		lib/libresolv.so.2 "odd dir/$(printf 'lib \xc3\xa9 x.so')" lib/modules/m1.ko; do
		strip_sig "$WORK/x-out/$f" "$WORK/c"; strip_sig "$WORK/x-in/$f" "$WORK/o"
		check "$what: $f is its original plus a trailer" cmp -s "$WORK/o" "$WORK/c"
		check "$what: $f is signed" [ "$(sig_len "$WORK/x-out/$f")" -gt 0 ]
	done
	check "$what: hard links kept" [ "$(stat -c %i "$WORK/x-out/bin/busybox")" = "$(stat -c %i "$WORK/x-out/bin/sh")" ] &&
		cmp -s "$WORK/x-out/bin/busybox" "$WORK/x-out/bin/ash"
	check "$what: script, data unchanged" cmp -s "$T/bin/hello.sh" "$WORK/x-out/bin/hello.sh" &&
		cmp -s "$T/etc/passwd" "$WORK/x-out/etc/passwd" &&
		cmp -s "$T/odd dir/$long/${long:0:90}.txt" "$WORK/x-out/odd dir/$long/${long:0:90}.txt"
	check "$what: symlink out kept" [ "$(readlink "$WORK/x-out/etc/evil")" = /etc/shadow ]
	check "$what: fifo" [ -p "$WORK/x-out/dev/fifo" ]
	check "$what: setuid" [ -u "$WORK/x-out/bin/busybox" ]
	# Not the extraction root's times; cpio sets no directory or
	# symlink times.
	meta() {
		tree_meta "$1" | grep -v '^d [0-9]* [0-9:]* [0-9.]* [0-9]*  \.$' |
			if is_cpio "$in"; then
				awk '$1 == "d" || $1 == "l" { $4 = "" } { print }' | sort
			else cat; fi
	}
	meta "$WORK/x-in" >"$WORK/m-in"
	meta "$WORK/x-out" >"$WORK/m-out"
	check "$what: extracted metadata identical" diff -u "$WORK/m-in" "$WORK/m-out"
	expect_exit 0 "$what: verify" "$FWSIGN" verify "$out" --cert $K.crt
}

n=0
run_case() {	# run_case NAME MAKER CODEC [xattrs]
	local name=$1 maker=$2 codec=$3 in out sha kind
	n=$((n + 1))
	in=$WORK/c$n/$name
	mkdir -p "$WORK/c$n"
	eval "$maker" >"$in" || { fail "$name: cannot make"; return; }
	in=$(comp "$codec" "$in")
	out=$WORK/c$n/signed-$(basename "$in")
	sha=$(sha256sum <"$in")
	expect_exit 0 "$name.$codec: sign" "$FWSIGN" sign "$in" -o "$out" --key $K.key --cert $K.crt
	case $name in *.tar) kind=tar ;; *) kind=cpio ;; esac
	check "$name.$codec: info says $kind" [ "$("$FWSIGN" info "$out" | head -1)" = "$out: $kind" ]
	[ -f "$out" ] || return
	check_archive "$in" "$out" "$name.$codec"
	if [ "${4:-}" = xattrs ]; then
		[ $ROOT = 0 ] ||
		check "$name.$codec: capability kept" sh -c "getcap '$WORK/x-out/bin/busybox.arm64' | grep -q cap_net_raw"
		check "$name.$codec: user xattr kept" [ "$(getfattr --only-values -n user.vendor "$WORK/x-out/lib/libm.so.6" 2>/dev/null)" = build-42 ]
	fi
	check "$name.$codec: input unchanged" [ "$sha" = "$(sha256sum <"$in")" ]
	# Reproducible: another run, another SOURCE_DATE_EPOCH, one thread:
	# same bytes.
	SOURCE_DATE_EPOCH=1 "$FWSIGN" sign "$in" -o "$out.2" --jobs 1 --key $K.key --cert $K.crt >/dev/null 2>&1
	check "$name.$codec: reproducible" cmp -s "$out" "$out.2"
	rm -rf "$WORK/c$n/"*.2 "$WORK/x-in" "$WORK/x-out"
}

cd "$T" || exit 1
run_case ustar.tar "bsdtar --format ustar -cf - ." none
run_case ustar-gnutar.tar "tar --format=ustar -cf - ." gz
run_case pax.tar "bsdtar --xattrs --format pax -cf - ." xz xattrs
run_case pax-gnutar.tar "tar --xattrs --xattrs-include='*' --format=pax -cf - ." zst xattrs
run_case gnu.tar "tar --format=gnu -cf - ." lz4
run_case pax-bsd.tar "bsdtar --xattrs --format pax -cf - ." none xattrs
run_case gnu2.tar "tar --format=gnu -cf - ." xz
run_case newc.cpio "find . | cpio -o -H newc --quiet" none
run_case newc2.cpio "find . | cpio -o -H newc --quiet" gz
run_case newc-bsd.cpio "bsdtar --format newc -cf - ." zst
run_case odc.cpio "find . | cpio -o -H odc --quiet" lz4
run_case ustar2.tar "bsdtar --format ustar -cf - ." zst
run_case pax2.tar "bsdtar --xattrs --format pax -cf - ." gz xattrs
run_case pax3.tar "bsdtar --xattrs --format pax -cf - ." lz4 xattrs
run_case newc3.cpio "find . | cpio -o -H newc --quiet" xz
cd - >/dev/null

# Compression settings kept: gzip level (XFL) and name, xz check and
# dictionary, zstd checksum flag, lz4 block flags, lz4 legacy.
C=$WORK/c3
xz_info() { xz -lvv --robot "$1" | awk -F'\t' '$1 == "block" { print $10, $NF }'; }
check "xz: CRC32 check and 1 MiB dictionary kept" [ "$(xz_info "$C/pax.tar.xz")" = "$(xz_info "$C/signed-pax.tar.xz")" ]
check "xz: it is CRC32 and dict=1MiB" [ "$(xz_info "$C/signed-pax.tar.xz")" = "CRC32 --lzma2=dict=1MiB" ]
C=$WORK/c2
gz_hdr() { od -An -tx1 -j3 -N7 "$1"; }	# FLG, MTIME, XFL, OS
check "gzip: flags, mtime, XFL (-9), OS kept" [ "$(gz_hdr "$C/ustar-gnutar.tar.gz")" = "$(gz_hdr "$C/signed-ustar-gnutar.tar.gz")" ]
check "gzip: name kept" sh -c "gzip -lN '$C/signed-ustar-gnutar.tar.gz' | grep -q 'ustar-gnutar.tar'"
C=$WORK/c4
zst_fhd() { od -An -tx1 -j4 -N1 "$1"; }
check "zstd: no checksum kept" [ $(( 0x$(zst_fhd "$C/signed-pax-gnutar.tar.zst" | tr -d ' ') & 4 )) -eq 0 ]
check "zstd: frame flags kept" [ "$(zst_fhd "$C/pax-gnutar.tar.zst")" = "$(zst_fhd "$C/signed-pax-gnutar.tar.zst")" ]
C=$WORK/c5
check "lz4: frame descriptor kept (linked blocks)" [ "$(od -An -tx1 -j4 -N2 "$C/gnu.tar.lz4")" = "$(od -An -tx1 -j4 -N2 "$C/signed-gnu.tar.lz4")" ]

# A newc initramfs with hard links whose data is on the last name, lz4
# legacy (the kernel's), as gen_init_cpio/GNU cpio make it.
I=$WORK/initramfs
mkdir -p "$I/in"
cp "$FIXTURES/arm64/bin/busybox" "$I/in/busybox"
ln "$I/in/busybox" "$I/in/sh"; ln "$I/in/busybox" "$I/in/init"
(cd "$I/in" && find . | sort | cpio -o -H newc --quiet) >"$I/initrd.cpio"
lz4 -q -l -c "$I/initrd.cpio" >"$I/initrd.cpio.lz4"
expect_exit 0 "initramfs: sign" "$FWSIGN" sign "$I/initrd.cpio.lz4" -o "$I/out.lz4" --key $K.key --cert $K.crt
check "initramfs: lz4 legacy kept" [ "$(head -c 4 "$I/out.lz4" | od -An -tx1)" = " 02 21 4c 18" ]
check "initramfs: cpio -t lists the same" [ "$(lz4 -dcq "$I/initrd.cpio.lz4" | cpio -t --quiet)" = "$(lz4 -dcq "$I/out.lz4" | cpio -t --quiet)" ]
hdr "$I/initrd.cpio.lz4" >"$WORK/h-in"; hdr "$I/out.lz4" >"$WORK/h-out"
check "initramfs: same headers, data on the last link" diff -u "$WORK/h-in" "$WORK/h-out"
check "initramfs: only the last link carries data" [ "$(grep -c "'data'\| data$" "$WORK/h-out")" = 1 ]
check "initramfs: the data is on sh, the last name" grep -q "^b'sh'.* data$" "$WORK/h-out"
mkdir -p "$I/x" && (lz4 -dcq "$I/out.lz4" | (cd "$I/x" && cpio -idm --quiet))
strip_sig "$I/x/busybox" "$WORK/c"
check "initramfs: signed busybox = original + trailer" cmp -s "$WORK/c" "$I/in/busybox"
check "initramfs: three names, one inode" [ "$(stat -c %h "$I/x/init")" = 3 ]
check "initramfs: init and sh the same bytes" cmp -s "$I/x/init" "$I/x/sh"
expect_exit 0 "initramfs: verify" "$FWSIGN" verify "$I/out.lz4" --cert $K.crt
check "initramfs: report says cpio" sh -c "'$FWSIGN' info '$I/out.lz4' | head -1 | grep -q ': cpio$'"
# Frames that record their content size (known only at the end) and
# streams that do not: flags kept, content intact.
lz4 -q -c --content-size -B4 --no-frame-crc -BX "$I/initrd.cpio" >"$I/cs.cpio.lz4"
zstd -q -c <"$I/initrd.cpio" >"$I/stream.cpio.zst"
gzip -c <"$I/initrd.cpio" >"$I/noname.cpio.gz"
for f in cs.cpio.lz4 stream.cpio.zst noname.cpio.gz; do
	expect_exit 0 "$f: sign" "$FWSIGN" sign "$I/$f" -o "$I/signed-$f" --key $K.key --cert $K.crt
	check "$f: frame header kept" [ "$(od -An -tx1 -N6 "$I/$f")" = "$(od -An -tx1 -N6 "$I/signed-$f")" ]
	hdr "$I/$f" >"$WORK/h-in"; hdr "$I/signed-$f" >"$WORK/h-out"
	check "$f: same headers" diff -u "$WORK/h-in" "$WORK/h-out"
done
# Compressions fwsign does not write itself go through libarchive's.
bzip2 -c "$I/initrd.cpio" >"$I/b.cpio.bz2"
expect_exit 0 "bzip2: sign" "$FWSIGN" sign "$I/b.cpio.bz2" -o "$I/signed-b.cpio.bz2" --key $K.key --cert $K.crt
check "bzip2: still bzip2" sh -c "file -b '$I/signed-b.cpio.bz2' | grep -q '^bzip2'"
check "bzip2: same headers" [ "$(bzip2 -dc "$I/b.cpio.bz2" | cpio -tv --quiet)" != "" ] &&
	[ "$(bzip2 -dc "$I/b.cpio.bz2" | cpio -t --quiet)" = "$(bzip2 -dc "$I/signed-b.cpio.bz2" | cpio -t --quiet)" ]
expect_exit 0 "bzip2: verify" "$FWSIGN" verify "$I/signed-b.cpio.bz2" --cert $K.crt
check "lz4 content size is the new size" [ "$(lz4 -dcq "$I/signed-cs.cpio.lz4" | wc -c)" = "$(od -An -tu8 -j6 -N8 "$I/signed-cs.cpio.lz4" | tr -d ' ')" ]

# Found by content, not by name.
cp "$WORK/c1/ustar.tar" "$WORK/firmware.bin"
check "tar found by content" sh -c "'$FWSIGN' info '$WORK/firmware.bin' | head -1 | grep -q ': tar$'"

# Usage: no --in-place; --max-size refuses before anything appears.
expect_exit 2 "in place refused" "$FWSIGN" sign "$WORK/firmware.bin" --in-place --key $K.key --cert $K.crt
expect_exit 3 "max-size" "$FWSIGN" sign "$WORK/firmware.bin" -o "$WORK/small.tar" --max-size 1000 --key $K.key --cert $K.crt
check "max-size: clear error" grep -q 'max-size' "$WORK/err.txt"
check "max-size: no output" [ ! -e "$WORK/small.tar" ]

# Hostile: ../ and absolute names are warned about, copied unchanged,
# never signed, never written to disk.
H=$WORK/hostile
mkdir -p "$H/cwd"
python3 - "$H/evil.tar" "$FIXTURES/amd64/bin/busybox" <<'EOF'
import sys, tarfile, io
bb = open(sys.argv[2], 'rb').read()
with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as t:
    for name in ('ok', '../evil', '/abs/evil', 'a/../../b'):
        i = tarfile.TarInfo(name); i.size = len(bb); i.mode = 0o755
        t.addfile(i, io.BytesIO(bb))
EOF
cd "$H/cwd" || exit 1
expect_exit 0 "hostile: sign" "$FWSIGN" sign "$H/evil.tar" -o "$H/out.tar" --key $K.key --cert $K.crt
cd - >/dev/null
check "hostile: warning for ../evil" grep -q 'warning: \.\./evil: unsafe path' "$WORK/err.txt"
check "hostile: warning for /abs/evil" grep -q 'warning: /abs/evil: unsafe path' "$WORK/err.txt"
check "hostile: warning for a/../../b" grep -q 'warning: a/\.\./\.\./b: unsafe path' "$WORK/err.txt"
check "hostile: nothing written outside" [ ! -e "$H/evil" -a ! -e /abs/evil -a ! -e "$WORK/b" -a -z "$(ls -A "$H/cwd")" ]
python3 - "$H/evil.tar" "$H/out.tar" <<'EOF' && pass || fail "hostile: entries kept unchanged, ok signed"
import sys, tarfile
a, b = tarfile.open(sys.argv[1]), tarfile.open(sys.argv[2])
ma, mb = a.getmembers(), b.getmembers()
assert [m.name for m in ma] == [m.name for m in mb], ([m.name for m in ma], [m.name for m in mb])
for x, y in zip(ma, mb):
    da, db = a.extractfile(x).read(), b.extractfile(y).read()
    if x.name == 'ok':
        assert db != da and db.startswith(da), x.name
    else:
        assert db == da, x.name
EOF

# An entry claiming more bytes than the archive has; 8 GiB in a header.
python3 - "$H/huge.tar" <<'EOF'
import sys, tarfile, io
with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT) as t:
    i = tarfile.TarInfo('big'); i.size = 10
    t.addfile(i, io.BytesIO(b'x' * 10))
d = bytearray(open(sys.argv[1], 'rb').read())
d[124:136] = b'77777777777\0'
d[148:156] = b'        '
d[148:156] = b'%06o\0 ' % sum(d[:512])
open(sys.argv[1], 'wb').write(bytes(d))
EOF
expect_exit 3 "absurd size" "$FWSIGN" sign "$H/huge.tar" -o "$H/huge.out" --key $K.key --cert $K.crt
check "absurd size: one line" [ "$(wc -l <"$WORK/err.txt")" = 1 ]
check "absurd size: names the file and the entry" grep -q "huge.tar: .*big.*claims" "$WORK/err.txt"
check "absurd size: no output" [ ! -e "$H/huge.out" ]

# Truncated .tar.gz: one line naming the file, exit 3, no output.
head -c 300000 "$WORK/c2/ustar-gnutar.tar.gz" >"$H/trunc.tar.gz"
expect_exit 3 "truncated tar.gz" "$FWSIGN" sign "$H/trunc.tar.gz" -o "$H/trunc.out" --key $K.key --cert $K.crt
check "truncated: one line" [ "$(wc -l <"$WORK/err.txt")" = 1 ]
check "truncated: names the file" grep -q "^fwsign: $H/trunc.tar.gz: truncated or corrupt" "$WORK/err.txt"
check "truncated: no output, no temporary" [ ! -e "$H/trunc.out" -a -z "$(ls -A "$H" | grep fwsign)" ]
head -c 3000000 "$WORK/c1/ustar.tar" >"$H/trunc.tar"
expect_exit 3 "truncated tar" "$FWSIGN" sign "$H/trunc.tar" -o "$H/trunc2.out" --key $K.key --cert $K.crt
check "truncated tar: clear error" grep -q "^fwsign: $H/trunc.tar: .*truncated" "$WORK/err.txt"

# A forged cpio name size (libarchive would allocate what it claims) and
# a forged data size: refused before libarchive reads them.
python3 - "$H/name.cpio" "$H/data.cpio" <<'EOF'
import sys
def newc(name, data, namesize=None, filesize=None):
    n = name.encode() + b"\0"
    f = [1, 0o100644, 0, 0, 1, 0, len(data) if filesize is None else filesize,
         0, 0, 0, 0, len(n) if namesize is None else namesize, 0]
    h = b"070701" + b"".join(b"%08X" % v for v in f) + n
    h += b"\0" * (-len(h) % 4)
    return h + data + b"\0" * (-len(data) % 4)
tail = newc("TRAILER!!!", b"")
open(sys.argv[1], "wb").write(newc("a", b"x" * 100) + newc("b", b"y", namesize=0xF0000000) + tail)
open(sys.argv[2], "wb").write(newc("a", b"x" * 100) + newc("b", b"y", filesize=0x7FFFFFFF) + tail)
EOF
expect_exit 3 "forged cpio name size" "$FWSIGN" sign "$H/name.cpio" -o "$H/name.out" --key $K.key --cert $K.crt
check "forged name size: one line" [ "$(wc -l <"$WORK/err.txt")" = 1 ]
check "forged name size: says where and what" grep -q "name.cpio: cpio entry at byte 212 has a name of 4026531840 bytes" "$WORK/err.txt"
expect_exit 3 "forged cpio data size" "$FWSIGN" sign "$H/data.cpio" -o "$H/data.out" --key $K.key --cert $K.crt
check "forged data size: says where and what" grep -q "data.cpio: cpio entry at byte 212 claims 2147483647 bytes of data, past the end" "$WORK/err.txt"
check "forged sizes: no output" [ ! -e "$H/name.out" -a ! -e "$H/data.out" ]

# An initramfs of two archives (an early cpio, then a compressed one, as
# bootloaders concatenate them): the second is kept, with a warning.
cat "$I/initrd.cpio" "$I/initrd.cpio.lz4" >"$I/two.cpio"
expect_exit 0 "concatenated: sign" "$FWSIGN" sign "$I/two.cpio" -o "$I/two.out" --key $K.key --cert $K.crt
check "concatenated: warned" grep -q 'after the end of the archive are copied unchanged' "$WORK/err.txt"
check "concatenated: tail kept" cmp -s <(tail -c "$(stat -c %s "$I/initrd.cpio.lz4")" "$I/two.out") "$I/initrd.cpio.lz4"
# Memory: results stream out in order instead of piling up, and signing
# keeps no copy of a file's bytes: the peak stays under the archive's size
# plus a bounded margin (the archive itself is not held in memory:
# archive-stream.sh bounds it well below).  (Not under ASan, whose
# allocator keeps freed memory in quarantine.)
if ! ldd "$FWSIGN" | grep -q libasan; then
	M=$WORK/mem
	mkdir -p "$M/t"
	for i in $(seq 1 40); do
		cp "$FIXTURES/amd64/lib/libc.so.6" "$M/t/libc$i.so"
	done
	bsdtar -cf "$M/big.tar" -C "$M/t" .
	peak=$(python3 - "$FWSIGN" sign "$M/big.tar" -o "$M/out.tar" --key $K.key --cert $K.crt <<'PY'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 if r.returncode == 0 else -1)
PY
)
	size=$(stat -c %s "$M/big.tar")
	check "memory: 40 signed libs, peak RSS $((peak >> 20)) MiB for a $((size >> 20)) MiB tar" \
		[ "$peak" -gt 0 -a "$peak" -lt $((size + (48 << 20))) ]
	check "memory: every copy signed" [ "$("$FWSIGN" verify "$M/out.tar" --cert $K.crt --json | grep -o '"result":"ok"' | wc -l)" -ge 40 ]
fi
# tar and cpio are a module (libfwsign/fwsign-archive.so beside the
# library) loaded only for an input no built-in format is sure of: never
# for a directory or a squashfs image, always for an archive.  Without the
# module an archive is refused in one line that says why; other inputs
# still work.
D=$WORK/mod
mkdir -p "$D/lib" "$D/tree"
printf 'x' >"$D/tree/f"
bsdtar -cf "$D/t.tar" -C "$D/tree" .
mksquashfs "$D/tree" "$D/t.sqfs" -quiet -no-progress >/dev/null
loads() { LD_DEBUG=files "$FWSIGN" info "$1" 2>&1 >/dev/null | grep -c 'calling init: .*/\(fwsign-archive\.so\|libarchive\.so\.13\)$'; }
check "module: loaded for a tar" [ "$(loads "$D/t.tar")" -eq 2 ]
check "module: not for a directory" [ "$(loads "$D/tree")" -eq 0 ]
check "module: not for squashfs" [ "$(loads "$D/t.sqfs")" -eq 0 ]
lib=$(ldd "$FWSIGN" | awk '/libfwsign.so/ { print $3 }')
cp "$lib" "$D/lib/"
expect_exit 3 "module missing: a tar refused" env LD_LIBRARY_PATH="$D/lib" "$FWSIGN" info "$D/t.tar"
check "module missing: says why in one line ($ERR)" [ "$(wc -l <"$WORK/err.txt")" -eq 1 ]
check "module missing: names the module" grep -q "t.tar: cannot tell whether it is a tar or cpio archive: $D/lib/libfwsign/fwsign-archive.so" "$WORK/err.txt"
expect_exit 3 "module missing: a plain file refused too" env LD_LIBRARY_PATH="$D/lib" "$FWSIGN" sign "$D/tree/f" -o "$D/f.out" --key $K.key --cert $K.crt
check "module missing: nothing written" [ ! -e "$D/f.out" ]
expect_exit 0 "module missing: squashfs still read" env LD_LIBRARY_PATH="$D/lib" "$FWSIGN" info "$D/t.sqfs"
expect_exit 0 "module missing: a directory still signed" env LD_LIBRARY_PATH="$D/lib" "$FWSIGN" sign "$D/tree" -o "$D/tree.out" --key $K.key --cert $K.crt
done_tests
