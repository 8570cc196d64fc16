#!/bin/bash
# fwsign diff on real images: a signed/unsigned pair of each kind (tree,
# squashfs, ext4, tar, a sysupgrade blob of a FIT kernel and a squashfs)
# diffs as signatures only (exit 0); then each other kind of change is
# planted and must be reported as exactly that (exit 1): a one-byte change
# in a file that is not ELF, mode, owner, mtime, an xattr alone
# (security.capability, which diffoscope and sqfsdiff miss), a file added,
# one removed, a type change, the compressor, a content change inside a
# signed ELF, a kernel whose slot changed and one changed beyond its slot,
# a wrapper byte.  Unreadable input: exit 2.
. "$(dirname "$0")/lib.sh"
need_fixtures
KTREE=$("$SRCDIR/tests/e2e/build-kernel.sh") || { echo "kernel build failed" >&2; exit 1; }
cd "$WORK" || exit 1
export SOURCE_DATE_EPOCH=1700000000
key vendor --rsa 2048
key other --rsa 2048
K=$WORK/keys

mkdir -p t/bin t/lib/modules t/etc
cp "$FIXTURES/amd64/bin/busybox" t/bin/busybox
cp "$FIXTURES/amd64/bin/busybox" t/bin/ping
ln -s busybox t/bin/sh
find "$FIXTURES/amd64/modules" -name '*.ko' | head -n 2 | xargs -I{} cp {} t/lib/modules/
echo "hostname=router" >t/etc/config
touch -d @1600000000 t/etc/config t/bin/busybox

# verdict NAME WANT-EXIT WANT-KIND OLD NEW: the exit status, and a change
# of that kind reported (checked in the JSON)
verdict() {
	local name=$1 want=$2 kind=$3
	shift 3
	expect_exit "$want" "$name: exit $want" "$FWSIGN" diff "$@"
	[ -z "$kind" ] && return
	"$FWSIGN" diff "$@" --json >"$WORK/d.json" 2>/dev/null
	python3 - "$WORK/d.json" "$kind" <<'EOF' && pass || fail "$name: reported as '$kind'"
import json, sys
d = json.load(open(sys.argv[1]))
kinds = {c['change'] for c in d['changes'] if not c['expected']}
want = sys.argv[2]
if want.startswith('only:'):
    assert d['only_signatures'] and not kinds, kinds
    got = {c['change'] for c in d['changes']}
    assert want[5:] in got, got
elif want.endswith('+'):
    # the planted change, and what it implies (a directory's mtime, the
    # inode numbers and counts of an image)
    assert want[:-1] in kinds, (kinds, want)
    assert kinds <= {want[:-1], 'metadata changed', 'field changed'}, kinds
else:
    assert kinds == {want}, (kinds, want)
EOF
}

# --- signed vs unsigned: signatures only --------------------------------------
"$FWSIGN" sign t -o t.signed --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
verdict "tree" 0 "only:signature added" t t.signed
check "tree: the module's signature replaced, both signers named" sh -c \
	"'$FWSIGN' diff t t.signed --all | grep -q \"signature replaced .*-> 'vendor'\""
mksquashfs t t.sqfs -comp xz -noappend -all-root -quiet >/dev/null
"$FWSIGN" sign t.sqfs -o t.signed.sqfs --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
verdict "squashfs" 0 "only:signature added" t.sqfs t.signed.sqfs
mke2fs -q -t ext4 -d t t.ext4 8M
"$FWSIGN" sign t.ext4 -o t.signed.ext4 --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
verdict "ext4" 0 "only:signature added" t.ext4 t.signed.ext4
tar -C t --xattrs -cf t.tar .
"$FWSIGN" sign t.tar -o t.signed.tar --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
verdict "tar" 0 "only:signature added" t.tar t.signed.tar
"$SRCDIR/scripts/make-sysupgrade.sh" "$KTREE/arch/x86/boot/bzImage" t.sqfs blob.bin
"$FWSIGN" sign blob.bin -o blob.signed --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
verdict "blob" 0 "only:kernel certificate" blob.bin blob.signed
check "blob: the FIT and the tar are 'layer rebuilt'" sh -c \
	"'$FWSIGN' diff blob.bin blob.signed --all | grep -c '^layer rebuilt' | grep -qx 3"
# (the kernel keeps its certificate: a bzImage that already holds one may
# not have room for another whose DER compresses worse; see kernel/README)
"$FWSIGN" sign blob.signed -o blob.resigned --key "$K/other.key" --cert "$K/other.crt" \
	--no-inject-cert >/dev/null || fail "re-signing the blob with another key failed"
verdict "blob re-signed by another key" 0 "only:signature replaced" blob.signed blob.resigned
check "... both signers named" sh -c \
	"'$FWSIGN' diff blob.signed blob.resigned --all | grep -q \"signature replaced .*'vendor'.* -> 'other'\""

# --- planted changes: each reported as exactly that ---------------------------
plant() {	# plant NAME KIND COMMAND...: on a copy of the signed tree
	local name=$1 kind=$2
	shift 2
	rm -rf p && cp -a t.signed p
	(cd p && "$@") || { fail "$name: could not plant"; return; }
	verdict "$name (tree)" 1 "$kind" t.signed p
	mksquashfs p p.sqfs -comp xz -noappend -quiet >/dev/null
	mksquashfs t.signed ts.sqfs -comp xz -noappend -quiet >/dev/null
	verdict "$name (squashfs)" 1 "$kind" ts.sqfs p.sqfs
}
plant "one byte of a file that is not ELF" "content changed" \
	sh -c 'printf router2 | dd of=etc/config bs=1 seek=9 conv=notrunc status=none && touch -d @1600000000 etc/config'
plant "mode" "metadata changed" chmod 4755 bin/ping
plant "owner" "metadata changed" chown 1000:1000 bin/ping
plant "mtime" "metadata changed" touch -d @1700000001 bin/busybox
plant "xattr only (security.capability)" "metadata changed" setcap cap_net_raw+ep bin/ping
plant "added" "added+" cp etc/config etc/extra
plant "removed" "removed+" rm bin/ping
plant "type" "type changed+" sh -c 'rm bin/ping && ln -s busybox bin/ping'
plant "a byte inside a signed ELF" "content changed" \
	sh -c 'printf X | dd of=bin/busybox bs=1 seek=1000 conv=notrunc status=none && touch -d @1600000000 bin/busybox'
check "xattr: capability decoded" sh -c \
	"rm -rf p && cp -a t.signed p && setcap cap_net_raw+ep p/bin/ping && '$FWSIGN' diff t.signed p | grep -q 'security.capability added (capabilities v'"
mksquashfs t.signed tg.sqfs -comp gzip -noappend -quiet >/dev/null
verdict "compressor" 1 "field changed" ts.sqfs tg.sqfs

# kernels: a slot changed by hand (no re-signing) and a kernel changed elsewhere
python3 - <<'EOF'
import struct
d = bytearray(open('blob.signed', 'rb').read())
i = d.find(b'HdrS')			# the bzImage in the FIT in the tar
d[i + 0x40] ^= 0x01			# a header byte, not the slot
open('blob.kernel-changed', 'wb').write(d)
EOF
"$SRCDIR/scripts/make-sysupgrade.sh" "$KTREE/arch/x86/boot/bzImage" t.signed.sqfs blob.plain
expect_exit 1 "kernel changed beyond its slot: exit 1" "$FWSIGN" diff blob.signed blob.kernel-changed
check "... said so" grep -q "content changed\|field changed" "$WORK/out.txt"
verdict "kernel without the certificate (blob of the same parts, no sign)" 1 "" blob.signed blob.plain

# a wrapper byte: the sysupgrade tar's CONTROL member is data, the FIT name a field
python3 - <<'EOF'
d = bytearray(open('blob.signed', 'rb').read())
i = d.find(b'BOARD=acme,router')
d[i + 6] = ord('x')
open('blob.control', 'wb').write(d)
EOF
verdict "a wrapper's data part" 1 "" blob.signed blob.control
check "... the CONTROL member named" grep -q "CONTROL" "$WORK/out.txt"

expect_exit 2 "missing input: exit 2" "$FWSIGN" diff t nonexistent
expect_exit 2 "bad usage: exit 2" "$FWSIGN" diff t
done_tests
