#!/bin/bash
# fwsign inject-cert and fwsign info on kernels, checked without fwsign:
# outputs are unpacked with the reference tools (objcopy, gzip, xz, lzma,
# lz4, zstd, dumpimage) and the slot, system_extra_cert_used and
# system_certificate_list_size are read back at the System.map addresses
# by a separate checker.
#
# Kernels: the test kernel built by tests/e2e/build-kernel.sh (x86_64, with
# kernel/0001's incompressible slot) in every format (vmlinux, stripped,
# raw, Image.gz, xz, lzma, lz4, zstd, uImage, bzImage); small kernel-like
# ELF images assembled by clang from the kernel's own
# certs/system_certificates.S for ten targets (ELF32/64, little and big
# endian, the two .align conventions); Debian's real amd64 bzImage and
# arm64 Image, which have no slot and must be refused cleanly.
. "$(dirname "$0")/lib.sh"

KTREE=$("$SRCDIR/tests/e2e/build-kernel.sh") || { echo "kernel build failed" >&2; exit 1; }
DEB=$("$SRCDIR/tests/e2e/fetch-debian-kernels.sh" amd64 arm64) ||
	{ echo "cannot fetch Debian kernels" >&2; exit 1; }
for t in clang ld.lld llvm-nm llvm-objcopy mkimage dumpimage lz4 zstd lzma xz python3; do
	command -v $t >/dev/null || { echo "missing $t (scripts/deps.sh)" >&2; exit 1; }
done
key vendor --rsa 2048
key other --rsa 3072
V=$WORK/keys/vendor.der
O=$WORK/keys/other.der
cd "$WORK" || exit 1

# check.py RAW MAP CERT [be]: RAW is the plain image laid out from _text
# (objcopy -O binary); the slot must hold CERT, zeros after it, used =
# its length, list size = builtin list + its length.
cat >check.py <<'EOF'
import sys
raw, mapf, cert = sys.argv[1:4]
bo = "big" if len(sys.argv) > 4 and sys.argv[4] == "be" else "little"
b = open(raw, "rb").read()
c = open(cert, "rb").read()
sym, digits = {}, 8
for line in open(mapf):
    a, t, n = line.split()[:3]
    sym.setdefault(n, int(a, 16))
    digits = max(digits, len(a))
w = 8 if digits > 8 else 4
base = sym.get("_text", sym.get("_stext"))
off = lambda n: sym[n] - base
x, u, l, lst = (off(n) for n in ("system_extra_cert", "system_extra_cert_used",
                                 "system_certificate_list_size", "system_certificate_list"))
err = []
if not b[off("linux_banner"):].startswith(b"Linux version "):
    err.append("linux_banner not at its address: wrong layout")
if b[x:x + len(c)] != c:
    err.append("slot does not hold the certificate")
if any(b[x + len(c):u]):
    err.append("slot not zero after the certificate")
used = int.from_bytes(b[u:u + 4], bo)
lsize = int.from_bytes(b[l:l + w], bo)
if used != len(c):
    err.append("system_extra_cert_used %d, want %d" % (used, len(c)))
if lsize != x - lst + len(c):
    err.append("list size %d, want %d" % (lsize, x - lst + len(c)))
for e in err:
    print("check.py: %s: %s" % (raw, e), file=sys.stderr)
sys.exit(1 if err else 0)
EOF
checkslot() {	# checkslot RAW MAP CERT [be]
	python3 check.py "$@"
}

# bzimage.py: the setup header fields and CRC of a bzImage; writes its
# payload out.  Exit 1 when the CRC or the decompressor's length is wrong.
cat >bzimage.py <<'EOF'
import sys, struct, zlib
b = open(sys.argv[1], "rb").read()
setup = b[0x1f1] or 4
pm = (setup + 1) * 512
poff, plen = struct.unpack_from("<II", b, 0x248)
pay = b[pm + poff:pm + poff + plen]
ok = True
if (~zlib.crc32(b[:-4]) & 0xffffffff) != struct.unpack_from("<I", b, len(b) - 4)[0]:
    print("bzimage.py: CRC32 wrong", file=sys.stderr); ok = False
olen = pay[-4:]
if b.count(struct.pack("<I", plen) + olen) != 1:
    print("bzimage.py: input_len does not match payload_length", file=sys.stderr); ok = False
open(sys.argv[2], "wb").write(pay)
print(plen)
sys.exit(0 if ok else 1)
EOF

inject() {	# inject WHAT IN OUT [options]: must succeed
	local what=$1 in=$2 out=$3; shift 3
	expect_exit 0 "$what" "$FWSIGN" inject-cert "$in" --cert "$V" -o "$out" "$@"
}
info_has() {	# info_has WHAT PATTERN FILE [options]
	local what=$1 pat=$2 f=$3; shift 3
	"$FWSIGN" info "$f" "$@" >info.txt 2>&1
	check "$what: info says '$pat' ($(tr '\n' ' ' <info.txt))" grep -q "$pat" info.txt
}
# refuse CODE WHAT PATTERN IN [options]: a one-line error, nothing written
refuse() {
	local code=$1 what=$2 pat=$3 in=$4; shift 4
	rm -f refused.out
	expect_exit "$code" "$what" "$FWSIGN" inject-cert "$in" -o refused.out "$@"
	check "$what: one line ($ERR)" [ "$(wc -l <err.txt)" -eq 1 ]
	check "$what: says '$pat' ($ERR)" grep -q -- "$pat" err.txt
	check "$what: nothing written" [ -z "$(ls -A | grep -e refused.out -e fwsign-)" ]
}

# ------------------------------------------------------------------
# The test kernel, every format.
MAP=$KTREE/System.map
cp "$KTREE/vmlinux" vmlinux
cp "$KTREE/arch/x86/boot/bzImage" bzImage
llvm-objcopy -O binary vmlinux vmlinux.raw

info_has "vmlinux" "incompressible filler" vmlinux
info_has "vmlinux" "symbol table" vmlinux
inject "vmlinux" vmlinux v.inj
llvm-objcopy -O binary v.inj v.inj.raw
check "vmlinux: slot checked" checkslot v.inj.raw "$MAP" "$V"
check "vmlinux: only the slot and its words changed" \
	[ "$(cmp -l vmlinux.raw v.inj.raw | wc -l)" -le $((4096 + 16)) ]
info_has "vmlinux injected" "certificate: *vendor" v.inj
"$FWSIGN" info v.inj --json >info.json
check "info --json" python3 -c "import json,sys; d=json.load(open('info.json')); sys.exit(not (d['used']==$(stat -c %s "$V") and d['subject']=='vendor' and d['slot_size']==4096))"
refuse 3 "slot in use without --replace" "already holds a certificate ('vendor'" v.inj --cert "$O"
inject "vmlinux --replace" v.inj v.rep --replace
expect_exit 0 "replace with another cert" "$FWSIGN" inject-cert v.inj --cert "$O" -o v.rep2 --replace
llvm-objcopy -O binary v.rep2 v.rep2.raw
check "replaced: slot holds the other cert" checkslot v.rep2.raw "$MAP" "$O"
check "mode kept" [ "$(stat -c %a v.inj)" = "$(stat -c %a vmlinux)" ]

llvm-objcopy --strip-all vmlinux vmlinux.stripped
inject "stripped vmlinux + System.map" vmlinux.stripped s.inj --system-map "$MAP"
llvm-objcopy -O binary s.inj s.inj.raw
check "stripped + map: slot checked" checkslot s.inj.raw "$MAP" "$V"
info_has "stripped, no map" "layout scan" vmlinux.stripped
inject "stripped vmlinux, no map" vmlinux.stripped s2.inj
check "stripped, scan: same result as with the map" cmp -s s.inj s2.inj
info_has "stripped injected, scan finds the certificate" "certificate: *vendor" s2.inj

inject "raw image + System.map" vmlinux.raw r.inj --system-map "$MAP"
check "raw: slot checked" checkslot r.inj "$MAP" "$V"
refuse 3 "raw image without System.map" "system-map" vmlinux.raw --cert "$V"

# Compressed raw images, made as kbuild makes them (lz4: size word
# appended); 13 CPU s, so made once a kernel (cached, lib.sh).
RAWSUM=$(sha256sum <vmlinux.raw)
cached Image.gz "$RAWSUM" sh -c 'gzip -9n <vmlinux.raw'
cached Image.xz "$RAWSUM" sh -c 'xz -6 --check=crc32 -T1 <vmlinux.raw'
cached Image.lzma "$RAWSUM" sh -c 'lzma -9 <vmlinux.raw'
cached Image.lz4 "$RAWSUM" sh -c 'lz4 -l -9 -q -c <vmlinux.raw &&
	python3 -c "import sys,os; sys.stdout.buffer.write(os.path.getsize(\"vmlinux.raw\").to_bytes(4,\"little\"))"'
cached Image.zst "$RAWSUM" sh -c 'zstd -19 -q -c <vmlinux.raw'
for z in gz:gzip xz:xz lzma:lzma lz4:lz4 zst:zstd; do
	ext=${z%%:*} tool=${z#*:}
	info_has "Image.$ext" "$tool > raw image" Image.$ext --system-map "$MAP"
	start=$(date +%s.%N)
	inject "Image.$ext" Image.$ext i.$ext --system-map "$MAP"
	echo "inject Image.$ext: $(echo "$(date +%s.%N) - $start" | bc) s"
	case $tool in
	lz4) lz4 -dc <i.$ext >i.$ext.raw 2>/dev/null ;;
	*) $tool -dc <i.$ext >i.$ext.raw ;;
	esac
	check "Image.$ext: $tool reads it back" [ "$(stat -c %s i.$ext.raw)" = "$(stat -c %s vmlinux.raw)" ]
	check "Image.$ext: slot checked" checkslot i.$ext.raw "$MAP" "$V"
done
check "xz: integrity check kept" sh -c "xz -lvv i.xz | grep -q CRC32"
check "lz4: size word kept" cmp -s <(tail -c 4 Image.lz4) <(tail -c 4 i.lz4)
head -c $(($(stat -c %s Image.gz) / 2)) Image.gz >trunc.gz
refuse 3 "truncated gzip stream" "truncated" trunc.gz --cert "$V" --system-map "$MAP"
python3 -c "
b=bytearray(open('Image.xz','rb').read()); b[len(b)//2]^=0x55; open('corrupt.xz','wb').write(b)"
refuse 3 "corrupt xz stream" "xz stream" corrupt.xz --cert "$V" --system-map "$MAP"

# uImage around them.
for z in none:vmlinux.raw gzip:Image.gz lzma:Image.lzma lz4:Image.lz4 zstd:Image.zst; do
	c=${z%%:*} f=${z#*:}
	mkimage -A x86_64 -O linux -T kernel -C "$c" -a 0x1000000 -e 0x1000000 \
		-n fwsign-test -d "$f" u.$c >/dev/null
	inject "uImage ($c)" u.$c u.$c.inj --system-map "$MAP"
	check "uImage ($c): dumpimage verifies it" dumpimage -T kernel -p 0 -o u.$c.data u.$c.inj
	check "uImage ($c): header listed" sh -c "dumpimage -l u.$c.inj | grep -q 'Image Name: *fwsign-test'"
	check "uImage ($c): ih_time kept" cmp -s <(head -c 12 u.$c | tail -c 4) <(head -c 12 u.$c.inj | tail -c 4)
	case $c in
	none) cp u.$c.data u.$c.raw ;;
	lz4) lz4 -dc <u.$c.data >u.$c.raw 2>/dev/null ;;
	*) $c -dc <u.$c.data >u.$c.raw ;;
	esac
	check "uImage ($c): slot checked" checkslot u.$c.raw "$MAP" "$V"
done
SOURCE_DATE_EPOCH=1234567890 "$FWSIGN" inject-cert u.gzip --cert "$V" -o u.sde --system-map "$MAP" >/dev/null
check "uImage: SOURCE_DATE_EPOCH sets ih_time" sh -c "dumpimage -l u.sde | grep -q 'Created: .*2009'"
check "uImage (SOURCE_DATE_EPOCH): verifies" dumpimage -T kernel -p 0 -o u.sde.data u.sde
python3 -c "
b=bytearray(open('u.gzip','rb').read()); b[20]^=1; open('u.badh','wb').write(b)
b=bytearray(open('u.gzip','rb').read()); b[5000]^=1; open('u.badd','wb').write(b)"
refuse 3 "uImage, wrong header CRC" "header CRC" u.badh --cert "$V" --system-map "$MAP"
refuse 3 "uImage, wrong data CRC" "data CRC" u.badd --cert "$V" --system-map "$MAP"
mkimage -A x86_64 -O linux -T ramdisk -C none -d vmlinux.raw u.ramdisk >/dev/null
refuse 3 "uImage that is not a kernel" "not a kernel" u.ramdisk --cert "$V"

# bzImage: payload patched in place.
info_has "bzImage" "bzImage > xz > ELF64" bzImage
info_has "bzImage" "incompressible filler" bzImage
start=$(date +%s.%N)
inject "bzImage" bzImage b.inj
echo "inject bzImage: $(echo "$(date +%s.%N) - $start" | bc) s"
check "bzImage: same size" [ "$(stat -c %s b.inj)" = "$(stat -c %s bzImage)" ]
check "bzImage: CRC32 and lengths right" python3 bzimage.py b.inj b.payload >/dev/null
xz -dc --single-stream <b.payload >b.vmlinux.bin
llvm-objcopy -O binary b.vmlinux.bin b.raw
check "bzImage: slot checked" checkslot b.raw "$MAP" "$V"
inject "bzImage + System.map" bzImage b2.inj --system-map "$MAP"
check "bzImage: map and scan agree" cmp -s b.inj b2.inj
check "bzImage: 'file' still sees a bzImage" sh -c "file b.inj | grep -q bzImage"
info_has "bzImage injected" "certificate: *vendor" b.inj
cp bzImage b.badcrc
printf '\001' | dd of=b.badcrc bs=1 seek=$(($(stat -c %s bzImage) - 1)) conv=notrunc 2>/dev/null
refuse 3 "bzImage, wrong CRC32" "CRC32" b.badcrc --cert "$V"
head -c 600000 bzImage >b.trunc
refuse 3 "truncated bzImage" "bzImage" b.trunc --cert "$V"
# A bzImage whose slot is zeros (a stock kernel) and whose payload fills
# its room: the filler zeroed, recompressed as kbuild does, the file cut
# to fit (not bootable, but every field fwsign reads is right).
cat >stock.py <<'EOF2'
import lzma, struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
pm = ((b[0x1f1] or 4) + 1) * 512
poff, plen = struct.unpack_from("<II", b, 0x248)
pay = bytes(b[pm + poff:pm + poff + plen])
d = bytearray(lzma.LZMADecompressor().decompress(pay))
seed, f = 1, bytearray()
for i in range(4096):
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    f.append((seed >> 16) & 0xff)
at = d.find(f)
assert at > 0 and d.find(f, at + 1) < 0
d[at:at + 4096] = bytes(4096)
z = lzma.compress(bytes(d), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                  filters=[{"id": lzma.FILTER_X86},
                           {"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 32 << 20}])
z += pay[-4:]
old = struct.pack("<I", plen) + pay[-4:]
out = b[:pm + poff] + z + b[pm + poff + plen:-4]
out[0x24c:0x250] = struct.pack("<I", len(z))
i = out.find(old)
out[i:i + 4] = struct.pack("<I", len(z))
out += struct.pack("<I", ~zlib.crc32(out) & 0xffffffff)
open(sys.argv[2], "wb").write(out)
EOF2
if python3 stock.py bzImage b.stock; then
	info_has "bzImage with a stock slot: not found without a map" "slot: *none" b.stock
	info_has "bzImage with a stock slot + map" "empty (zeros)" b.stock --system-map "$MAP"
	refuse 3 "bzImage, stock slot, no room" "no longer fits this bzImage" b.stock \
		--cert "$V" --system-map "$MAP"
	check "refusal names the patch" grep -q "kernel/0001-certs-fill-extra-certificate-slot" err.txt
	check "refusal says how to rebuild bzImage" grep -q "make bzImage" err.txt
else
	fail "cannot make the stock-slot bzImage"
fi

# ------------------------------------------------------------------
# Kernel-like images for ten targets, assembled from the kernel's own
# certs/system_certificates.S (with kernel/0001), its stock version (zeros)
# and a kernel without the slot.
mkdir -p certs
openssl x509 -in "$KTREE/certs/signing_key.pem" -outform DER -out certs/signing_key.x509 2>/dev/null ||
	cp "$V" certs/signing_key.x509
: >certs/x509_certificate_list
sed -e '/#include/d' -e 's/__INITRODATA/.section .init.rodata,"a"/' \
	"$KTREE/certs/system_certificates.S" >certs-filler.S
awk '/\.set extra_cert_seed, 1/ { skip = 1; print "\t.fill CONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE, 1, 0" }
	!skip { print } /\.endr/ { skip = 0 }' certs-filler.S >certs-zeros.S
check "stock slot source made" grep -q "fill CONFIG_SYSTEM_EXTRA" certs-zeros.S
cat >mini.S <<'EOF'
	.text
	.globl _text
_text:
	.fill 0x18, 1, 0
	.byte ARM64_FLAGS
	.fill 0x38 - 0x19, 1, 0
#ifdef ARM64_HDR
	.ascii "ARM\x64"
#else
	.long 0
#endif
	.fill 0x100, 1, 0
	.section .init.text,"ax"
	.long 0
	.section .rodata,"a"
	.globl linux_banner
linux_banner:
	.asciz "Linux version 6.1.0-fwsign-mini"
#include CERTS
EOF
mini() {	# mini TARGET VARIANT(filler|zeros|noslot|small) -> TARGET-VARIANT.{elf,map,stripped,raw}
	local t=$1 v=$2 d="-DARM64_FLAGS=0" src=certs-filler.S n=$1-$2
	case $t in x86_64|aarch64*|mips64el|powerpc64|riscv64) d="$d -DCONFIG_64BIT" ;; esac
	case $t in aarch64) d="$d -DARM64_HDR" ;; aarch64_be) d="-DCONFIG_64BIT -DARM64_HDR -DARM64_FLAGS=1" ;; esac
	case $v in
	filler) d="$d -DCONFIG_SYSTEM_EXTRA_CERTIFICATE -DCONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE=4096" ;;
	zeros) d="$d -DCONFIG_SYSTEM_EXTRA_CERTIFICATE -DCONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE=4096"; src=certs-zeros.S ;;
	small) d="$d -DCONFIG_SYSTEM_EXTRA_CERTIFICATE -DCONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE=512" ;;
	esac
	clang --target=$t-linux-gnu -c -x assembler-with-cpp $d -DCERTS="\"$src\"" mini.S -o $n.o 2>/dev/null &&
	ld.lld -static -e _text --image-base=0 -Ttext=0x80000000 $n.o -o $n.elf 2>/dev/null &&
	llvm-nm -n $n.elf >$n.map &&
	llvm-objcopy --strip-all $n.elf $n.stripped &&
	llvm-objcopy -O binary $n.elf $n.raw
}
for t in x86_64 i386 aarch64 aarch64_be mips mips64el powerpc powerpc64 riscv64 armeb; do
	case $t in aarch64_be|mips|powerpc|powerpc64|armeb) bo=be ;; *) bo=le ;; esac
	if ! mini $t filler; then fail "$t: cannot assemble the mini kernel"; continue; fi
	n=$t-filler
	info_has "$t ELF" "incompressible filler" $n.elf
	inject "$t ELF" $n.elf $n.inj
	llvm-objcopy -O binary $n.inj $n.inj.raw
	check "$t ELF: slot checked" checkslot $n.inj.raw $n.map "$V" $bo
	inject "$t stripped + map" $n.stripped $n.s.inj --system-map $n.map
	llvm-objcopy -O binary $n.s.inj $n.s.raw
	check "$t stripped + map: slot checked" checkslot $n.s.raw $n.map "$V" $bo
	inject "$t stripped, layout scan" $n.stripped $n.s2.inj
	check "$t stripped, scan = map" cmp -s $n.s.inj $n.s2.inj
	info_has "$t stripped injected: scan finds it" "certificate: *vendor" $n.s2.inj
	expect_exit 0 "$t stripped: --replace found by scan" "$FWSIGN" inject-cert $n.s2.inj --cert "$O" -o $n.s3.inj --replace
	llvm-objcopy -O binary $n.s3.inj $n.s3.raw
	check "$t stripped, replaced: slot checked" checkslot $n.s3.raw $n.map "$O" $bo
	inject "$t raw + map" $n.raw $n.r.inj --system-map $n.map
	check "$t raw + map: slot checked" checkslot $n.r.inj $n.map "$V" $bo
	case $t in aarch64*)
		inject "$t Image, layout scan" $n.raw $n.r2.inj
		check "$t Image: scan = map" cmp -s $n.r.inj $n.r2.inj
		gzip -9n <$n.raw >$n.Image.gz
		info_has "$t Image.gz" "gzip > arm64 Image" $n.Image.gz
		inject "$t Image.gz, layout scan" $n.Image.gz $n.gz.inj
		gzip -dc <$n.gz.inj >$n.gz.raw
		check "$t Image.gz: slot checked" checkslot $n.gz.raw $n.map "$V" $bo
		;;
	esac
	refuse 3 "$t: another kernel's System.map" "System.map" $n.stripped --cert "$V" --system-map "$MAP"
done
for t in x86_64 aarch64_be mips; do
	mini $t zeros && mini $t noslot && mini $t small || { fail "$t: cannot assemble"; continue; }
	n=$t-zeros
	info_has "$t stock slot" "empty (zeros)" $n.elf
	inject "$t stock slot, ELF" $n.elf $n.inj
	case $t in aarch64_be|mips) bo=be ;; *) bo=le ;; esac
	llvm-objcopy -O binary $n.inj $n.inj.raw
	check "$t stock slot: slot checked" checkslot $n.inj.raw $n.map "$V" $bo
	info_has "$t stock slot, stripped: not found without a map" "slot: *none" $n.stripped
	inject "$t stock slot, stripped + map" $n.stripped $n.s.inj --system-map $n.map
	info_has "$t stock slot injected, stripped: scan finds it" "certificate: *vendor" $n.s.inj
	n=$t-noslot
	refuse 3 "$t without slot, ELF" "no extra-certificate slot" $n.elf --cert "$V"
	refuse 3 "$t without slot, stripped" "no extra-certificate slot" $n.stripped --cert "$V"
	refuse 3 "$t without slot, map" "no extra-certificate slot" $n.stripped --cert "$V" --system-map $n.map
	info_has "$t without slot" "slot: *none" $n.stripped
	refuse 3 "$t: certificate bigger than the slot" "does not fit the 512-byte" $t-small.elf --cert "$V"
done

# ------------------------------------------------------------------
# Debian's real kernels: no slot, refused; info says so.
for a in amd64 arm64; do
	info_has "Debian $a kernel" "slot: *none" "$DEB/$a/vmlinuz"
	refuse 3 "Debian $a kernel" "no extra-certificate slot" "$DEB/$a/vmlinuz" --cert "$V"
	refuse 3 "Debian $a kernel, placeholder System.map" "placeholder System.map" \
		"$DEB/$a/vmlinuz" --cert "$V" --system-map "$DEB/$a/System.map"
done
info_has "Debian amd64 kernel is a bzImage" "bzImage > xz > ELF64" "$DEB/amd64/vmlinuz"
info_has "Debian arm64 kernel is an Image" "arm64 Image" "$DEB/arm64/vmlinuz"

# ------------------------------------------------------------------
# fwsign sign --kernel: the signing certificate (PEM here) goes into the
# kernel along with signing the tree; a refused kernel writes nothing.
mkdir -p tree/bin
cp "$(command -v busybox || echo /bin/busybox)" tree/bin/ 2>/dev/null || cp /bin/true tree/bin/
K=$WORK/keys/vendor
expect_exit 0 "sign --kernel" "$FWSIGN" sign tree -o tree.signed --key $K.key --cert $K.crt \
	--kernel vmlinux --kernel-out k.signed
check "sign --kernel: says so" grep -q "k.signed: certificate 'vendor'" out.txt
llvm-objcopy -O binary k.signed k.signed.raw
check "sign --kernel: slot checked (DER of the PEM cert)" checkslot k.signed.raw "$MAP" "$V"
check "sign --kernel: tree signed" [ -d tree.signed ]
expect_exit 3 "sign --kernel, kernel without slot" "$FWSIGN" sign tree -o tree.signed2 \
	--key $K.key --cert $K.crt --kernel "$DEB/amd64/vmlinuz" --kernel-out k.signed2
check "sign --kernel refused: no tree written" [ ! -e tree.signed2 ]
check "sign --kernel refused: no kernel written" [ ! -e k.signed2 ]
expect_exit 2 "sign --kernel without --kernel-out" "$FWSIGN" sign tree -o tree.signed3 \
	--key $K.key --cert $K.crt --kernel vmlinux

# ------------------------------------------------------------------
# Bad input and usage.
refuse 3 "not a kernel" "not a kernel" /etc/passwd --cert "$V"
if [ -f "$FIXTURES/amd64/bin/busybox" ]; then
	refuse 3 "an ordinary executable" "not a kernel" "$FIXTURES/amd64/bin/busybox" --cert "$V"
fi
ko=$(find "$FIXTURES/amd64/modules" -name '*.ko' 2>/dev/null | head -n 1)
[ -z "$ko" ] || refuse 3 "a kernel module" "not a kernel" "$ko" --cert "$V"
refuse 3 "missing kernel" "nosuch" nosuch --cert "$V"
refuse 3 "missing System.map" "nosuch.map" vmlinux.stripped --cert "$V" --system-map nosuch.map
refuse 4 "PEM certificate" "DER" vmlinux --cert "$WORK/keys/vendor.crt"
refuse 4 "not a certificate" "DER X.509" vmlinux --cert /etc/passwd
refuse 4 "missing certificate" "certificate" vmlinux --cert nosuch.der
: >exists
expect_exit 2 "output exists" "$FWSIGN" inject-cert vmlinux --cert "$V" -o exists
check "output exists: untouched" [ ! -s exists ]
expect_exit 2 "no --cert" "$FWSIGN" inject-cert vmlinux -o x.out
expect_exit 2 "no -o" "$FWSIGN" inject-cert vmlinux --cert "$V"
check "inputs untouched" cmp -s vmlinux "$KTREE/vmlinux"
check "inputs untouched (bzImage)" cmp -s bzImage "$KTREE/arch/x86/boot/bzImage"

done_tests
