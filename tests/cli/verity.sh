#!/bin/bash
# sign --verity: a squashfs and an ext4 image of real binaries (arm64
# fixtures) get a dm-verity hash tree after them.
#  - the tree (superblock and levels) is byte for byte what cryptsetup's
#    veritysetup format writes for the same data, salt and UUID; with the
#    derived salt and with --verity-salt;
#  - veritysetup verify accepts the image with the root hash we print, and
#    refuses it after one data byte changed;
#  - OUTPUT.roothash.p7s is a detached PKCS#7 of the hex root hash that
#    openssl cms -verify accepts with the vendor certificate and refuses
#    with another; OUTPUT.verity's table holds the numbers the superblock
#    says (veritysetup dump); OUTPUT.ipe allows execution only from signed
#    verity volumes and the initramfs, and OUTPUT.ipe.p7s holds it signed;
#  - the image before the tree is a signed filesystem (unsquashfs, e2fsck,
#    fwsign verify); two runs give the same bytes, side files too;
#  - inside a sysupgrade blob the root gets its tree where it lies (tar
#    member), byte for byte veritysetup's, and its files beside OUTPUT;
#  - misuse is refused with nothing left behind: a directory, a tar
#    archive (exit 3, output removed), a side file that exists;
#  - --json: the report gains "verity" (root hash, salt, UUID, blocks,
#    table, the files beside), equal to OUTPUT.verity, for an image and
#    for a blob's root.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048
key other --rsa 2048
K=$WORK/keys/vendor
F=$FIXTURES/arm64
W=$WORK/verity
mkdir -p "$W/tree/bin" "$W/tree/lib"
cp "$F/bin/busybox" "$W/tree/bin/"
cp -a "$F/lib/." "$W/tree/lib/"
mksquashfs "$W/tree" "$W/root.sqfs" -comp xz -all-root -noappend -quiet \
	-mkfs-time 1000000 >/dev/null
mke2fs -q -F -t ext4 -d "$W/tree" -U 11111111-2222-3333-4444-555555555555 \
	-E hash_seed=11111111-2222-3333-4444-555555555555 "$W/root.ext4" 40M
export SOURCE_DATE_EPOCH=1700000000
sign() { "$FWSIGN" sign --key "$K.key" --cert "$K.crt" "$@"; }

for fs in sqfs ext4; do
	in=$W/root.$fs out=$W/v.$fs
	sign --verity --verity-device /dev/vda "$in" -o "$out" >"$W/log.$fs" 2>&1 ||
		fail "$fs: sign --verity: $(cat "$W/log.$fs")"
	check "$fs: the report names the root hash" grep -q "^dm-verity: .*: root hash [0-9a-f]\{64\}" "$W/log.$fs"
	# shellcheck disable=SC1090
	. "$out.verity"
	head -c "$VERITY_HASH_OFFSET" "$out" >"$W/data.$fs"
	tail -c +$((VERITY_HASH_OFFSET + 1)) "$out" >"$W/tree.$fs"
	veritysetup format --salt="$VERITY_SALT" --uuid="$VERITY_UUID" \
		"$W/data.$fs" "$W/ref.$fs" >"$W/fmt.$fs"
	check "$fs: tree byte for byte veritysetup format's" cmp -s "$W/tree.$fs" "$W/ref.$fs"
	check "$fs: veritysetup's root hash is ours" \
		grep -q "Root hash:[[:space:]]*$VERITY_ROOT_HASH" "$W/fmt.$fs"
	check "$fs: veritysetup verify accepts the appended tree" \
		veritysetup verify --hash-offset="$VERITY_HASH_OFFSET" "$out" "$out" "$VERITY_ROOT_HASH"
	cp "$out" "$W/bad.$fs"
	printf '\x5a' | dd of="$W/bad.$fs" bs=1 seek=$((VERITY_HASH_OFFSET / 2)) conv=notrunc 2>/dev/null
	check "$fs: one changed data byte fails verify" sh -c \
		"! veritysetup verify --hash-offset=$VERITY_HASH_OFFSET '$W/bad.$fs' '$W/bad.$fs' $VERITY_ROOT_HASH 2>/dev/null"
	veritysetup dump --hash-offset="$VERITY_HASH_OFFSET" "$out" >"$W/dump.$fs"
	check "$fs: superblock: data blocks" grep -q "Data blocks:[[:space:]]*$VERITY_DATA_BLOCKS" "$W/dump.$fs"
	check "$fs: superblock: UUID" grep -q "UUID:[[:space:]]*$VERITY_UUID" "$W/dump.$fs"
	set -- $VERITY_TABLE
	check "$fs: table: sectors, blocks, hash start" test "$2 $9 ${10}" = \
		"$((VERITY_HASH_OFFSET / 512)) $VERITY_DATA_BLOCKS $((VERITY_HASH_OFFSET / 4096 + 1))"
	printf '%s' "$VERITY_ROOT_HASH" >"$W/rh.$fs"
	check "$fs: root hash signature verifies with the vendor cert" \
		openssl cms -verify -binary -inform DER -in "$out.roothash.p7s" \
		-content "$W/rh.$fs" -certfile "$K.crt" -CAfile "$K.crt" -purpose any -out /dev/null 2>/dev/null
	check "$fs: ... and not with another" sh -c "! openssl cms -verify -binary -inform DER \
		-in '$out.roothash.p7s' -content '$W/rh.$fs' -certfile '$WORK/keys/other.crt' \
		-CAfile '$WORK/keys/other.crt' -purpose any -out /dev/null 2>/dev/null"
	check "$fs: IPE policy denies execution but from signed volumes" sh -c \
		"grep -qx 'DEFAULT op=EXECUTE action=DENY' '$out.ipe' &&
		 grep -qx 'op=EXECUTE dmverity_signature=TRUE action=ALLOW' '$out.ipe'"
	openssl cms -verify -binary -inform DER -in "$out.ipe.p7s" -certfile "$K.crt" \
		-CAfile "$K.crt" -purpose any -out "$W/ipe.$fs" 2>/dev/null
	check "$fs: the signed IPE policy verifies and holds the policy" cmp -s "$W/ipe.$fs" "$out.ipe"
	"$FWSIGN" verify --cert "$K.crt" "$W/data.$fs" >"$W/ver.$fs" 2>&1
	check "$fs: the filesystem is signed" grep -q " 0 unsigned, 0 foreign-key, 0 bad-signature" "$W/ver.$fs"
	sign --verity --verity-device /dev/vda "$in" -o "$out.2" >/dev/null 2>&1
	check "$fs: reproducible (image, signature, table)" sh -c \
		"cmp -s '$out' '$out.2' && cmp -s '$out.roothash.p7s' '$out.2.roothash.p7s' &&
		 [ \"\$(grep -v '^#\|^VERITY_OPEN' '$out.verity')\" = \"\$(grep -v '^#\|^VERITY_OPEN' '$out.2.verity')\" ]"
done
check "squashfs: unsquashfs reads it" sh -c "unsquashfs -l '$W/data.sqfs' | grep -q bin/busybox"
check "ext4: e2fsck finds it clean" e2fsck -fn "$W/data.ext4"

# a salt of our own
sign --verity --verity-salt 00112233445566778899aabbccddeeff "$W/root.sqfs" \
	-o "$W/s.sqfs" >/dev/null 2>&1
. "$W/s.sqfs.verity"
check "--verity-salt: the salt is used" test "$VERITY_SALT" = 00112233445566778899aabbccddeeff
head -c "$VERITY_HASH_OFFSET" "$W/s.sqfs" >"$W/s.data"
tail -c +$((VERITY_HASH_OFFSET + 1)) "$W/s.sqfs" >"$W/s.tree"
veritysetup format --salt="$VERITY_SALT" --uuid="$VERITY_UUID" "$W/s.data" "$W/s.ref" >/dev/null
check "--verity-salt: tree byte for byte veritysetup's" cmp -s "$W/s.tree" "$W/s.ref"

# --json: the report carries "verity": what the text and OUTPUT.verity say
jcheck() {	# jcheck JSON ENVFILE IMAGE: python3 compares them
	python3 - "$@" <<'PY'
import json, sys, shlex
doc = json.load(open(sys.argv[1]))
env = {}
for line in open(sys.argv[2]):
    if "=" in line and not line.startswith("#"):
        k, v = line.rstrip("\n").split("=", 1)
        env[k] = shlex.split(v)[0] if v else ""
v = doc["verity"]
assert len(v) == 1, v
v = v[0]
summ = doc["summary"] if "summary" in doc else doc["report"]["summary"]
assert summ["signed"] > 0, summ
assert v["image"] == sys.argv[3], (v["image"], sys.argv[3])
assert v["root_hash"] == env["VERITY_ROOT_HASH"]
assert v["salt"] == env["VERITY_SALT"]
assert v["uuid"] == env["VERITY_UUID"]
assert v["data_blocks"] == int(env["VERITY_DATA_BLOCKS"])
assert v["hash_offset"] == int(env["VERITY_HASH_OFFSET"])
assert v["block_size"] == int(env["VERITY_BLOCK_SIZE"])
assert v["table"] == env["VERITY_TABLE"]
assert v["files"]["variables"] == sys.argv[2]
PY
}
sign --json --verity "$W/root.sqfs" -o "$W/j.sqfs" >"$W/j.json" 2>"$W/j.err"
check "--json: one JSON document with the tree in it" jcheck "$W/j.json" "$W/j.sqfs.verity" "$W/j.sqfs"
check "--json: no text line on stdout" sh -c "! grep -q '^dm-verity:' '$W/j.json'"
check "--json: the root hash is veritysetup's" sh -c \
	". '$W/j.sqfs.verity' && veritysetup verify --hash-offset=\$VERITY_HASH_OFFSET '$W/j.sqfs' '$W/j.sqfs' \
	 \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"verity\"][0][\"root_hash\"])' '$W/j.json')\""
sign --json "$W/root.sqfs" -o "$W/j2.sqfs" >"$W/j2.json" 2>/dev/null
check "--json without --verity: no verity member" python3 -c \
	"import json,sys; assert 'verity' not in json.load(open(sys.argv[1]))" "$W/j2.json"

# inside a blob: an OpenWrt sysupgrade (kernel in a FIT, squashfs root)
# (the kernel: bytes without a slot, skipped)
head -c 4096 /dev/urandom >"$W/kernel.bin"
"$SRCDIR/scripts/make-sysupgrade.sh" "$W/kernel.bin" "$W/root.sqfs" "$W/fw.bin" >/dev/null
sign --verity --skip-kernels-without-slot "$W/fw.bin" -o "$W/fw.out" >"$W/fw.log" 2>&1 ||
	fail "sign --verity of a sysupgrade: $(cat "$W/fw.log")"
side=$(ls "$W"/fw.out.*root.verity 2>/dev/null | head -1)
check "blob: the root's files are beside the output" test -n "$side" -a -e "${side%.verity}.roothash.p7s"
mkdir -p "$W/fw.x"
tar -xf "$W/fw.out" -C "$W/fw.x"
root=$(find "$W/fw.x" -name root -type f | head -1)
. "$side"
check "blob: the root in the tar holds its tree: veritysetup verify" \
	veritysetup verify --hash-offset="$VERITY_HASH_OFFSET" "$root" "$root" "$VERITY_ROOT_HASH"
head -c "$VERITY_HASH_OFFSET" "$root" >"$W/fw.data"
tail -c +$((VERITY_HASH_OFFSET + 1)) "$root" >"$W/fw.tree"
veritysetup format --salt="$VERITY_SALT" --uuid="$VERITY_UUID" "$W/fw.data" "$W/fw.ref" >/dev/null
check "blob: tree byte for byte veritysetup's" cmp -s "$W/fw.tree" "$W/fw.ref"
"$FWSIGN" verify --cert "$K.crt" "$W/fw.out" >"$W/fw.v" 2>&1
check "blob: fwsign verify reads the signed root" grep -q " 0 unsigned, 0 foreign-key, 0 bad-signature" "$W/fw.v"

sign --json --verity --skip-kernels-without-slot "$W/fw.bin" -o "$W/fwj.out" >"$W/fwj.json" 2>/dev/null
side=$(ls "$W"/fwj.out.*root.verity 2>/dev/null | head -1)
check "blob --json: the tree of the root in the JSON" jcheck "$W/fwj.json" "$side" \
	"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verity"][0]["image"])' "$W/fwj.json")"
check "blob --json: it names the root in the blob" grep -q '"image":"[^"]*fwj.out:[^"]*root"' "$W/fwj.json"

# misuse
expect_exit 2 "a directory refused" sign --verity "$W/tree" -o "$W/x1"
check "nothing written for a directory" test ! -e "$W/x1"
tar -C "$W" -cf "$W/t.tar" tree
expect_exit 3 "a tar archive refused" sign --verity "$W/t.tar" -o "$W/x2.tar"
check "says what it takes" grep -q "squashfs or ext2/3/4" <<<"$ERR"
check "no output for a tar" sh -c "! ls '$W'/x2.tar* 2>/dev/null"
: >"$W/y.sqfs.verity"
expect_exit 2 "an existing OUTPUT.verity refused" sign --verity "$W/root.sqfs" -o "$W/y.sqfs"
check "no output when a side file exists" test ! -e "$W/y.sqfs"
expect_exit 2 "a bad salt refused" sign --verity --verity-salt xyz "$W/root.sqfs" -o "$W/z.sqfs"
done_tests
