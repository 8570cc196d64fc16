#!/bin/bash
# ARM32 zImage: proof by boot that fwsign puts our certificate in the
# builtin keyring of a 32-bit ARM kernel shipped as a zImage.
#
# The ARM test kernel (tests/e2e/build-kernel-arm.sh: Linux 6.1 with
# kernel/0001, ARCH=arm tinyconfig for qemu -M virt, one Image in five
# zImages: gzip, xz, lzma, lz4, lzo) gets a certificate made by `fwsign
# keygen`: fwsign info shows each zImage's layers and the slot's filler;
# inject-cert patches the gzip, xz, lzma and lz4 ones in place (same
# size; kbuild's piggy_data located in the original, the bytes before and
# after it unchanged, the new stream decoded by zlib, liblzma or lz4 to
# the Image with our certificate and nothing else changed) and each is booted
# in qemu-system-arm -M virt (TCG) with a busybox initramfs (Debian's
# static armhf busybox, from the fixtures): the console shows the kernel
# loading our certificate, /proc/keys lists it in the builtin keyring.
# The same through the wrappers: the gzip zImage in a uImage (mkimage; the
# signed uImage is booted as is, mkimage -l checks its CRCs) and in a FIT
# (mkimage -f auto; fwsign sign, dumpimage takes the kernel back out and
# it boots) and on a FAT boot partition as kernel7l.img (fwsign sign,
# mtype takes it out, it boots).  A control boot of the untouched zImage lists no such key.
# Refused in one line, exit 3, nothing written: the lzo zImage (names the
# codec) and Debian's armhf kernel (linux-image-*-armmp, a real zImage with
# no extra-certificate slot).
. "$(dirname "$0")/lib-boot.sh"
need_tools qemu-system-arm cpio gzip timeout mkimage dumpimage
BUSYBOX=$FIXTURES/armhf/bin/busybox
file -L "$BUSYBOX" 2>/dev/null | grep -q "ARM.*statically linked" ||
	{ echo "need the fixtures' static armhf busybox (tests/fixtures/fetch.sh)" >&2; exit 1; }

t0=$(date +%s)
KDIR=$("$E2E/build-kernel-arm.sh") || { echo "ARM kernel build failed" >&2; exit 1; }
echo "ARM kernel: $KDIR ($(($(date +%s) - t0)) s to get it)"
DEB=$("$E2E/fetch-debian-kernels.sh" armhf) || { echo "Debian armhf kernel not fetched" >&2; exit 1; }
cd "$WORK" || exit 1

not() { ! "$@"; }
CN=fwsign-e2e-arm-vendor
"$FWSIGN" keygen -o vendor --subject "$CN" --rsa 2048 >/dev/null

mkdir -p ir/bin ir/dev ir/proc
cp "$BUSYBOX" ir/bin/busybox
cat >ir/init <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
echo "FWSIGN-BOOTED $(/bin/busybox uname -m)"
/bin/busybox sed 's/^/FWSIGN-KEY /' /proc/keys
echo "FWSIGN-DONE"
/bin/busybox poweroff -f
EOF
chmod 755 ir/init
(cd ir && find . | cpio -o -H newc 2>/dev/null | gzip -1) >init.cpio.gz

boot() {	# boot NAME KERNEL
	local s
	s=$(date +%s.%N)
	timeout 120 qemu-system-arm -M virt -cpu cortex-a15 -m 256M -accel tcg \
		-nographic -no-reboot -kernel "$2" -initrd init.cpio.gz \
		-append "console=ttyAMA0 panic=-1" </dev/null >"$1.log" 2>&1
	sed -i 's/\r$//' "$1.log"	# the serial console's CR LF
	echo "boot $1: $(echo "$(date +%s.%N) - $s" | bc) s"
	check "$1: booted an ARMv7 kernel to /init" grep -q "FWSIGN-BOOTED armv7l" "$1.log"
	check "$1: /init finished" grep -q FWSIGN-DONE "$1.log"
}
trusted() {	# trusted NAME: our certificate in the builtin keyring
	check "$1: the kernel loaded our certificate" grep -q "Loaded X.509 cert '$CN: " "$1.log"
	# /proc/keys cuts the type to 9 characters
	check "$1: /proc/keys lists it" grep -q "^FWSIGN-KEY .* asymmetri $CN: " "$1.log"
	check "$1: the builtin keyring holds 2 keys (the build's, ours)" grep -q "^FWSIGN-KEY .* keyring *\.builtin_trusted_keys: 2\$" "$1.log"
	grep -a -e "X.509" -e "FWSIGN-KEY.*asymmetri" "$1.log" | sed "s/^/  $1: /"
}
# piggy_check OLD NEW PIGGY IMAGE CODEC DER: kbuild's piggy_data is found
# in OLD; NEW has the same bytes before and after it (decompressor, size
# word, appended data) and in its place a stream that zlib or liblzma
# (Python's modules; lz4: the lz4 tool) decodes to IMAGE's length, with
# DER in it and every other byte IMAGE's but for one window of 8 KiB
piggy_check() {
	python3 - "$@" <<'EOF'
import lzma, subprocess, sys, zlib
old, new, piggy, image = (open(f, 'rb').read() for f in sys.argv[1:5])
codec, der = sys.argv[5], open(sys.argv[6], 'rb').read()
at = old.find(piggy)
assert at > 0 and old.find(piggy, at + 1) < 0, 'piggy_data not found once'
end = at + len(piggy)
assert len(new) == len(old), 'size'
assert new[:at] == old[:at], 'bytes before the piggy changed'
assert new[end:] == old[end:], 'bytes after the piggy changed'
np = new[at:end]
assert np[-4:] == piggy[-4:], 'the size word changed'
if codec == 'gzip':
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
elif codec in ('xz', 'lzma'):
    d = lzma.LZMADecompressor(lzma.FORMAT_XZ if codec == 'xz' else lzma.FORMAT_ALONE)
if codec == 'lz4':
    out = subprocess.run(['lz4', '-dc'], input=np[:-4], capture_output=True).stdout
    rest = b''
else:
    out = d.decompress(np)
    assert d.eof, 'stream does not end'
    rest = d.unused_data
assert rest == b'' or (rest[-4:] == np[-4:] and not any(rest[:-4])), \
    'after the stream: %d bytes, not zeros and the size' % len(rest)
assert len(out) == len(image), 'decoded %d bytes, Image %d' % (len(out), len(image))
diff = [i for i in range(0, len(out), 4) if out[i:i + 4] != image[i:i + 4]]
assert diff and diff[-1] - diff[0] < 8192, 'changes spread over %s' % (diff and (diff[0], diff[-1]))
assert out.find(der) >= 0 and image.find(der) < 0, 'certificate'
print('piggy at 0x%x, %d bytes; new stream %d bytes + %d; Image changed in [0x%x, 0x%x]'
      % (at, len(piggy), len(np) - len(rest), len(rest), diff[0], diff[-1] + 4))
EOF
}

# --- the control: no key of ours
cp "$KDIR/zImage-gzip" z.gzip
boot control z.gzip
check "control: the build's own key is there" grep -q "^FWSIGN-KEY .* asymmetri Build time autogenerated kernel key: " control.log
check "control: the builtin keyring holds 1 key" grep -q "^FWSIGN-KEY .* keyring *\.builtin_trusted_keys: 1\$" control.log
check "control: no key of ours" not grep -q "$CN" control.log

for c in gzip xz lzma lz4; do
	cp "$KDIR/zImage-$c" z.$c
	"$FWSIGN" info z.$c >info.$c 2>&1
	check "$c: info: ARM zImage > $c > ARM Image" grep -q "layers: *ARM zImage > $c > ARM Image" info.$c
	check "$c: info: slot of incompressible filler" grep -q "slot holds: *empty (incompressible filler)" info.$c
	expect_exit 0 "$c: inject-cert" "$FWSIGN" inject-cert z.$c --cert vendor.der -o z.$c.inj
	sed "s/^/  $c: /" "$WORK/out.txt"
	check "$c: same size" [ "$(stat -c %s z.$c)" -eq "$(stat -c %s z.$c.inj)" ]
	if piggy_check z.$c z.$c.inj "$KDIR/piggy-$c" "$KDIR/Image" $c vendor.der >pc.$c 2>&1; then
		pass; else fail "$c: piggy check: $(cat pc.$c)"; fi
	sed "s/^/  $c: /" pc.$c
	"$FWSIGN" info z.$c.inj >info.$c.inj 2>&1
	check "$c: info reads our certificate back" grep -q "certificate: *$CN" info.$c.inj
	boot "$c" z.$c.inj
	trusted "$c"
done

# --- in a uImage: U-Boot's CRCs kept right, QEMU boots it as U-Boot would
mkimage -A arm -O linux -T kernel -C none -a 0x40008000 -e 0x40008000 -n arm-test \
	-d z.gzip uImage >/dev/null
expect_exit 0 "uImage: inject-cert" "$FWSIGN" inject-cert uImage --cert vendor.der -o uImage.inj
check "uImage: layers" grep -q "uImage > ARM zImage > gzip > ARM Image" "$WORK/out.txt"
check "uImage: mkimage -l reads the result" sh -c "mkimage -l uImage.inj | grep -q 'Image Name: *arm-test'"
dumpimage -T kernel -p 0 -o uImage.data uImage.inj >/dev/null 2>&1
check "uImage: dumpimage's payload is a zImage of our size" [ "$(stat -c %s uImage.data)" -eq "$(stat -c %s z.gzip)" ]
if python3 - uImage.inj <<'EOF'; then pass; else fail "uImage: header and data CRC32 (recomputed here)"; fi
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
h = bytearray(b[:64])
hcrc, size, dcrc = struct.unpack_from('>I', h, 4)[0], struct.unpack_from('>I', h, 12)[0], struct.unpack_from('>I', h, 24)[0]
assert zlib.crc32(b[64:64 + size]) == dcrc, 'data CRC'
h[4:8] = bytes(4)
assert zlib.crc32(bytes(h)) == hcrc, 'header CRC'
EOF
boot uImage uImage.inj
trusted uImage

# --- in a FIT: fwsign sign rebuilds it (hashes), dumpimage takes it out
mkimage -f auto -A arm -O linux -T kernel -C none -a 0x40008000 -e 0x40008000 \
	-n arm-fit -d z.gzip fit.itb >/dev/null
mkdir -p keys && cp vendor.key vendor.crt keys/
"$FWSIGN" sign fit.itb -o fit.signed.itb -k vendor.key -c vendor.crt >fit.txt 2>&1
check "FIT: signed ($(tail -1 fit.txt))" grep -q "1 kernel: 1 hold the certificate" fit.txt
dumpimage -T flat_dt -p 0 -o fit.zImage fit.signed.itb >/dev/null 2>&1
check "FIT: the kernel is inject-cert's output" cmp -s fit.zImage z.gzip.inj
fitcrc=$(mkimage -l fit.signed.itb | sed -n 's/^ *Hash value: *//p')
check "FIT: mkimage -l's crc32 ($fitcrc) is the new kernel's" [ "$fitcrc" = "$(python3 -c '
import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' fit.zImage)" ]
boot FIT fit.zImage
trusted FIT

# --- on a Raspberry Pi-like FAT boot partition (mkfs.vfat, mcopy), beside
# Debian's zImage (no slot: skipped) under a long name; mtype reads the
# signed kernel back and it boots
need_tools mkfs.vfat mcopy mtype
rm -f boot.img
mkfs.vfat -C -n BOOT boot.img 32768 >/dev/null
printf 'kernel=kernel7l.img\n' >config.txt
mcopy -i boot.img config.txt ::config.txt
mcopy -i boot.img z.gzip ::kernel7l.img
mcopy -i boot.img "$DEB/armhf/vmlinuz" ::vmlinuz-6.1.0-armmp-lpae
"$FWSIGN" sign boot.img -o boot.signed.img -k vendor.key -c vendor.crt \
	--skip-kernels-without-slot >boot.txt 2>&1
check "FAT: kernels counted ($(tail -1 boot.txt))" grep -q "^2 kernels: 1 hold the certificate, 1 without a slot" boot.txt
check "FAT: Debian's zImage by its long name" grep -q "^  vmlinuz-6.1.0-armmp-lpae  kernel .*ARM zImage > xz > ARM Image" boot.txt
mtype -i boot.signed.img ::kernel7l.img >fat.zImage
check "FAT: kernel7l.img is inject-cert's output" cmp -s fat.zImage z.gzip.inj
mtype -i boot.signed.img ::vmlinuz-6.1.0-armmp-lpae >fat.deb
check "FAT: Debian's zImage unchanged" cmp -s fat.deb "$DEB/armhf/vmlinuz"
boot FAT-kernel7l fat.zImage
trusted FAT-kernel7l

# --- refused: nothing written
refuse() {	# refuse NAME KERNEL PATTERN
	rm -f r.out
	expect_exit 3 "$1: exit 3" "$FWSIGN" inject-cert "$2" --cert vendor.der -o r.out
	check "$1: one line ($ERR)" [ "$(wc -l <"$WORK/err.txt")" -eq 1 ]
	check "$1: says '$3'" grep -q -- "$3" "$WORK/err.txt"
	check "$1: nothing written" [ ! -e r.out ]
}
cp "$KDIR/zImage-lzo" z.lzo
refuse lzo z.lzo "z.lzo: ARM zImage compressed with lzo: this tool does not rebuild lzo streams"
cp "$DEB/armhf/vmlinuz" debian.zImage
"$FWSIGN" info debian.zImage >info.deb 2>&1
check "debian: info: ARM zImage > xz > ARM Image" grep -q "layers: *ARM zImage > xz > ARM Image" info.deb
check "debian: info: no slot" grep -q "slot: *none" info.deb
refuse debian debian.zImage "debian.zImage: no extra-certificate slot found"
echo "total $(($(date +%s) - t0)) s"
done_tests
