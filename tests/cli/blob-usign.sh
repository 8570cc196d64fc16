#!/bin/bash
# sign --usign-key: an OpenWrt sysupgrade image whose fwtool signature block
# is signed again with the vendor's usign key, as OpenWrt's build signs it
# (include/image-commands.mk append-metadata: usign -S -m IMAGE -s KEY -x
# IMAGE.sig; ucert -A -c IMAGE.ucert -x IMAGE.sig; fwtool -S IMAGE.ucert
# IMAGE, IMAGE.ucert a copy of the key's certificate chain).
#
# The usign keys and signatures are made and checked by OpenBSD's signify
# (signify-openbsd: usign's files are signify's); the ucert chain and the
# fwtool blocks are written and read here by a small python3 writer of the
# libubox blob / blobmsg format, independent of fwsign's C code.  Checked:
# the new signature verifies (signify -V) over every byte before the block,
# the fwtool CRCs, the chain and the metadata kept byte for byte, the same
# bytes twice; a key of another fingerprint, a public key, an encrypted or
# damaged key and a file that is no key give exit 4, one line naming the
# key file, and no output.
. "$(dirname "$0")/lib.sh"
need_fixtures
for t in signify-openbsd mksquashfs tar python3; do
	command -v $t >/dev/null || { echo "missing $t (scripts/deps.sh)" >&2; exit 1; }
done
cd "$WORK" || exit 1
export SOURCE_DATE_EPOCH=1700000000
key vendor --rsa 2048
K=$WORK/keys

# --- usign keys: signify's files are usign's ------------------------------
signify-openbsd -G -n -c "Local build key" -p build.pub -s build.sec
signify-openbsd -G -n -c "another key" -p other.pub -s other.sec
fp() { python3 -c 'import base64,sys; l=open(sys.argv[1]).read().splitlines()[1]; print(base64.b64decode(l)[2:10].hex())' "$1"; }
FP=$(fp build.pub)

cat >usign.py <<'EOF'
"""libubox blobs, ucert chains and fwtool blocks, written and read."""
import base64, struct, sys, zlib

def blob(aid, data, ext=False):
    raw = 4 + len(data)
    h = (0x80000000 if ext else 0) | aid << 24 | raw
    return struct.pack('>I', h) + data + b'\0' * (-raw % 4)

def blobmsg(typ, name, value):
    n = name.encode()
    hdr = struct.pack('>H', len(n)) + n + b'\0'
    return blob(typ, hdr + b'\0' * (-len(hdr) % 4) + value, ext=True)

def attrs(data):
    """(id, data, start, end) of each attribute of a list."""
    off = 0
    while off < len(data):
        h, = struct.unpack('>I', data[off:off + 4])
        raw = h & 0xffffff
        assert 4 <= raw <= len(data) - off, 'bad blob at %d' % off
        end = min(len(data), off + (raw + 3) // 4 * 4)
        yield h >> 24 & 0x7f, data[off + 4:off + raw], off, end
        off = end

def fwtool_block(d, payload, typ):
    crc = ~zlib.crc32(d + payload) & 0xffffffff
    return d + payload + struct.pack('>IIB3xI', 0x46577830, crc, typ,
                                     len(payload) + 16)

def fwtool_blocks(d):
    """[(type, payload start, payload end)], in file order; CRCs checked."""
    end, blocks = len(d), []
    while end >= 16 and d[end - 16:end - 12] == b'FWx0':
        crc, typ, size = struct.unpack('>IB3xI', d[end - 12:end])
        assert crc == ~zlib.crc32(d[:end - 16]) & 0xffffffff, 'fwtool crc'
        blocks.insert(0, (typ, end - size, end - 16))
        end -= size
    assert blocks, 'no fwtool trailer'
    return blocks

cmd, a = sys.argv[1], sys.argv[2:]
rd = lambda f: open(f, 'rb').read()
if cmd == 'cert-payload':	# PUBFILE OUT: what ucert -I signs
    t = blobmsg(5, 'certtype', struct.pack('>I', 1))
    t += blobmsg(4, 'validfrom', struct.pack('>Q', 1700000000))
    t += blobmsg(4, 'expiresat', struct.pack('>Q', 1700000000 + 86400 * 365 * 30))
    t += blobmsg(3, 'pubkey', rd(a[0]) + b'\0')
    open(a[1], 'wb').write(blobmsg(2, 'ucert', t))
elif cmd == 'cert':	# SIGFILE PAYLOAD OUT: a certificate element
    open(a[2], 'ab').write(blob(0, blob(0, rd(a[0])) + blob(1, rd(a[1]))))
elif cmd == 'append':	# CHAIN SIGFILE: ucert -A
    open(a[0], 'ab').write(blob(0, blob(0, rd(a[1]))))
elif cmd == 'meta':	# IMAGE JSON: fwtool -I
    d = fwtool_block(rd(a[0]), struct.pack('>II', 0, 0) + rd(a[1]), 1)
    open(a[0], 'wb').write(d)
elif cmd == 'sig':	# IMAGE UCERT: fwtool -S
    d = fwtool_block(rd(a[0]), rd(a[1]), 0)
    open(a[0], 'wb').write(d)
elif cmd == 'split':	# IMAGE PREFIX: the CRCs checked, then the parts
    d = rd(a[0])
    blocks = fwtool_blocks(d)
    typ, s, e = blocks[-1]
    assert typ == 0, 'the last block is not a signature'
    assert [b[0] for b in blocks] == [1, 0], 'blocks %r' % blocks
    w = lambda ext, b: open(a[1] + ext, 'wb').write(b)
    w('.msg', d[:s])		# what the signature covers
    w('.meta', d[blocks[0][1] + 8:blocks[0][2]])
    chain, certs, sigs = d[s:e], b'', []
    for _, el, start, end in attrs(chain):
        kids = {i: v for i, v, _, _ in attrs(el)}
        if 1 in kids:
            certs += chain[start:end]
            w('.cert-payload', kids[1])
            w('.cert-sig', kids[0])
        else:
            sigs.append(kids[0])
    assert len(sigs) == 1, '%d image signatures' % len(sigs)
    w('.certs', certs)
    w('.sig', sigs[0])
elif cmd == 'encrypt':	# SECKEY OUT: kdfrounds 42, as signify -G without -n
    lines = open(a[0]).read().splitlines()
    b = bytearray(base64.b64decode(lines[1]))
    b[4:8] = struct.pack('>I', 42)
    open(a[1], 'w').write(lines[0] + '\n' + base64.b64encode(bytes(b)).decode() + '\n')
elif cmd == 'damage':	# SECKEY OUT: one bit of the seed flipped
    lines = open(a[0]).read().splitlines()
    b = bytearray(base64.b64decode(lines[1]))
    b[50] ^= 1
    open(a[1], 'w').write(lines[0] + '\n' + base64.b64encode(bytes(b)).decode() + '\n')
EOF

# --- the image: a sysupgrade tar, metadata, a signature block --------------
mkdir -p root/bin root/etc
cp "$FIXTURES/amd64/bin/busybox" root/bin/busybox
ln -s busybox root/bin/sh
echo "vendor=acme" >root/etc/release
mksquashfs root root.sqfs -comp xz -noappend -all-root -quiet >/dev/null
mkdir -p su/sysupgrade-acme_router
echo "BOARD=acme,router" >su/sysupgrade-acme_router/CONTROL
head -c 65536 /dev/zero | tr '\0' 'K' >su/sysupgrade-acme_router/kernel
cp root.sqfs su/sysupgrade-acme_router/root
(cd su && tar --sort=name --owner=0 --group=0 --numeric-owner \
	--mtime=@1700000000 -cf "$WORK/image.tar" sysupgrade-acme_router)
cat >meta.json <<'EOF'
{ "metadata_version": "1.1", "compat_version": "1.0", "supported_devices":["acme,router"], "version": { "dist": "OpenWrt", "version": "23.05.0", "revision": "r23497", "target": "x86/64", "board": "acme_router" } }
EOF
python3 usign.py meta image.tar meta.json

# the key's certificate chain, as ucert -I makes $(BUILD_KEY).ucert
python3 usign.py cert-payload build.pub cert.payload
signify-openbsd -S -s build.sec -m cert.payload -x cert.payload.sig
python3 usign.py cert cert.payload.sig cert.payload build.ucert

# append-metadata: usign -S; ucert -A; fwtool -S
sign_image() {	# sign_image IMAGE SECKEY CHAIN
	cp "$3" "$1.ucert"
	signify-openbsd -S -s "$2" -m "$1" -x "$1.sig"
	python3 usign.py append "$1.ucert" "$1.sig"
	python3 usign.py sig "$1" "$1.ucert"
}
cp image.tar sysupgrade.bin
sign_image sysupgrade.bin build.sec build.ucert

# the writer and reader here agree with signify before fwsign comes in
python3 usign.py split sysupgrade.bin in
check "input: its image signature verifies" \
	signify-openbsd -V -q -p build.pub -x in.sig -m in.msg
check "input: its certificate verifies" \
	signify-openbsd -V -q -p build.pub -x in.cert-sig -m in.cert-payload
check "input: the chain is build.ucert" cmp -s in.certs build.ucert

# --- sign -------------------------------------------------------------------
SIGN=(sign --key "$K/vendor.key" --cert "$K/vendor.crt" --no-inject-cert)
expect_exit 3 "no --usign-key: refused" "$FWSIGN" "${SIGN[@]}" sysupgrade.bin -o refused.bin
check "... naming --usign-key" grep -q -- "--usign-key" "$WORK/err.txt"
check "... no output" test ! -e refused.bin

expect_exit 0 "sign --usign-key" "$FWSIGN" "${SIGN[@]}" sysupgrade.bin -o signed.bin \
	--usign-key build.sec
check "fwtool CRCs right, blocks: metadata then signature" \
	python3 usign.py split signed.bin out
check "the image changed (the root was signed)" sh -c '! cmp -s in.msg out.msg'
check "the new signature verifies (signify -V) over every byte before the block" \
	signify-openbsd -V -q -p build.pub -x out.sig -m out.msg
check "... which end with the metadata block's trailer" python3 -c \
	'import sys; t = open("out.msg", "rb").read()[-16:]; sys.exit(t[:4] != b"FWx0" or t[8] != 1)'
check "the old signature does not verify the new image" sh -c \
	"! signify-openbsd -V -q -p build.pub -x in.sig -m out.msg 2>/dev/null"
check "the signature is usign's: comment 'signed by key $FP'" \
	[ "$(head -n 1 out.sig)" = "untrusted comment: signed by key $FP" ]
check "the certificate chain kept byte for byte" cmp -s out.certs build.ucert
check "the metadata kept byte for byte" cmp -s out.meta meta.json
rm -rf x && mkdir x && tar -xf out.msg -C x 2>/dev/null
check "CONTROL kept" cmp -s x/sysupgrade-acme_router/CONTROL su/sysupgrade-acme_router/CONTROL
expect_exit 0 "the root verifies" \
	"$FWSIGN" verify x/sysupgrade-acme_router/root --cert "$K/vendor.crt"
expect_exit 0 "sign again: the same bytes" "$FWSIGN" "${SIGN[@]}" sysupgrade.bin \
	-o again.bin --usign-key build.sec
check "... byte for byte (Ed25519 is deterministic)" cmp -s signed.bin again.bin

# a chain without a certificate (the image key in /etc/opkg/keys)
cp image.tar bare.bin
: >empty.ucert
sign_image bare.bin build.sec empty.ucert
expect_exit 0 "no certificate in the chain" "$FWSIGN" "${SIGN[@]}" bare.bin -o bare.out \
	--usign-key build.sec
python3 usign.py split bare.out bare
check "... its signature verifies" signify-openbsd -V -q -p build.pub -x bare.sig -m bare.msg
check "... and the chain is one element" [ ! -s bare.certs ]

# --- key problems: exit 4, one line naming the key, nothing written ---------
no_output() { [ ! -e "$1" ] && ! ls -a | grep -q "fwsign-"; }
bad_key() {	# bad_key WHAT KEYFILE [grep pattern]
	expect_exit 4 "$1: exit 4" "$FWSIGN" "${SIGN[@]}" sysupgrade.bin -o bad.bin \
		--usign-key "$2"
	check "$1: one line naming the key file" sh -c \
		"[ \$(wc -l <'$WORK/err.txt') -eq 1 ] && grep -qF -- '$2' '$WORK/err.txt'"
	[ -n "${3:-}" ] && check "$1: says why" grep -qi -- "$3" "$WORK/err.txt"
	check "$1: no output left" no_output bad.bin
}
bad_key "a key of another fingerprint" other.sec "$(fp other.pub)"
check "... and names the one the image was signed by" grep -q "$FP" "$WORK/err.txt"
bad_key "the public key" build.pub "public key"
python3 usign.py encrypt build.sec enc.sec
bad_key "an encrypted key" enc.sec "passphrase"
python3 usign.py damage build.sec damaged.sec
bad_key "a damaged key" damaged.sec "damaged"
printf 'untrusted comment: x\nnot base64 at all\n' >junk.sec
bad_key "a file that is no key" junk.sec "not a usign secret key"
bad_key "a PEM key" "$K/vendor.key" "not a usign secret key"
bad_key "a missing file" missing.sec "cannot read"
expect_exit 4 "a bad key in --dry-run too" "$FWSIGN" sign sysupgrade.bin --dry-run \
	--usign-key junk.sec

# the chain's certificate names another key than the one that signed
python3 usign.py cert-payload other.pub other.payload
signify-openbsd -S -s other.sec -m other.payload -x other.payload.sig
python3 usign.py cert other.payload.sig other.payload other.ucert
cp image.tar mixed.bin
sign_image mixed.bin build.sec other.ucert
expect_exit 4 "a certificate for another key: exit 4" "$FWSIGN" "${SIGN[@]}" mixed.bin \
	-o mixed.out --usign-key build.sec
check "... naming the certificate's key" grep -q "$(fp other.pub)" "$WORK/err.txt"
check "... no output" no_output mixed.out

# a signature block that is no ucert chain
cp image.tar notucert.bin
head -c 128 /dev/zero | tr '\0' '\1' >junk.ucert
python3 usign.py sig notucert.bin junk.ucert
expect_exit 3 "a signature block that is no ucert chain: exit 3" "$FWSIGN" "${SIGN[@]}" \
	notucert.bin -o notucert.out --usign-key build.sec
check "... no output" no_output notucert.out

expect_exit 2 "--usign-key with --drop-image-signature" "$FWSIGN" "${SIGN[@]}" \
	sysupgrade.bin -o both.bin --usign-key build.sec --drop-image-signature
done_tests
