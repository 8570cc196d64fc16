#!/bin/bash
# Vendor blobs, built here as the vendors' own tools build them, from the
# test kernel (tests/e2e/build-kernel.sh: it has the extra-certificate
# slot) and a squashfs of real Debian binaries and modules:
#   - a FIT with embedded data and one with external data (mkimage -E -B),
#   - an OpenWrt sysupgrade tar (GNU tar as OpenWrt calls it) of a FIT
#     kernel and a squashfs root, with an fwtool metadata trailer,
#   - the same with the rootfs inside the FIT (OpenWrt filogic style),
#   - a legacy flash image: uImage, then the squashfs at 64 KiB, padded
#     with 0xff to a fixed size; multi-file uImages.
# Each is signed with one command; then the reference tools read the
# result (mkimage -l, dumpimage, fdtget, tar, unsquashfs), every hash and
# CRC is recomputed here independently (python3), the rootfs verifies,
# the kernel holds the certificate, and what is not ours is byte-identical.
# Hostile layouts give one line, exit 3 and no output.
. "$(dirname "$0")/lib.sh"
need_fixtures
for t in mkimage dumpimage fdtget dtc mksquashfs unsquashfs tar python3; do
	command -v $t >/dev/null || { echo "missing $t (scripts/deps.sh)" >&2; exit 1; }
done
KTREE=$("$SRCDIR/tests/e2e/build-kernel.sh") || { echo "kernel build failed" >&2; exit 1; }
cd "$WORK" || exit 1
export SOURCE_DATE_EPOCH=1700000000
key vendor --rsa 2048
key other --rsa 2048
K=$WORK/keys

# --- the parts -----------------------------------------------------------
cp "$KTREE/arch/x86/boot/bzImage" kernel.bin
mkdir -p root/bin root/lib/modules root/etc
cp "$FIXTURES/amd64/bin/busybox" root/bin/busybox
ln -s busybox root/bin/sh
find "$FIXTURES/amd64/modules" -name '*.ko' | head -n 5 | xargs -I{} cp {} root/lib/modules/
echo "vendor=acme" >root/etc/release
mksquashfs root root.sqfs -comp xz -noappend -all-root -quiet >/dev/null
NELF=$(find root -type f -name '*.ko' | wc -l)
NELF=$((NELF + 1))

# python3 checks: crc32-noxor chains, FIT hashes, uImage CRCs.
cat >check.py <<'EOF'
import hashlib, json, struct, sys, zlib

def fwtool(path):
    """The fwtool trailer chain: each CRC covers every byte before it."""
    d = open(path, 'rb').read()
    end, blocks = len(d), []
    while end >= 16 and d[end-16:end-12] == b'FWx0':
        size = struct.unpack('>I', d[end-4:end])[0]
        blocks.append((end - size, end))
        end -= size
    assert blocks, 'no fwtool trailer'
    for start, stop in blocks:
        crc = struct.unpack('>I', d[stop-12:stop-8])[0]
        want = (~zlib.crc32(d[:stop-16])) & 0xffffffff
        assert crc == want, 'fwtool crc %08x != %08x' % (crc, want)
    return d[blocks[-1][0]:]

def uimage(path, off=0):
    d = open(path, 'rb').read()[off:]
    h = bytearray(d[:64])
    assert h[:4] == b'\x27\x05\x19\x56', 'no uImage'
    hcrc = struct.unpack('>I', h[4:8])[0]
    h[4:8] = b'\0\0\0\0'
    assert zlib.crc32(bytes(h)) == hcrc, 'uImage header crc'
    size, dcrc = struct.unpack('>I', d[12:16])[0], struct.unpack('>I', d[24:28])[0]
    assert zlib.crc32(d[64:64+size]) == dcrc, 'uImage data crc'
    return 64 + size

cmd = sys.argv[1]
if cmd == 'fwtool':
    sys.stdout.buffer.write(fwtool(sys.argv[2]))
elif cmd == 'uimage':
    print(uimage(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0))
elif cmd == 'hash':	# hash ALGO FILE: the value as fdtget -tx prints it
    algo, data = sys.argv[2], open(sys.argv[3], 'rb').read()
    v = struct.pack('>I', zlib.crc32(data)) if algo == 'crc32' else hashlib.new(algo, data).digest()
    print(' '.join('%x' % x for x in struct.unpack('>%dI' % (len(v) // 4), v)))
elif cmd == 'append-fwtool':	# append-fwtool FILE JSON [sig]
    d = open(sys.argv[2], 'rb').read()
    out = d
    def block(payload, typ):
        global out
        crc = (~zlib.crc32(out + payload)) & 0xffffffff
        out += payload + struct.pack('>IIB3xI', 0x46577830, crc, typ, len(payload) + 16)
    block(struct.pack('>II', 0, 0) + open(sys.argv[3], 'rb').read(), 1)
    if len(sys.argv) > 4:
        block(b'\x01' * 128, 0)
    open(sys.argv[2], 'wb').write(out)
elif cmd == 'json':	# json FILE EXPR: prints eval(EXPR) with j the document
    j = json.load(open(sys.argv[2]))
    def find(node, fmt):
        r = [node] if node.get('format') == fmt else []
        for p in node.get('parts', []):
            r += find(p, fmt)
        return r
    print(eval(sys.argv[3]))
EOF

its() {	# its OUT [rootfs-in-fit]
	cat >"$1" <<EOF
/dts-v1/;
/ {
	description = "fwsign test FIT";
	#address-cells = <1>;
	images {
		kernel-1 {
			description = "x86 kernel";
			data = /incbin/("kernel.bin");
			type = "kernel"; arch = "x86_64"; os = "linux";
			compression = "none";
			load = <0x100000>; entry = <0x100000>;
			hash-1 { algo = "crc32"; };
			hash-2 { algo = "sha1"; };
		};
		fdt-1 {
			description = "a device tree";
			data = /incbin/("dummy.dtb");
			type = "flat_dt"; arch = "x86_64"; compression = "none";
			hash-1 { algo = "sha256"; };
		};
$( [ -n "${2:-}" ] && cat <<EOR
		rootfs-1 {
			description = "root";
			data = /incbin/("root.sqfs");
			type = "filesystem"; arch = "x86_64"; compression = "none";
			hash-1 { algo = "sha256"; };
			hash-2 { algo = "md5"; };
		};
EOR
)
	};
	configurations {
		default = "config-1";
		config-1 { kernel = "kernel-1"; fdt = "fdt-1"; };
	};
};
EOF
}
printf '/dts-v1/;\n/ { model = "acme,router"; };\n' | dtc -I dts -O dtb -o dummy.dtb - 2>/dev/null

# fit_check NAME FIT IMAGE-INDEX...: every image's hashes match its data
fit_check() {
	local name=$1 fit=$2 img i algo want got ok=1
	shift 2
	for i in "$@"; do
		img=$(fdtget -l "$fit" /images | sed -n "$((i + 1))p")
		dumpimage -T flat_dt -p "$i" -o "$name.p$i" "$fit" >/dev/null || { ok=0; break; }
		for h in $(fdtget -l "$fit" "/images/$img" | grep '^hash'); do
			algo=$(fdtget -ts "$fit" "/images/$img/$h" algo)
			want=$(python3 check.py hash "$algo" "$name.p$i")
			got=$(fdtget -tx "$fit" "/images/$img/$h" value)
			[ "$want" = "$got" ] || { echo "$name: $img/$h: $got != $want" >&2; ok=0; }
		done
	done
	[ $ok = 1 ]
}

# kernel_has_cert FILE: the kernel in FILE holds the vendor certificate
kernel_has_cert() {
	"$FWSIGN" info "$1" --json >"$1.kinfo" 2>/dev/null &&
		grep -q '"subject": *"vendor"\|"subject":"vendor"' "$1.kinfo"
}

# --- FIT, embedded and external data -------------------------------------
its fit.its
mkimage -f fit.its fit.itb >/dev/null
mkimage -E -B 0x1000 -f fit.its fitext.itb >/dev/null
for f in fit fitext; do
	check "$f: info sees a kernel with an empty slot" \
		sh -c "'$FWSIGN' info $f.itb | grep -q 'slot: empty'"
	expect_exit 0 "$f: sign" "$FWSIGN" sign $f.itb -o $f.signed \
		--key "$K/vendor.key" --cert "$K/vendor.crt"
	check "$f: mkimage -l reads the result" sh -c "mkimage -l $f.signed >$f.list"
	check "$f: every hash matches its data" fit_check $f $f.signed 0 1
	check "$f: the kernel holds the certificate" kernel_has_cert $f.p0
	check "$f: the dtb is byte-identical" cmp -s $f.p1 dummy.dtb
	expect_exit 0 "$f: verify" "$FWSIGN" verify $f.signed --cert "$K/vendor.crt"
	expect_exit 1 "$f: verify with another certificate" \
		"$FWSIGN" verify $f.signed --cert "$K/other.crt"
	expect_exit 1 "$f: verify of the unsigned input" \
		"$FWSIGN" verify $f.itb --cert "$K/vendor.crt"
done
# external data stays external, aligned as mkimage -B 0x1000 aligned it
check "fitext: no data embedded" sh -c "! fdtget fitext.signed /images/kernel-1 data >/dev/null 2>&1"
python3 - fitext.itb fitext.signed <<'EOF' && pass || fail "fitext: layout"
import struct, sys, subprocess
for f in sys.argv[1:]:
    d = open(f, 'rb').read()
    tot = struct.unpack('>I', d[4:8])[0]
    base = (tot + 3) & ~3
    for n in ('kernel-1', 'fdt-1'):
        off = int(subprocess.check_output(['fdtget', f, '/images/' + n, 'data-offset']))
        assert (base + off) % 0x1000 == 0, (f, n, hex(base + off))
EOF
# mkimage -p: the data stays at its fixed position
mkimage -E -p 0x2000 -f fit.its fitpos.itb >/dev/null
expect_exit 0 "fitpos: sign" "$FWSIGN" sign fitpos.itb -o fitpos.signed \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "fitpos: data-position 0x2000 kept" [ "$(fdtget fitpos.signed /images/kernel-1 data-position)" = 8192 ]
check "fitpos: every hash matches its data" fit_check fitpos fitpos.signed 0 1
# a FIT image node with a signature cannot be signed without the keys
mkdir -p fitkeys
openssl genrsa -out fitkeys/dev.key 2048 2>/dev/null
openssl req -batch -new -x509 -key fitkeys/dev.key -out fitkeys/dev.crt -subj /CN=dev 2>/dev/null
sed 's/hash-2 { algo = "sha1"; };/hash-2 { algo = "sha1"; };\n\t\t\tsignature-1 { algo = "sha1,rsa2048"; key-name-hint = "dev"; };/' fit.its >fitsig.its
mkimage -f fitsig.its -k fitkeys fitsig.itb >/dev/null
expect_exit 3 "signed FIT without --fit-keydir is refused" \
	"$FWSIGN" sign fitsig.itb -o fitsig.out --key "$K/vendor.key" --cert "$K/vendor.crt"
check "... saying why" grep -q "fit-keydir" "$WORK/err.txt"
check "... and writing nothing" [ ! -e fitsig.out ]
expect_exit 0 "signed FIT with --fit-keydir is signed again by mkimage" \
	"$FWSIGN" sign fitsig.itb -o fitsig.out --key "$K/vendor.key" \
	--cert "$K/vendor.crt" --fit-keydir fitkeys
check "... a new signature value (the hash it signs changed)" sh -c \
	"[ \"\$(fdtget -tx fitsig.out /images/kernel-1/signature-1 value)\" != \"\$(fdtget -tx fitsig.itb /images/kernel-1/signature-1 value)\" ]"
check "... its hashes match" fit_check fitsig fitsig.out 0 1

# --- sysupgrade tar with an fwtool trailer ---------------------------------
su_tar() {	# su_tar OUT KERNEL ROOT
	rm -rf su && mkdir -p su/sysupgrade-acme_router
	echo "BOARD=acme,router" >su/sysupgrade-acme_router/CONTROL
	cp "$2" su/sysupgrade-acme_router/kernel
	[ -n "$3" ] && cp "$3" su/sysupgrade-acme_router/root
	# as OpenWrt's sysupgrade-tar.sh calls GNU tar
	(cd su && tar --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@1700000000 -cf "$WORK/$1" sysupgrade-acme_router)
}
su_tar sysupgrade.bin fit.itb root.sqfs
printf '{"metadata_version":"1.1","compat_version":"1.0","supported_devices":["acme,router"],"version":{"dist":"OpenWrt","version":"23.05.0"}}' >meta.json
python3 check.py append-fwtool sysupgrade.bin meta.json
"$FWSIGN" info sysupgrade.bin >su.info
check "sysupgrade: info shows the tree" sh -c \
	"grep -q 'fwtool' su.info && grep -q 'sysupgrade-tar' su.info && grep -q 'sysupgrade-acme_router/root  squashfs' su.info && grep -q 'images/kernel-1  kernel' su.info"
"$FWSIGN" info sysupgrade.bin --json >su.json
check "sysupgrade: info --json has the tree" \
	[ "$(python3 check.py json su.json "len(find(j['tree'], 'FIT')), len(find(j['tree'], 'squashfs')), j['tree']['checksums']")" = "(1, 1, 'ok')" ]
expect_exit 0 "sysupgrade: sign" "$FWSIGN" sign sysupgrade.bin -o su.signed \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "sysupgrade: fwtool CRCs right, metadata byte for byte" sh -c \
	"python3 check.py fwtool su.signed | tail -c +9 | head -c $(stat -c %s meta.json) | cmp -s - meta.json"
check "sysupgrade: GNU tar lists the same members" \
	[ "$(tar -tvf su.signed 2>&1 | awk '{print $1, $2, $6}')" = "$(tar -tvf sysupgrade.bin 2>&1 | awk '{print $1, $2, $6}')" ]
rm -rf x && mkdir x && tar -xf su.signed -C x 2>/dev/null
check "sysupgrade: CONTROL kept" cmp -s x/sysupgrade-acme_router/CONTROL su/sysupgrade-acme_router/CONTROL
check "sysupgrade: root is a squashfs unsquashfs reads" unsquashfs -s x/sysupgrade-acme_router/root >/dev/null
expect_exit 0 "sysupgrade: the root verifies on its own" \
	"$FWSIGN" verify x/sysupgrade-acme_router/root --cert "$K/vendor.crt"
check "sysupgrade: every ELF and module in it signed" \
	[ "$(grep -o '[0-9]* good' "$WORK/out.txt" | cut -d' ' -f1)" = "$NELF" ]
check "sysupgrade: the FIT kernel's hashes match" fit_check suk x/sysupgrade-acme_router/kernel 0 1
check "sysupgrade: the kernel holds the certificate" kernel_has_cert suk.p0
expect_exit 0 "sysupgrade: verify walks the whole tree" \
	"$FWSIGN" verify su.signed --cert "$K/vendor.crt"
expect_exit 1 "sysupgrade: verify of the input finds the unsigned parts" \
	"$FWSIGN" verify sysupgrade.bin --cert "$K/vendor.crt"
check "... and says the kernel lacks the certificate" grep -q "1 kernel: 0 hold" "$WORK/out.txt"
expect_exit 0 "sysupgrade: --dry-run" "$FWSIGN" sign sysupgrade.bin --dry-run --json
check "... plans every ELF of the rootfs, writes nothing" sh -c \
	"[ \"\$(python3 check.py json '$WORK/out.txt' \"j['report']['summary']['signed'] + j['report']['summary']['resigned']\")\" = $NELF ] && [ -z \"\$(ls -A | grep fwsign- || true)\" ]"
"$FWSIGN" sign sysupgrade.bin -o su.again --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
check "sysupgrade: the same bytes twice (reproducible)" cmp -s su.signed su.again
"$FWSIGN" sign su.signed -o su.resigned --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
check "sysupgrade: re-signing a signed blob changes nothing" cmp -s su.signed su.resigned

# an fwtool signature block cannot survive: refused, or dropped when asked
su_tar susig.bin fit.itb root.sqfs
python3 check.py append-fwtool susig.bin meta.json sig
expect_exit 3 "fwtool signature block: refused" "$FWSIGN" sign susig.bin -o susig.out \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "... naming the way out" grep -q -- "--drop-image-signature" "$WORK/err.txt"
check "... nothing written" [ ! -e susig.out ]
check "... no temporary left" [ -z "$(ls -A | grep fwsign- || true)" ]
expect_exit 0 "fwtool signature block: dropped when asked" "$FWSIGN" sign susig.bin \
	-o susig.out --key "$K/vendor.key" --cert "$K/vendor.crt" --drop-image-signature
check "... the metadata stays, the signature goes" sh -c \
	"python3 check.py fwtool susig.out | tail -c 16 | od -An -tx1 | grep -q '^ 46 57 78 30 .. .. .. .. 01'"

# --- a gzip'ed sysupgrade tar (accepted by nand.sh), fwtool after it -------
su_tar sugz.tar fit.itb root.sqfs
gzip -9nc sugz.tar >sugz.bin
python3 check.py append-fwtool sugz.bin meta.json
check "gzip'ed sysupgrade: info sees the stream" sh -c \
	"'$FWSIGN' info sugz.bin | grep -q 'image  compressed'"
expect_exit 0 "gzip'ed sysupgrade: sign" "$FWSIGN" sign sugz.bin -o sugz.signed \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "gzip'ed sysupgrade: fwtool CRCs right" sh -c "python3 check.py fwtool sugz.signed >/dev/null"
rm -rf g && mkdir g && python3 - <<'EOF'
import struct, zlib
d = open('sugz.signed', 'rb').read()
size = struct.unpack('>I', d[-4:])[0]
open('sugz.gz', 'wb').write(d[:len(d) - size])
EOF
check "gzip'ed sysupgrade: gzip -t accepts the stream" gzip -t sugz.gz
zcat sugz.gz | tar -xf - -C g 2>/dev/null
expect_exit 0 "gzip'ed sysupgrade: the root verifies" "$FWSIGN" verify \
	g/sysupgrade-acme_router/root --cert "$K/vendor.crt"
check "gzip'ed sysupgrade: the FIT's hashes match" fit_check sugz g/sysupgrade-acme_router/kernel 0 1

# --- rootfs inside the FIT (filogic style), in a sysupgrade tar ------------
its fitroot.its rootfs
mkimage -E -B 0x1000 -f fitroot.its fitroot.itb >/dev/null
su_tar surf.bin fitroot.itb ""
python3 check.py append-fwtool surf.bin meta.json
expect_exit 0 "FIT with the rootfs inside: sign" "$FWSIGN" sign surf.bin -o surf.signed \
	--key "$K/vendor.key" --cert "$K/vendor.crt" --json
n=$(python3 -c "import json;s=json.load(open('$WORK/out.txt'))['report']['summary'];print(s['signed'] + s['resigned'])" 2>&1)
check "... the report counts the rootfs' files ($n of $NELF)" [ "$n" = "$NELF" ]
rm -rf y && mkdir y && tar -xf surf.signed -C y 2>/dev/null
check "... every FIT hash matches" fit_check surf y/sysupgrade-acme_router/kernel 0 1 2
expect_exit 0 "... the rootfs verifies" "$FWSIGN" verify surf.p2 --cert "$K/vendor.crt"

# --- legacy flash image: uImage, squashfs at 64 KiB, padded to 8 MiB --------
mkimage -A x86_64 -O linux -T kernel -C none -a 0x100000 -e 0x100000 \
	-n "acme kernel" -d kernel.bin uImage >/dev/null
flash() {	# flash OUT SIZE
	python3 - "$1" "$2" <<'EOF'
import sys
k = open('uImage', 'rb').read()
r = open('root.sqfs', 'rb').read()
off = (len(k) + 0xffff) & ~0xffff
img = k + b'\xff' * (off - len(k)) + r
img += b'\xff' * (int(sys.argv[2]) - len(img))
open(sys.argv[1], 'wb').write(img)
EOF
}
flash flash.bin $((8 << 20))
ROOT_OFF=$(( ($(stat -c %s uImage) + 0xffff) & ~0xffff ))
check "flash: info sees uImage and rootfs" sh -c \
	"'$FWSIGN' info flash.bin | grep -q 'rootfs  squashfs  at $(printf 0x%x $ROOT_OFF)'"
expect_exit 0 "flash: sign" "$FWSIGN" sign flash.bin -o flash.signed \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "flash: total size kept" [ "$(stat -c %s flash.signed)" = $((8 << 20)) ]
check "flash: both uImage CRCs right" sh -c "python3 check.py uimage flash.signed >/dev/null"
head -c "$(python3 check.py uimage flash.signed)" flash.signed >flash.uimg
check "flash: mkimage -l reads the uImage" sh -c "mkimage -l flash.uimg | grep -q 'acme kernel'"
dd if=flash.signed of=flash.root bs=1 skip=$ROOT_OFF count=$((8 << 20)) status=none
check "flash: the rootfs is where it was" unsquashfs -s flash.root >/dev/null
expect_exit 0 "flash: the rootfs verifies" "$FWSIGN" verify flash.root --cert "$K/vendor.crt"
check "flash: padding is 0xff" sh -c \
	"tail -c 4096 flash.signed | od -An -tx1 | tr -s ' \n' '\n' | sort -u | grep -v '^$' | grep -qx ff"
head -c "$(python3 check.py uimage flash.signed)" flash.signed | tail -c +65 >flash.kernel
check "flash: the kernel holds the certificate" kernel_has_cert flash.kernel
# the rootfs nearly fills its partition: the signatures do not fit (20
# more unsigned programs: more than 4 KiB of trailers)
cp -r root root20
for i in $(seq 1 20); do cp root/bin/busybox root20/bin/prog$i; done
mksquashfs root20 root20.sqfs -comp xz -noappend -all-root -quiet >/dev/null
cp root.sqfs root1.sqfs && cp root20.sqfs root.sqfs
flash tight.bin $((ROOT_OFF + $(stat -c %s root.sqfs) + 1024))
cp root1.sqfs root.sqfs
expect_exit 3 "flash: a rootfs that outgrows its partition is refused" \
	"$FWSIGN" sign tight.bin -o tight.out --key "$K/vendor.key" --cert "$K/vendor.crt"
check "... naming the rootfs and the bytes missing" sh -c \
	"grep -q 'rootfs' '$WORK/err.txt' && grep -q 'bytes missing' '$WORK/err.txt'"
check "... nothing written" [ ! -e tight.out ]
check "... one line" [ "$(wc -l <"$WORK/err.txt")" = 1 ]

# --- multi-file uImage: kernel + ramdisk (cpio) ------------------------------
(cd root && find . | cpio -o -H newc --quiet) | gzip -9n >initrd.cpio.gz
mkimage -A x86_64 -O linux -T multi -C none -n multi -d kernel.bin:initrd.cpio.gz multi.img >/dev/null
expect_exit 0 "multi-file uImage: sign" "$FWSIGN" sign multi.img -o multi.signed \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "multi-file uImage: CRCs right" sh -c "python3 check.py uimage multi.signed >/dev/null"
dumpimage -T multi -p 1 -o multi.p1 multi.signed >/dev/null
check "multi-file uImage: the ramdisk is a cpio.gz that verifies" \
	"$FWSIGN" verify multi.p1 --cert "$K/vendor.crt" -q
dumpimage -T multi -p 0 -o multi.p0 multi.signed >/dev/null
check "multi-file uImage: the kernel holds the certificate" kernel_has_cert multi.p0

# --- kernels without a slot ---------------------------------------------------
head -c 300000 /dev/zero | tr '\0' 'k' >notakernel
mkimage -A arm64 -O linux -T kernel -C none -d notakernel ns.uimg >/dev/null
su_tar nsl.bin ns.uimg root.sqfs
expect_exit 3 "kernel without a slot: an error naming it" "$FWSIGN" sign nsl.bin -o nsl.out \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "... the kernel's path in the tree" grep -q "sysupgrade-acme_router/kernel/data" "$WORK/err.txt"
check "... nothing written" [ ! -e nsl.out ]
expect_exit 0 "... --skip-kernels-without-slot signs the rest" "$FWSIGN" sign nsl.bin \
	-o nsl.out --key "$K/vendor.key" --cert "$K/vendor.crt" --skip-kernels-without-slot
expect_exit 0 "--no-inject-cert leaves kernels alone" "$FWSIGN" sign sysupgrade.bin \
	-o su.nocert --key "$K/vendor.key" --cert "$K/vendor.crt" --no-inject-cert
rm -rf z && mkdir z && tar -xf su.nocert -C z 2>/dev/null
check "... the kernel FIT is byte-identical" cmp -s z/sysupgrade-acme_router/kernel fit.itb

# --- --layout for a wrapper no format knows ------------------------------------
# the rootfs at the first MiB boundary after the kernel (the test kernel
# outgrew 2 MiB when it gained 9p, FUSE and SMP)
ROOT_MB=$(( ($(stat -c %s kernel.bin) + 512 + 1048575) / 1048576 ))
python3 - "$ROOT_MB" <<'EOF'
import sys
at = int(sys.argv[1]) << 20
k = open('kernel.bin', 'rb').read()
r = open('root.sqfs', 'rb').read()
hdr = b'ACMEFW01' + b'\0' * 504
img = hdr + k + b'\0' * (at - 512 - len(k)) + r + b'\xff' * (0x100000)
open('vendor.bin', 'wb').write(img)
EOF
printf 'header 0 512 data\nkernel 512 %d\nrootfs %d rest # to the end\n' \
	"$(stat -c %s kernel.bin)" $((ROOT_MB << 20)) >vendor.layout
expect_exit 0 "--layout: sign" "$FWSIGN" sign vendor.bin -o vendor.signed \
	--key "$K/vendor.key" --cert "$K/vendor.crt" --layout vendor.layout
check "--layout: size kept, header kept" bash -c \
	"[ $(stat -c %s vendor.bin) = \$(stat -c %s vendor.signed) ] && cmp -s <(head -c 512 vendor.bin) <(head -c 512 vendor.signed)"
dd if=vendor.signed of=vendor.root bs=1M skip="$ROOT_MB" status=none
expect_exit 0 "--layout: the rootfs verifies" "$FWSIGN" verify vendor.root --cert "$K/vendor.crt"
printf 'a 0 100\nb 50 100\n' >bad.layout
expect_exit 3 "--layout: overlapping parts refused" "$FWSIGN" info vendor.bin --layout bad.layout
printf 'a 0 100000000\n' >bad2.layout
expect_exit 2 "--layout: a part past the end refused" "$FWSIGN" info vendor.bin --layout bad2.layout

# --- hostile layouts: one line, exit 3, nothing written ------------------------
hostile() {	# hostile NAME FILE
	expect_exit 3 "hostile $1: refused" "$FWSIGN" sign "$2" -o "$2.out" \
		--key "$K/vendor.key" --cert "$K/vendor.crt"
	check "hostile $1: one line" [ "$(wc -l <"$WORK/err.txt")" = 1 ]
	check "hostile $1: nothing written" [ ! -e "$2.out" ]
}
python3 - <<'EOF'
import struct, zlib
d = bytearray(open('fitext.itb', 'rb').read())
open('h-trunc.itb', 'wb').write(d[:len(d) // 2])	# external data past the end
# a uImage whose size runs past the end: not a uImage; inside a flash image
u = bytearray(open('uImage', 'rb').read())
# a FIT whose strings block points outside it
f = bytearray(open('fit.itb', 'rb').read())
struct.pack_into('>I', f, 12, len(f) + 4096)
open('h-strings.itb', 'wb').write(f)
# lying fwtool CRC
s = bytearray(open('sysupgrade.bin', 'rb').read())
s[-12] ^= 0xff
open('h-crc.bin', 'wb').write(s)
EOF
hostile "FIT external data past the end" h-trunc.itb
hostile "FIT strings block outside it" h-strings.itb
"$FWSIGN" info h-crc.bin --json >h-crc.json
check "lying fwtool CRC: info says bad" \
	[ "$(python3 check.py json h-crc.json "j['tree']['checksums']")" = bad ]
expect_exit 1 "lying fwtool CRC: verify fails" "$FWSIGN" verify h-crc.bin --cert "$K/vendor.crt"
hostile "lying fwtool CRC" h-crc.bin
check "... saying which layer" grep -q "fwtool: its checksum does not match" "$WORK/err.txt"
# nested 20 deep: uImage in uImage in ...
cp root.sqfs nest0
for i in $(seq 1 20); do
	mkimage -A x86_64 -O linux -T filesystem -C none -d nest$((i - 1)) nest$i >/dev/null
done
hostile "layers nested 20 deep" nest20

done_tests
