#!/bin/bash
# Broadcom TRX (v1 and v2) and Netgear CHK around a TRX, written and
# re-read by a Python script of their own (CRCs by zlib, Netgear's sum by
# mkchkimg's rule): a lzma-loader-sized blob, 100 KiB of kernel bytes and
# a real squashfs holding busybox.  fwsign info shows the tree; sign
# rewrites the squashfs, and the script finds magic, len, CRC (v2 with its
# bin-header flags hashed as 0xff), offsets and CHK sums right, the loader,
# kernel and bin-header bytes unchanged, the rootfs at its 64 KiB boundary,
# the bin-header after the grown rootfs at its 4 KiB boundary, len padded to
# 4 KiB and the bytes after len kept; unsquashfs reads the rootfs and fwsign verify finds
# busybox signed, its bytes the fixture's plus a trailer.  A lying CRC or
# CHK sum shows as "bad" and fails verify; headers that lie about len or
# offsets are refused in one line, exit 3, and sign leaves no file.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048
K=$WORK/keys/vendor
F=$FIXTURES
W=$WORK/trx
mkdir -p "$W/tree/bin" "$W/etc-only/etc"

cat >"$W/trx.py" <<'EOF'
import json, struct, sys, zlib

MAGIC = 0x30524448
CHK_MAGIC = 0x2a23245e


def rd(path):
    with open(path, 'rb') as f:
        return f.read()


def pad(buf, a):
    buf += bytes(-len(buf) % a)


def trx_crc(img, length):
    """CRC of [12, len): ~zlib.crc32, v2 with 8 bytes at offsets[3]+22
    hashed as 0xff (firmware-utils trx.c)."""
    body = bytearray(img[12:length])
    if struct.unpack_from('<H', img, 14)[0] == 2:
        m = struct.unpack_from('<I', img, 28)[0] + 22 - 12
        body[m:m + 8] = b'\xff' * 8
    return zlib.crc32(bytes(body)) ^ 0xffffffff


def ng_sum(*chunks):
    c0 = c1 = 0
    for data in chunks:
        for b in data:
            c0 = (c0 + b) & 0xffffffff
            c1 = (c1 + c0) & 0xffffffff

    def fold(c):
        b = (c & 0xffff) + (c >> 16)
        return ((b >> 16) + b) & 0xffff
    return fold(c1) << 16 | fold(c0)


def mktrx(out, ver, files, tail):
    """Like firmware-utils trx: parts padded to 4 bytes, the rootfs (the
    third) at a 64 KiB boundary, len padded to 4 KiB; tail after len."""
    buf = bytearray(28 if ver == 1 else 32)
    offs = []
    for i, f in enumerate(files):
        if i == 2:
            pad(buf, 65536)
        offs.append(len(buf))
        buf += rd(f)
        pad(buf, 4)
    pad(buf, 4096)
    struct.pack_into('<IIIHH', buf, 0, MAGIC, len(buf), 0, 0, ver)
    for i, o in enumerate(offs):
        struct.pack_into('<I', buf, 16 + 4 * i, o)
    struct.pack_into('<I', buf, 8, trx_crc(buf, len(buf)))
    with open(out, 'wb') as f:
        f.write(buf + rd(tail) if tail else buf)


def chk_header(board, klen, rlen, ksum, rsum, isum):
    h = struct.pack('>II8sIIIIII', CHK_MAGIC, 40 + len(board),
                    bytes([1, 1, 0, 0, 58, 1, 0, 38]), ksum, rsum, klen, rlen,
                    isum, 0) + board
    return h[:36] + struct.pack('>I', ng_sum(h)) + h[40:]


def mkchk(out, kernel, board):
    k = rd(kernel)
    h = chk_header(board.encode(), len(k), 0, ng_sum(k), 0, ng_sum(k))
    with open(out, 'wb') as f:
        f.write(h + k)


def parse_trx(img):
    """Checks a TRX; its (version, len, [(offset, bytes)])."""
    magic, length, crc, flags, ver = struct.unpack_from('<IIIHH', img, 0)
    assert magic == MAGIC, 'magic %x' % magic
    assert ver in (1, 2), 'version %d' % ver
    assert 32 <= length <= len(img), 'len %d of %d' % (length, len(img))
    assert crc == trx_crc(img, length), 'crc %08x, want %08x' % (
        crc, trx_crc(img, length))
    offs = [o for o in struct.unpack_from('<%dI' % (ver + 2), img, 16) if o]
    assert offs == sorted(set(offs)), 'offsets %s' % offs
    assert offs[0] >= (28 if ver == 1 else 32) and offs[-1] < length
    ends = offs[1:] + [length]
    return ver, length, [(o, img[o:e]) for o, e in zip(offs, ends)]


def starts(part, want, what):
    """part is want then zeros (padding to the next part)."""
    assert part[:len(want)] == want, what + ' bytes differ'
    assert not part[len(want):].strip(b'\0'), what + ' padding not zeros'


def check(path, loader, kernel, rootfs_out, binhdr, tail, in_len):
    img = rd(path)
    if struct.unpack_from('>I', img, 0)[0] == CHK_MAGIC:
        hl, klen, rlen = (struct.unpack_from('>I', img, 4)[0],
                          *struct.unpack_from('>II', img, 24))
        ksum, rsum, _, _, isum, hsum = struct.unpack_from('>6I', img, 16)
        k = img[hl:hl + klen]
        assert hl + klen + rlen == len(img), 'CHK lengths'
        assert ksum == ng_sum(k), 'CHK kernel sum'
        assert rsum == 0 and rlen == 0, 'CHK rootfs'
        assert isum == ng_sum(k), 'CHK image sum'
        assert hsum == ng_sum(img[:36], bytes(4), img[40:hl]), 'CHK header sum'
        assert img[40:hl] == b'U12H072T00_NETGEAR', 'CHK board id'
        img = k
    ver, length, parts = parse_trx(img)
    names = [loader, kernel, None] + ([binhdr] if binhdr else [])
    assert len(parts) == len(names), '%d parts' % len(parts)
    for (off, data), name in zip(parts, names):
        if name:
            starts(data, rd(name), name)
    rootfs_off, rootfs = parts[2]
    assert rootfs[:4] == b'hsqs', 'rootfs is not a squashfs'
    assert rootfs_off % 65536 == 0, 'rootfs moved to 0x%x' % rootfs_off
    assert length % 4096 == 0, 'len %d not padded to 4 KiB' % length
    assert length >= int(in_len), 'len shrank'
    used = struct.unpack_from('<Q', rootfs, 40)[0]
    if binhdr:
        # moved past the grown rootfs, to the 4 KiB its old offset had
        assert parts[3][0] >= rootfs_off + used and parts[3][0] % 4096 == 0
    assert img[length:] == (rd(tail) if tail else b''), 'bytes after len'
    with open(rootfs_out, 'wb') as f:
        f.write(rootfs)


def lie(src, out, how):
    img = bytearray(rd(src))
    o = list(struct.unpack_from('<3I', img, 16))
    if how == 'crc':
        img[8] ^= 1
    elif how == 'chk-sum':
        img[35] ^= 1
    elif how == 'chk-hlen':
        struct.pack_into('>I', img, 4, 0xffffffff)
    elif how == 'chk-len':
        struct.pack_into('>I', img, 24, len(img))
    elif how == 'len':
        struct.pack_into('<I', img, 4, len(img) + 4096)
    elif how == 'short':
        struct.pack_into('<I', img, 4, 20)
    elif how == 'cut':
        del img[len(img) // 2:]
    elif how == 'order':
        struct.pack_into('<3I', img, 16, o[0], o[2], o[1])
    elif how == 'overlap':
        struct.pack_into('<3I', img, 16, o[0], o[1], o[1])
    elif how == 'past':
        struct.pack_into('<I', img, 24, struct.unpack_from('<I', img, 4)[0])
    elif how == 'header':
        struct.pack_into('<I', img, 16, 8)
    if how not in ('crc', 'cut') and not how.startswith('chk'):
        n = min(struct.unpack_from('<I', img, 4)[0], len(img))
        struct.pack_into('<I', img, 8, trx_crc(img, n))
    with open(out, 'wb') as f:
        f.write(img)


def tree(path, *want):
    """Nodes of an info --json tree: each want is PATH=FORMAT:CHECKSUMS."""
    got = {}

    def walk(t):
        got[t['path']] = '%s:%s' % (t['format'], t['checksums'])
        for c in t.get('parts', []):
            walk(c)
    walk(json.load(open(path))['tree'])
    for w in want:
        p, f = w.split('=')
        assert got.get(p) == f, '%s is %s, not %s' % (p, got.get(p), f)


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == 'mktrx':
    mktrx(args[0], int(args[1]), args[3:], args[2] if args[2] != '-' else None)
elif cmd == 'mkchk':
    mkchk(*args)
elif cmd == 'check':
    check(*[a if a != '-' else None for a in args])
elif cmd == 'lie':
    lie(*args)
elif cmd == 'tree':
    tree(*args)
elif cmd == 'trxlen':
    img = rd(args[0])
    if struct.unpack_from('>I', img, 0)[0] == CHK_MAGIC:
        img = img[struct.unpack_from('>I', img, 4)[0]:]
    print(struct.unpack_from('<I', img, 4)[0])
EOF
py() { python3 "$W/trx.py" "$@"; }

# the parts: a loader, kernel bytes from a fixed seed, a squashfs, a tail
head -c 3000 /dev/zero | tr '\0' '\135' >"$W/loader"
python3 -c "import random, sys; random.seed(7); sys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(102400)))" >"$W/kernel"
python3 -c "import sys; sys.stdout.buffer.write(b'W54U' + bytes(18) + bytes(range(1, 9)) + bytes(34))" >"$W/binhdr"
printf 'nvram and friends after len\n' >"$W/tail"
cp "$F/amd64/bin/busybox" "$W/tree/bin/busybox"
printf 'hello\n' >"$W/tree/bin/hello.txt"
mksquashfs "$W/tree" "$W/rootfs" -comp xz -all-root -noappend >/dev/null
printf 'nothing to sign\n' >"$W/etc-only/etc/motd"
mksquashfs "$W/etc-only" "$W/plain-rootfs" -comp xz -all-root -noappend >/dev/null

py mktrx "$W/x.trx" 1 "$W/tail" "$W/loader" "$W/kernel" "$W/rootfs"
py mktrx "$W/x2.trx" 2 - "$W/loader" "$W/kernel" "$W/rootfs" "$W/binhdr"
py mktrx "$W/plain.trx" 1 - "$W/loader" "$W/kernel" "$W/plain-rootfs"
# the CHK around a TRX with nothing after len
py mktrx "$W/k.trx" 1 - "$W/loader" "$W/kernel" "$W/rootfs"
py mkchk "$W/x.chk" "$W/k.trx" U12H072T00_NETGEAR

# info shows the tree, its CRC found right
expect_exit 0 "trx: info" "$FWSIGN" info "$W/x.trx"
out=$(cat "$WORK/out.txt")
check "trx: info names the layers" grep -q "TRX.*v1, 3 parts, crc ok" <<<"$out"
for p in "loader  data" "kernel  data" "rootfs  squashfs"; do
	check "trx: info shows $p" grep -q "^  $p" <<<"$out"
done
"$FWSIGN" info --json "$W/x.trx" >"$W/x.json"
check "trx: json tree" py tree "$W/x.json" =TRX:ok \
	loader=data:ok kernel=data:ok rootfs=squashfs:ok
"$FWSIGN" info --json "$W/x2.trx" >"$W/x2.json"
check "trx v2: json tree" py tree "$W/x2.json" =TRX:ok \
	loader=data:ok kernel=data:ok rootfs=squashfs:ok bin-header=data:ok
expect_exit 0 "chk: info" "$FWSIGN" info "$W/x.chk"
out=$(cat "$WORK/out.txt")
check "chk: info names the layers" grep -q "CHK.*board 'U12H072T00_NETGEAR'.*checksums ok" <<<"$out"
check "chk: the TRX inside" grep -q "^  kernel  TRX.*crc ok" <<<"$out"
check "chk: its rootfs" grep -q "^    rootfs  squashfs" <<<"$out"

# sign: the script re-reads every header; the rootfs is signed
for t in x.trx x2.trx x.chk; do
	in=$W/$t out=$W/signed-$t
	case $t in
	x.trx) extra="$W/rootfs-$t - $W/tail" ;;
	x2.trx) extra="$W/rootfs-$t $W/binhdr -" ;;
	x.chk) extra="$W/rootfs-$t - -" ;;
	esac
	in_len=$(py trxlen "$in")
	expect_exit 0 "$t: sign" "$FWSIGN" sign "$in" -o "$out" --key $K.key \
		--cert $K.crt --no-inject-cert
	check "$t: rewritten" test "$(cmp "$in" "$out" 2>&1)"
	check "$t: headers, CRC, offsets, parts" py check "$out" "$W/loader" \
		"$W/kernel" $extra "$in_len"
	check "$t: unsquashfs reads the rootfs" \
		unsquashfs -s "$W/rootfs-$t" >/dev/null 2>&1
	expect_exit 0 "$t: verify the rootfs" "$FWSIGN" verify "$W/rootfs-$t" --cert $K.crt
	check "$t: busybox good" grep -q "^1 good" "$WORK/out.txt"
	rm -rf "$W/u"
	unsquashfs -d "$W/u" "$W/rootfs-$t" >/dev/null 2>&1
	strip_sig "$W/u/bin/busybox" "$W/bb"
	check "$t: busybox is the fixture's plus a trailer" \
		cmp -s "$W/bb" "$F/amd64/bin/busybox"
	check "$t: busybox signed" test "$(sig_len "$W/u/bin/busybox")" -gt 0
	expect_exit 0 "$t: verify the whole" "$FWSIGN" verify "$out" --cert $K.crt
	"$FWSIGN" info --json "$out" >"$W/s.json"
	check "$t: fwsign finds its checksums right" py tree "$W/s.json" \
		"=$(case $t in *.chk) echo CHK ;; *) echo TRX ;; esac):ok"
done

# nothing to sign: the same bytes out
expect_exit 0 "plain: sign" "$FWSIGN" sign "$W/plain.trx" -o "$W/plain-out.trx" \
	--key $K.key --cert $K.crt --no-inject-cert
check "plain: byte-identical" cmp -s "$W/plain.trx" "$W/plain-out.trx"

# a CRC or a sum that lies: shown bad, verify fails
py lie "$W/signed-x.trx" "$W/badcrc.trx" crc
"$FWSIGN" info --json "$W/badcrc.trx" >"$W/b.json"
check "bad crc: shown bad" py tree "$W/b.json" =TRX:bad rootfs=squashfs:ok
check "bad crc: desc" grep -q '"detail":"v1, 3 parts, crc BAD' "$W/b.json"
expect_exit 1 "bad crc: verify fails" "$FWSIGN" verify "$W/badcrc.trx" --cert $K.crt
check "bad crc: verify says why" grep -q "1 layer with a checksum that does not match" "$WORK/out.txt"
py lie "$W/signed-x.chk" "$W/badsum.chk" chk-sum
"$FWSIGN" info --json "$W/badsum.chk" >"$W/b.json"
check "bad chk sum: shown bad" py tree "$W/b.json" =CHK:bad kernel=TRX:ok \
	kernel/rootfs=squashfs:ok
expect_exit 1 "bad chk sum: verify fails" "$FWSIGN" verify "$W/badsum.chk" --cert $K.crt

# headers that lie about where things are: one line, exit 3, no output
for how in len short cut order overlap past header chk-len chk-hlen; do
	case $how in chk-*) src=$W/x.chk ;; *) src=$W/x.trx ;; esac
	py lie "$src" "$W/h-$how" "$how"
	expect_exit 3 "hostile $how: info" "$FWSIGN" info "$W/h-$how"
	check "hostile $how: one line" test "$(printf '%s\n' "$ERR" | wc -l)" -eq 1
	check "hostile $how: says the layer" grep -Eq "bad (TRX|CHK) header" <<<"$ERR"
	expect_exit 3 "hostile $how: sign" "$FWSIGN" sign "$W/h-$how" -o "$W/h-$how.out" \
		--key $K.key --cert $K.crt --no-inject-cert
	check "hostile $how: no output" test ! -e "$W/h-$how.out"
done
check "no temporary files left" test -z "$(find "$W" -name '*.fwsign-*')"

done_tests
