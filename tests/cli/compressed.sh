#!/bin/bash
# .ko.xz, .ko.zst, .ko.gz: decompressed, signed, recompressed with the same
# codec; the signature inside equals sign-file's on the plain module, and
# modinfo (kmod) reads our signer from the compressed file.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048 --subject "Compressed Test Vendor"
K=$WORK/keys/vendor
mkdir -p "$WORK/in"
i=0
for arch in amd64 s390x armhf; do
	for ko in $(find "$FIXTURES/$arch/modules" -name '*.ko' | sort | head -4); do
		i=$((i + 1))
		cp "$ko" "$WORK/in/m$i-$arch.ko"
	done
done
for f in "$WORK"/in/m*.ko; do
	xz --check=crc32 --lzma2=dict=1MiB -k -c "$f" >"$f.xz"
	zstd -q -c "$f" >"$f.zst"
	gzip -n -c "$f" >"$f.gz"
	rm "$f"
done
gzip -n -c /etc/services >"$WORK/in/data.gz"		# not a module: untouched
gzip -n -c "$FIXTURES/amd64/bin/busybox" >"$WORK/in/busybox.gz"	# an ELF, but no module
expect_exit 0 "sign compressed" "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $K.key --cert $K.crt --json
check "json says compression" grep -q '"compression":"xz"' "$WORK/out.txt"
check "data.gz untouched" cmp -s "$WORK/in/data.gz" "$WORK/out/data.gz"
check "busybox.gz untouched" cmp -s "$WORK/in/busybox.gz" "$WORK/out/busybox.gz"
for f in "$WORK"/out/m*.ko.*; do
	name=$(basename "$f")
	case $f in
	*.xz) dec="xz -dc"; magic=$(head -c 6 "$f" | od -An -tx1 | tr -d ' ') ;;
	*.zst) dec="zstd -dc" ;;
	*.gz) dec="gzip -dc" ;;
	esac
	$dec "$f" >"$WORK/plain.ko" 2>/dev/null || { fail "$name does not decompress"; continue; }
	$dec "$WORK/in/$name" >"$WORK/orig.ko"
	strip_sig "$WORK/orig.ko" "$WORK/ref.ko"
	"$SIGN_FILE" sha256 $K.key $K.crt "$WORK/ref.ko"
	check "$name: signed module equals sign-file" cmp -s "$WORK/ref.ko" "$WORK/plain.ko"
	check "$name: same codec" [ "$(file -b "$f" | cut -d' ' -f1)" = "$(file -b "$WORK/in/$name" | cut -d' ' -f1)" ]
	# Debian 12's kmod is built -ZLIB: it reads .ko.xz and .ko.zst only.
	case $f in *.gz) m="$WORK/plain.ko" ;; *) m=$f ;; esac
	check "$name: modinfo signer" [ "$(modinfo -F signer "$m")" = "Compressed Test Vendor" ]
	case $f in *.xz)
		check "$name: xz check kept (CRC32)" sh -c "xz -lv '$f' | grep -q CRC32" ;;
	esac
done
expect_exit 0 "verify compressed" "$FWSIGN" verify "$WORK/out" --cert $K.crt
check "verify counts" grep -q "^36 good" "$WORK/out.txt"
# A truncated compressed module is not a module: left as it is, no crash.
head -c 500 "$WORK/out/m1-amd64.ko.xz" >"$WORK/trunc.ko.xz"
mkdir "$WORK/t" && mv "$WORK/trunc.ko.xz" "$WORK/t/"
expect_exit 0 "truncated xz" "$FWSIGN" sign "$WORK/t" -o "$WORK/t-out" --key $K.key --cert $K.crt
check "truncated xz untouched" cmp -s "$WORK/t/trunc.ko.xz" "$WORK/t-out/trunc.ko.xz"
# The same files inside images, whose readers peek at a file's start
# before reading it: a compressed module is found by the start of its
# stream; compressed data and a compressed executable stay as they are.
I=$WORK/images
mkdir -p "$I"
bsdtar -cf "$I/in.tar" -C "$WORK/in" .
mksquashfs "$WORK/in" "$I/in.sqfs" -comp gzip -noappend -quiet >/dev/null
mke2fs -q -F -t ext4 -d "$WORK/in" "$I/in.ext4" 64M
for img in tar sqfs ext4; do
	expect_exit 0 "$img: sign" "$FWSIGN" sign "$I/in.$img" -o "$I/out.$img" --key $K.key --cert $K.crt
	expect_exit 0 "$img: verify" "$FWSIGN" verify "$I/out.$img" --cert $K.crt
	check "$img: every compressed module signed" grep -q "^36 good" "$WORK/out.txt"
	for f in data.gz busybox.gz; do
		case $img in
		tar) bsdtar -xOf "$I/out.$img" "./$f" >"$I/x" ;;
		sqfs) unsquashfs -cat "$I/out.$img" "$f" >"$I/x" 2>/dev/null ;;
		ext4) debugfs -R "cat /$f" "$I/out.$img" >"$I/x" 2>/dev/null ;;
		esac
		check "$img: $f untouched" cmp -s "$WORK/in/$f" "$I/x"
	done
done
done_tests
