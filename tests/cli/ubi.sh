#!/bin/bash
# UBI images made by mtd-utils' ubinize: a static volume of kernel-sized
# bytes, a dynamic volume holding a real squashfs (busybox, the C library,
# kernel modules: arm64 fixtures) and an empty autoresize volume.
#  - sign rewrites the squashfs volume, and the output is byte for byte
#    what ubinize makes of the same volumes with the bare squashfs signed
#    alone (same key, SOURCE_DATE_EPOCH, -Q image_seq, ini);
#  - a reader of the test's own (Python) checks every EC and VID header CRC,
#    the volume table's two copies and record CRCs, static data CRCs, and
#    takes the volumes out: unsquashfs reads the rootfs, fwsign verify finds
#    every ELF signed, the static volume is its bytes unchanged;
#  - a volume that grows past its reserved PEBs is refused (exit 3, no
#    output); the same with the autoresize flag grows its record, again as
#    ubinize would write it;
#  - an image with free PEBs (a dump) keeps every PEB where it is and puts
#    new LEBs in free PEBs;
#  - hostile images (bad EC CRC, bad record CRC, table copies that differ,
#    two PEBs on one LEB, a volume not in the table) are refused in one line,
#    exit 3, nothing written.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048
K=$WORK/keys/vendor
F=$FIXTURES/arm64
W=$WORK/ubi
mkdir -p "$W/tree/bin" "$W/tree/lib" "$W/tree/lib/modules"
cp "$F/bin/busybox" "$W/tree/bin/"
cp -a "$F/lib/." "$W/tree/lib/"
find "$F/modules" -name '*.ko' | head -20 | xargs cp -t "$W/tree/lib/modules/"
# unsigned ELF files that do not shrink in an uncompressed squashfs: each
# trailer adds ~700 bytes, so the volume grows by many LEBs
small=$(ls -S "$F"/lib/gconv/*.so | tail -1)
for i in $(seq 1 80); do
	{ cat "$small"; printf '%d' "$i"; } >"$W/tree/bin/bb$i"
done
chmod 755 "$W/tree/bin/"*
mksquashfs "$W/tree" "$W/root.sqfs" -noI -noD -noF -noX -all-root \
	-noappend -quiet -mkfs-time 1000000 >/dev/null
head -c 300000 /dev/urandom >"$W/kern.bin"
export SOURCE_DATE_EPOCH=1700000000

cat >"$W/ubi.py" <<'EOF'
"""A UBI reader of the test's own: every CRC checked, volumes out."""
import struct, sys, zlib


def crc(b):
    return zlib.crc32(b) ^ 0xffffffff    # from ~0, no final inversion


def read(path, peb):
    img = open(path, 'rb').read()
    assert len(img) % peb == 0, 'not whole PEBs'
    vols, table, free = {}, [], 0
    for i in range(len(img) // peb):
        b = img[i * peb:(i + 1) * peb]
        if b[:64] == b'\xff' * 64:
            free += 1
            continue
        assert b[:4] == b'UBI#', 'PEB %d: EC magic' % i
        assert crc(b[:60]) == struct.unpack('>I', b[60:64])[0], 'EC crc %d' % i
        vid, data = struct.unpack('>II', b[16:24])
        v = b[vid:vid + 64]
        if v == b'\xff' * 64:
            free += 1
            continue
        assert v[:4] == b'UBI!', 'PEB %d: VID magic' % i
        assert crc(v[:60]) == struct.unpack('>I', v[60:64])[0], 'VID crc %d' % i
        vtype, vol_id, lnum, dsize, used, pad, dcrc = \
            struct.unpack('>xxxxxBxxIIxxxxIIII', v[:36])
        leb = peb - data - pad
        if vol_id == 0x7fffefff:
            table.append(b[data:data + leb])
            continue
        key = (vol_id, lnum)
        assert key not in vols, 'LEB twice'
        if vtype == 2:
            assert crc(b[data:data + dsize]) == dcrc, 'data crc %d' % i
            vols[key] = b[data:data + dsize]
        else:
            vols[key] = b[data:data + leb]
    assert len(table) == 2 and table[0] == table[1], 'table copies'
    recs = {}
    for r in range(min(128, len(table[0]) // 172)):
        e = table[0][r * 172:(r + 1) * 172]
        assert crc(e[:168]) == struct.unpack('>I', e[168:])[0], 'rec crc'
        reserved, align, pad, vtype, upd, nlen = struct.unpack('>IIIBBH', e[:16])
        if reserved:
            recs[r] = (e[16:16 + nlen].decode(), reserved, vtype, e[144])
    out = {}
    for r, (name, reserved, vtype, flags) in recs.items():
        lebs = sorted(l for (v, l) in vols if v == r)
        assert len(lebs) <= reserved, 'past reserved'
        assert lebs == list(range(len(lebs))), 'holes'
        out[name] = (b''.join(vols[(r, l)] for l in lebs), reserved, flags)
    return out, free


cmd, path, peb = sys.argv[1], sys.argv[2], int(sys.argv[3])
vols, free = read(path, peb)
if cmd == 'check':
    print('ok %d volumes %d free' % (len(vols), free))
elif cmd == 'reserved':
    print(vols[sys.argv[4]][1])
elif cmd == 'extract':
    open(sys.argv[5], 'wb').write(vols[sys.argv[4]][0])
EOF
ubi() { python3 "$W/ubi.py" "$@"; }

ini() {	# ini FILE SQUASHFS ROOTFS-EXTRA-LINES
	cat >"$1" <<EOF
[kernel]
mode=ubi
image=$W/kern.bin
vol_id=0
vol_type=static
vol_name=kernel
[rootfs]
mode=ubi
image=$2
vol_id=1
vol_type=dynamic
vol_name=rootfs
$3
[data]
mode=ubi
vol_id=2
vol_type=dynamic
vol_name=rootfs_data
vol_size=4MiB
vol_flags=autoresize
EOF
}
UBINIZE=(ubinize -p 128KiB -m 2048 -s 512 -O 512 -Q 4242)
PEB=131072

# --- 1. ubinize's image, signed: what ubinize makes of the signed volume
"$FWSIGN" sign --key "$K.key" --cert "$K.crt" "$W/root.sqfs" \
	-o "$W/root-signed.sqfs" >/dev/null 2>&1
lebs() { echo $(( ($(stat -c %s "$1") + 129023) / 129024 )); }
check "signed squashfs takes more LEBs (precondition)" \
	test "$(lebs "$W/root-signed.sqfs")" -gt "$(lebs "$W/root.sqfs")"
ini "$W/a.ini" "$W/root.sqfs" "vol_size=48MiB"
ini "$W/a-ref.ini" "$W/root-signed.sqfs" "vol_size=48MiB"
"${UBINIZE[@]}" -o "$W/a.ubi" "$W/a.ini" >/dev/null 2>&1
"${UBINIZE[@]}" -o "$W/a-ref.ubi" "$W/a-ref.ini" >/dev/null 2>&1
cp "$W/a.ubi" "$W/a.orig"
"$FWSIGN" info "$W/a.ubi" >"$W/info" 2>&1
check "info shows the UBI parameters" \
	grep -q "UBI, .*PEB 131072, LEB 129024, VID header at 512, data at 2048, image_seq 4242" "$W/info"
check "info shows the squashfs volume" grep -q "rootfs  squashfs" "$W/info"
"$FWSIGN" sign --key "$K.key" --cert "$K.crt" "$W/a.ubi" -o "$W/a-out.ubi" \
	>"$W/log" 2>&1 || fail "sign a.ubi: $(cat "$W/log")"
check "output is byte for byte ubinize's of the signed volume" \
	cmp -s "$W/a-out.ubi" "$W/a-ref.ubi"
check "input unchanged" cmp -s "$W/a.ubi" "$W/a.orig"
check "own reader: every CRC right" ubi check "$W/a-out.ubi" $PEB
ubi extract "$W/a-out.ubi" $PEB rootfs "$W/rootfs.out"
ubi extract "$W/a-out.ubi" $PEB kernel "$W/kernel.out"
check "static volume unchanged" cmp -s "$W/kernel.out" "$W/kern.bin"
check "unsquashfs reads the rootfs volume" \
	sh -c "unsquashfs -l '$W/rootfs.out' | grep -q squashfs-root/bin/bb80"
"$FWSIGN" verify --cert "$K.crt" "$W/rootfs.out" >"$W/v" 2>&1
check "every ELF in the volume signed" grep -q " 0 unsigned, 0 foreign-key, 0 bad-signature" "$W/v"
"$FWSIGN" verify --cert "$K.crt" "$W/a-out.ubi" >"$W/v2" 2>&1
check "verify walks the UBI image" grep -q " 0 unsigned, 0 foreign-key, 0 bad-signature" "$W/v2"
"$FWSIGN" sign --key "$K.key" --cert "$K.crt" "$W/a.ubi" -o "$W/a-out2.ubi" >/dev/null 2>&1
check "reproducible" cmp -s "$W/a-out.ubi" "$W/a-out2.ubi"

# --- 2. no room: the rootfs reserved exactly what it held
ini "$W/b.ini" "$W/root.sqfs" ""
"${UBINIZE[@]}" -o "$W/b.ubi" "$W/b.ini" >/dev/null 2>&1
expect_exit 3 "volume past its reserved PEBs refused" \
	"$FWSIGN" sign --key "$K.key" --cert "$K.crt" "$W/b.ubi" -o "$W/b-out.ubi"
check "says which volume and why" grep -q "volume 'rootfs' grew to .* past its .* reserved PEBs" <<<"$ERR"
check "one line" test "$(printf '%s\n' "$ERR" | grep -c .)" -eq 1
check "no output left" test ! -e "$W/b-out.ubi"

# --- 3. the same with autoresize: the record grows as ubinize writes it
ini "$W/c.ini" "$W/root.sqfs" "vol_flags=autoresize"
sed -i '/^\[data\]/,$ {/vol_flags/d}' "$W/c.ini"
ini "$W/c-ref.ini" "$W/root-signed.sqfs" "vol_flags=autoresize"
sed -i '/^\[data\]/,$ {/vol_flags/d}' "$W/c-ref.ini"
"${UBINIZE[@]}" -o "$W/c.ubi" "$W/c.ini" >/dev/null 2>&1
"${UBINIZE[@]}" -o "$W/c-ref.ubi" "$W/c-ref.ini" >/dev/null 2>&1
"$FWSIGN" sign --key "$K.key" --cert "$K.crt" "$W/c.ubi" -o "$W/c-out.ubi" \
	>"$W/log" 2>&1 || fail "sign c.ubi: $(cat "$W/log")"
check "autoresize: byte for byte ubinize's" cmp -s "$W/c-out.ubi" "$W/c-ref.ubi"
check "autoresize: reserved PEBs grew" test \
	"$(ubi reserved "$W/c-out.ubi" $PEB rootfs)" -gt "$(ubi reserved "$W/c.ubi" $PEB rootfs)"

# --- 4. a dump with free PEBs: PEBs stay, new LEBs go to free PEBs
cp "$W/a.ubi" "$W/d.ubi"
head -c $((PEB * 8)) /dev/zero | tr '\0' '\377' >>"$W/d.ubi"
"$FWSIGN" sign --key "$K.key" --cert "$K.crt" "$W/d.ubi" -o "$W/d-out.ubi" \
	>"$W/log" 2>&1 || fail "sign d.ubi: $(cat "$W/log")"
check "dump: same size" test "$(stat -c %s "$W/d-out.ubi")" -eq "$(stat -c %s "$W/d.ubi")"
check "dump: every CRC right" ubi check "$W/d-out.ubi" $PEB
ubi extract "$W/d-out.ubi" $PEB rootfs "$W/d-rootfs"
check "dump: the rootfs is the signed squashfs" \
	cmp -s "$W/d-rootfs" "$W/root-signed.sqfs" -n "$(stat -c %s "$W/root-signed.sqfs")"
check "dump: the kernel PEBs did not move" \
	cmp -s "$W/d-out.ubi" "$W/d.ubi" -n $((PEB * 5))
check "dump: fewer free PEBs" sh -c \
	"[ \"\$(python3 '$W/ubi.py' check '$W/d-out.ubi' $PEB | cut -d' ' -f4)\" -lt 8 ]"

# --- 5. hostile images
hostile() {	# hostile NAME "what" PYTHON-EDIT
	local name=$1 what=$2
	python3 - "$W/a.ubi" "$W/$name.ubi" $PEB "$3" <<'EOF'
import struct, sys, zlib
src, dst, peb, edit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
img = bytearray(open(src, 'rb').read())
def crc(b): return zlib.crc32(bytes(b)) ^ 0xffffffff
def fix_vid(i):
    v = i * peb + 512
    struct.pack_into('>I', img, v + 60, crc(img[v:v + 60]))
exec(edit)
open(dst, 'wb').write(img)
EOF
	expect_exit 3 "$what refused" \
		"$FWSIGN" sign --key "$K.key" --cert "$K.crt" "$W/$name.ubi" \
		-o "$W/$name-out.ubi"
	check "$what: one line" test "$(printf '%s\n' "$ERR" | grep -c .)" -eq 1
	check "$what: names the file" grep -q "$name.ubi" <<<"$ERR"
	check "$what: no output" test ! -e "$W/$name-out.ubi"
	echo "$what: $ERR" >>"$W/errors"
}
hostile ec "bad EC header CRC" 'img[peb * 5 + 8] ^= 1'
hostile rec "bad volume record CRC" \
	'img[2048 + 20] ^= 1; img[peb + 2048 + 20] ^= 1'
hostile copies "table copies differ" 'img[peb + 2048 + 172 * 5] ^= 1'
# PEB 4 (a kernel LEB? no: rootfs LEB) claims PEB 3's LEB
hostile twice "two PEBs on one LEB" \
	'img[4*peb+512+12:4*peb+512+16] = img[3*peb+512+12:3*peb+512+16]; img[4*peb+512+8:4*peb+512+12] = img[3*peb+512+8:3*peb+512+12]; fix_vid(4)'
hostile novol "a volume not in the table" \
	'struct.pack_into(">I", img, 6*peb+512+8, 9); fix_vid(6)'
check "the errors say what is wrong" sh -c "grep -q 'bad EC header' '$W/errors' &&
	grep -q 'record .*bad CRC' '$W/errors' && grep -q 'copies' '$W/errors' &&
	grep -q 'both claim LEB' '$W/errors' && grep -q 'not in the volume table' '$W/errors'"
cat "$W/errors"
done_tests
