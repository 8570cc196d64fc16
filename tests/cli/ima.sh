#!/bin/bash
# IMA mode (sign --ima, --ima-only): security.ima on every executable and
# shared library of a real tree (the amd64 fixtures: busybox, glibc with
# its gconv modules, kernel modules, data), in squashfs, ext4, pax tar and
# a directory tree.  Each value is byte for byte what evmctl ima_sign -a
# sha256 writes on the same final file, and evmctl ima_verify accepts it;
# files of other kinds get none; other xattrs stay.  verify tells good,
# foreign-key, stale and hash-only; info and diff show it; cpio and GNU
# tar are refused with no output; an unprivileged run writes images but
# not a host tree's security.*.
. "$(dirname "$0")/lib.sh"
need_fixtures
for t in evmctl getfattr setfattr mksquashfs unsquashfs mke2fs debugfs \
	e2fsck tar bsdtar cpio; do
	command -v $t >/dev/null || { echo "$t missing (ima-evm-utils, attr, squashfs-tools, e2fsprogs, libarchive-tools)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "needs root (to read security.* of extracted files)" >&2; exit 1; }
key vendor --rsa 2048
key other --rsa 2048
key ec --ec p256
K=$WORK/keys/vendor
O=$WORK/keys/other
E=$WORK/keys/ec
export SOURCE_DATE_EPOCH=1700000000

TREE=$WORK/tree
mkdir -p "$TREE"
cp -a "$FIXTURES/amd64/." "$TREE/"
printf '#!/bin/sh\necho hi\n' >"$TREE/bin/script.sh"
setfattr -n user.vendor -v keep-me "$TREE/bin/script.sh"
setfattr -n user.vendor -v on-elf "$TREE/lib/libm.so.6"
ln -s busybox "$TREE/bin/sh"
# fixed times: the squashfs made of the tree is then the same every run
touch -h -d @1700000000 "$TREE/bin/script.sh" "$TREE/bin/sh" "$TREE/bin" "$TREE"

# What should get security.ima: executables and shared libraries.
"$FWSIGN" info --json "$TREE" >"$WORK/info.json"
python3 - "$WORK/info.json" >"$WORK/want" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for f in r["files"]:
    if f["kind"] in ("executable", "shared-library"):
        print(f["path"])
EOF
sort -o "$WORK/want" "$WORK/want"
N=$(wc -l <"$WORK/want")
check "the tree has executables and many shared libraries" [ "$N" -gt 100 ]
grep -q '"kind":"kernel-module"' "$WORK/info.json" ||
	fail "the tree has kernel modules"

# Files of DIR holding security.ima, sorted.
ima_files() {
	(cd "$1" && getfattr -R -h -m '^security\.ima$' --absolute-names . \
		2>/dev/null | sed -n 's|^# file: \./||p' | sort)
}
# evmctl's value for each distinct content, made once.  RSA PKCS#1 v1.5
# is deterministic, so evmctl's security.ima for given bytes and key is
# the same whichever format the bytes came out of, and the formats below
# hold mostly the same signed files: $WORK/evmref/KEYNAME/SHA256 is a copy
# of a content with evmctl's value on it.  This evmctl (1.4) signs only
# the first file given to ima_sign, so the new contents are signed by one
# `evmctl sign -r --imasig` over a directory: its security.ima comes from
# the same code as ima_sign's (checked on one file per call against a
# plain ima_sign); the security.evm it adds (fixed uuid and generation,
# so no filesystem ioctl) is not looked at.
cat >"$WORK/evm.py" <<'EOF'
# evm.py prep REF ROOT LIST: copy each content not yet in REF to REF/new/
# evm.py cmp REF ROOT LIST xattr|file: each file's security.ima (or FILE.ima)
# against REF's; prints the number of differences, names them on stderr
import hashlib, os, shutil, sys
cmd, ref, root, lst = sys.argv[1:5]
paths = [l.rstrip("\n") for l in open(lst) if l.strip()]
def sha(p):
	h = hashlib.sha256()
	with open(p, "rb") as f:
		for b in iter(lambda: f.read(1 << 20), b""):
			h.update(b)
	return h.hexdigest()
if cmd == "prep":
	os.makedirs(ref + "/new", exist_ok=True)
	with open(lst + ".sha", "w") as out:
		for p in paths:
			s = sha(root + "/" + p)
			out.write(s + "\n")
			if not os.path.exists(ref + "/" + s) and not os.path.exists(ref + "/new/" + s):
				shutil.copyfile(root + "/" + p, ref + "/new/" + s)
	sys.exit(0)
bad = 0
for p, s in zip(paths, open(lst + ".sha").read().split()):
	try:
		want = os.getxattr(ref + "/" + s, "security.ima")
	except OSError:
		want = None
	try:
		if sys.argv[5] == "file":
			got = open(root + "/" + p + ".ima", "rb").read()
		else:
			got = os.getxattr(root + "/" + p, "security.ima")
	except OSError:
		got = None
	if want is None:
		print("evmctl gave no value: " + p, file=sys.stderr)
		bad += 1
	elif got != want:
		print("differs from evmctl: " + p, file=sys.stderr)
		bad += 1
print(bad)
EOF
# evm_ref KEY ROOT LIST: evmctl's values for the contents of ROOT/LIST's
# files that have none yet; 1 if evmctl's batch and ima_sign disagree
evm_ref() {
	local key=$1 root=$2 list=$3 ref one
	ref=$WORK/evmref/$(basename "$key")
	python3 "$WORK/evm.py" prep "$ref" "$root" "$list" || return 1
	one=$(ls "$ref/new" | head -1)
	[ -n "$one" ] || return 0
	evmctl sign -r --imasig -a sha256 --key "$key" --generation=0 \
		--uuid=0b2e1e4c-1111-2222-3333-444455556666 "$ref/new" >/dev/null 2>&1
	cp "$ref/new/$one" "$WORK/evm.bin"
	evmctl ima_sign -a sha256 --key "$key" "$WORK/evm.bin" >/dev/null 2>&1
	mv "$ref/new/"* "$ref/"
	cmp -s <(getfattr --only-values -n security.ima "$ref/$one" 2>/dev/null) \
		<(getfattr --only-values -n security.ima "$WORK/evm.bin" 2>/dev/null) ||
		{ echo "evmctl sign -r --imasig and ima_sign differ: $one" >&2; return 1; }
}
# Every security.ima of DIR equals evmctl's for the same bytes (KEY), and
# evmctl ima_verify accepts the files with CERT: all in one call, then one
# by one if that fails, to name them.
evm_same() {	# evm_same DIR KEY CERT -> number of differences
	local d=$1 key=$2 cert=$3 f bad=0
	ima_files "$d" >"$WORK/evm.list"
	evm_ref "$key" "$d" "$WORK/evm.list" || bad=$((bad + 1))
	bad=$((bad + $(python3 "$WORK/evm.py" cmp "$WORK/evmref/$(basename "$key")" \
		"$d" "$WORK/evm.list" xattr)))
	if ! (cd "$d" && tr '\n' '\0' <"$WORK/evm.list" |
		xargs -0 evmctl ima_verify -a sha256 --key "$cert" >/dev/null 2>&1); then
		while IFS= read -r f; do
			evmctl ima_verify -a sha256 --key "$cert" "$d/$f" >/dev/null 2>&1 ||
				{ echo "evmctl ima_verify refuses: $f" >&2; bad=$((bad + 1)); }
		done <"$WORK/evm.list"
	fi
	echo "$bad"
}

# --- squashfs --------------------------------------------------------------
# mksquashfs of the tree costs 20 CPU s: the image comes from the test
# cache in the ASan+UBSan pass and later runs, keyed by everything of the
# tree that mksquashfs reads (names, types, modes, times, link targets,
# bytes, xattrs); relative names keep the key the same from run to run.
TREE_KEY=$( (cd "$TREE" && find . -printf '%y %m %T@ %s %l %p\n' | sort &&
	find . -type f -print0 | sort -z | xargs -0 sha256sum &&
	getfattr -R -h -d -m - -e hex . 2>/dev/null) | sha256sum)
(cd "$WORK" && cached a.sqfs "$TREE_KEY" sh -c 'mksquashfs tree sq.tmp \
	-noappend -quiet -all-root -xattrs >/dev/null && cat sq.tmp && rm -f sq.tmp')
expect_exit 0 "squashfs sign --ima" "$FWSIGN" sign --ima "$WORK/a.sqfs" \
	-o "$WORK/b.sqfs" --key "$K.key" --cert "$K.crt"
unsquashfs -lls "$WORK/b.sqfs" >/dev/null 2>&1 || fail "unsquashfs -lls reads the output"
unsquashfs -q -d "$WORK/bx" "$WORK/b.sqfs" >/dev/null 2>&1 || fail "unsquashfs extracts"
check "squashfs: security.ima on exactly the executables and libraries" \
	cmp -s <(ima_files "$WORK/bx") "$WORK/want"
check "squashfs: every value is evmctl's, and evmctl verifies it" \
	[ "$(evm_same "$WORK/bx" "$K.key" "$K.der")" -eq 0 ]
check "squashfs: the IMA signature covers the trailer (signed file)" \
	[ "$(sig_len "$WORK/bx/lib/libc.so.6")" -gt 0 ]
check "squashfs: other xattrs kept" [ "$(getfattr --only-values -n user.vendor \
	"$WORK/bx/bin/script.sh" 2>/dev/null)" = keep-me ]
check "squashfs: other xattrs of a signed file kept" [ "$(getfattr --only-values \
	-n user.vendor "$WORK/bx/lib/libm.so.6" 2>/dev/null)" = on-elf ]
check "squashfs: no security.ima on modules without --ima-modules" \
	[ -z "$(getfattr -R -m security.ima --absolute-names "$WORK/bx/modules" 2>/dev/null)" ]
expect_exit 0 "squashfs verify --ima" "$FWSIGN" verify --ima "$WORK/b.sqfs" --cert "$K.crt"
check "verify counts every file good" grep -qx "security.ima: $N good" "$WORK/out.txt"
"$FWSIGN" sign --ima "$WORK/a.sqfs" -o "$WORK/b2.sqfs" --key "$K.key" \
	--cert "$K.crt" >/dev/null 2>&1
check "squashfs --ima is reproducible" cmp -s "$WORK/b.sqfs" "$WORK/b2.sqfs"
expect_exit 0 "squashfs sign without --ima" "$FWSIGN" sign "$WORK/a.sqfs" \
	-o "$WORK/n.sqfs" --key "$K.key" --cert "$K.crt"
unsquashfs -q -d "$WORK/nx" "$WORK/n.sqfs" >/dev/null 2>&1
check "without --ima no security.ima" [ -z "$(ima_files "$WORK/nx")" ]
expect_exit 1 "verify --ima of a trailer-only image fails" "$FWSIGN" verify \
	--ima "$WORK/n.sqfs" --cert "$K.crt"
check "... security.ima missing on each" grep -q "security.ima: $N missing" "$WORK/out.txt"
expect_exit 0 "verify without --ima of a trailer-only image" "$FWSIGN" \
	verify "$WORK/n.sqfs" --cert "$K.crt"

# --ima-only: the content stays, modules too with --ima-modules
expect_exit 0 "squashfs --ima-only --ima-modules" "$FWSIGN" sign --ima-only \
	--ima-modules "$WORK/a.sqfs" -o "$WORK/c.sqfs" --key "$K.key" --cert "$K.crt"
unsquashfs -q -d "$WORK/cx" "$WORK/c.sqfs" >/dev/null 2>&1
check "--ima-only: content unchanged" same_files "$TREE" "$WORK/cx"
NMOD=$(find "$TREE" -name '*.ko' | wc -l)
check "--ima-modules: modules get security.ima too" \
	[ "$(ima_files "$WORK/cx" | wc -l)" -eq $((N + NMOD)) ]
check "--ima-only: evmctl's values" [ "$(evm_same "$WORK/cx" "$K.key" "$K.der")" -eq 0 ]
expect_exit 0 "verify --ima-only" "$FWSIGN" verify --ima-only "$WORK/c.sqfs" --cert "$K.crt"
expect_exit 1 "verify --ima of an --ima-only image: no trailers" "$FWSIGN" \
	verify --ima "$WORK/c.sqfs" --cert "$K.crt"

# verify: another key's image
"$FWSIGN" sign --ima-only "$WORK/a.sqfs" -o "$WORK/o.sqfs" --key "$O.key" \
	--cert "$O.crt" >/dev/null 2>&1
expect_exit 1 "verify --ima-only: other key" "$FWSIGN" verify --ima-only \
	"$WORK/o.sqfs" --cert "$K.crt"
check "... foreign-key" grep -q "security.ima: $N foreign-key" "$WORK/out.txt"
check "... named per file" grep -qx "lib/libc.so.6: shared-library: security.ima: foreign-key" "$WORK/out.txt"

# info and diff
expect_exit 0 "info" "$FWSIGN" info "$WORK/b.sqfs"
check "info shows security.ima" grep -qx "security.ima: $N signed" "$WORK/out.txt"
"$FWSIGN" info --json "$WORK/b.sqfs" >"$WORK/b.json"
KEYID=$(openssl x509 -in "$K.crt" -noout -ext subjectKeyIdentifier | tail -1 |
	tr -d ' :' | tr A-F a-f | tail -c 9)
check "info --json: key id is the SKID's last 4 bytes" \
	grep -q "\"path\":\"lib/libc.so.6\".*\"ima\":\"signed\",\"ima_keyid\":\"$KEYID\"" "$WORK/b.json"
expect_exit 0 "diff of an --ima-only image: only signatures" "$FWSIGN" diff \
	"$WORK/a.sqfs" "$WORK/c.sqfs"
check "diff counts the IMA signatures" grep -q "$((N + NMOD)) IMA signatures;" "$WORK/out.txt"
expect_exit 0 "diff --all lists them" "$FWSIGN" diff --all "$WORK/a.sqfs" "$WORK/c.sqfs"
check "diff names the key id" grep -q "^IMA signature .*lib/libc.so.6: xattr security.ima added (IMA signature v2, sha256, key id $KEYID)" "$WORK/out.txt"

# --- ext4 ------------------------------------------------------------------
# quota by tune2fs: mke2fs 1.47.0 -d -O quota counts wrong itself
E2FSPROGS_FAKE_TIME=1600000000 mke2fs -q -t ext4 -d "$TREE" \
	-U 0b2e1e4c-1111-2222-3333-444455556666 "$WORK/a.ext4" 128M >/dev/null 2>&1
tune2fs -O quota "$WORK/a.ext4" >/dev/null 2>&1
check "ext4: the input is clean" eval 'e2fsck -fn "$WORK/a.ext4" >/dev/null 2>&1'
expect_exit 0 "ext4 sign --ima" "$FWSIGN" sign --ima "$WORK/a.ext4" \
	-o "$WORK/b.ext4" --key "$K.key" --cert "$K.crt"
check "ext4: e2fsck -fn clean (quota too)" eval 'e2fsck -fn "$WORK/b.ext4" >/dev/null 2>&1'
mkdir -p "$WORK/ex"
: >"$WORK/dbg"
while IFS= read -r f; do
	mkdir -p "$WORK/ex/$(dirname "$f")"
	printf 'dump "/%s" "%s"\nea_get -f "%s" "/%s" security.ima\n' "$f" \
		"$WORK/ex/$f" "$WORK/ex/$f.ima" "$f" >>"$WORK/dbg"
done <"$WORK/want"
debugfs -f "$WORK/dbg" "$WORK/b.ext4" >/dev/null 2>&1
bad=0
evm_ref "$K.key" "$WORK/ex" "$WORK/want" || bad=$((bad + 1))
bad=$((bad + $(python3 "$WORK/evm.py" cmp "$WORK/evmref/vendor.key" "$WORK/ex" \
	"$WORK/want" file)))
check "ext4: debugfs ea_get equals evmctl for every file" [ "$bad" -eq 0 ]
check "ext4: dumped files are signed" [ "$(sig_len "$WORK/ex/lib/libc.so.6")" -gt 0 ]
expect_exit 0 "ext4 verify --ima" "$FWSIGN" verify --ima "$WORK/b.ext4" --cert "$K.crt"
"$FWSIGN" sign --ima "$WORK/a.ext4" -o "$WORK/b2.ext4" --key "$K.key" \
	--cert "$K.crt" >/dev/null 2>&1
check "ext4 --ima is reproducible" cmp -s "$WORK/b.ext4" "$WORK/b2.ext4"
E2FSPROGS_FAKE_TIME=1600000000 mke2fs -q -t ext4 -O ^ext_attr -d "$TREE" \
	"$WORK/nx.ext4" 128M >/dev/null 2>&1
expect_exit 3 "ext4 without ext_attr: refused" "$FWSIGN" sign --ima \
	"$WORK/nx.ext4" -o "$WORK/nx-out.ext4" --key "$K.key" --cert "$K.crt"
check "... saying why" grep -q "no ext_attr feature" <<<"$ERR"
check "... no output" [ ! -e "$WORK/nx-out.ext4" ]

# --- pax tar ---------------------------------------------------------------
tar --format=pax --xattrs --xattrs-include='*' -cf "$WORK/a.tar" -C "$TREE" .
expect_exit 0 "pax tar sign --ima" "$FWSIGN" sign --ima "$WORK/a.tar" \
	-o "$WORK/b.tar" --key "$K.key" --cert "$K.crt"
mkdir "$WORK/tx" "$WORK/bsx"
tar --xattrs --xattrs-include='*' -xf "$WORK/b.tar" -C "$WORK/tx"
check "tar: GNU tar extracts security.ima on exactly those files" \
	cmp -s <(ima_files "$WORK/tx") "$WORK/want"
check "tar: evmctl's values" [ "$(evm_same "$WORK/tx" "$K.key" "$K.der")" -eq 0 ]
check "tar: other xattrs kept" [ "$(getfattr --only-values -n user.vendor \
	"$WORK/tx/lib/libm.so.6" 2>/dev/null)" = on-elf ]
bsdtar --xattrs -xf "$WORK/b.tar" -C "$WORK/bsx"
check "tar: bsdtar extracts the same values" \
	cmp -s <(cd "$WORK/tx" && getfattr -R -d -m security.ima -e hex . 2>/dev/null) \
	       <(cd "$WORK/bsx" && getfattr -R -d -m security.ima -e hex . 2>/dev/null)
tar --format=ustar -cf "$WORK/u.tar" -C "$TREE" .
expect_exit 0 "ustar sign --ima (written as pax)" "$FWSIGN" sign --ima \
	"$WORK/u.tar" -o "$WORK/bu.tar" --key "$K.key" --cert "$K.crt"
expect_exit 0 "ustar made pax: verify --ima" "$FWSIGN" verify --ima \
	"$WORK/bu.tar" --cert "$K.crt"
tar --format=gnu -cf "$WORK/g.tar" -C "$TREE" .
expect_exit 3 "GNU tar --ima refused" "$FWSIGN" sign --ima "$WORK/g.tar" \
	-o "$WORK/bg.tar" --key "$K.key" --cert "$K.crt"
check "... pointing to the appended mode" grep -q "without --ima (appended signatures)" <<<"$ERR"
check "... no output" [ ! -e "$WORK/bg.tar" ]
(cd "$TREE" && find . | cpio -o -H newc 2>/dev/null) >"$WORK/a.cpio"
expect_exit 3 "cpio --ima refused" "$FWSIGN" sign --ima "$WORK/a.cpio" \
	-o "$WORK/b.cpio" --key "$K.key" --cert "$K.crt"
check "... saying an initramfs cannot either" grep -q "^fwsign: .*a.cpio: cpio cannot carry xattrs (nor can an initramfs), so no IMA signatures: sign it without --ima (appended signatures)$" <<<"$ERR"
check "... no output" [ ! -e "$WORK/b.cpio" ]

# --- directory trees -------------------------------------------------------
expect_exit 0 "tree sign --ima" "$FWSIGN" sign --ima "$TREE" -o "$WORK/d" \
	--key "$K.key" --cert "$K.crt"
check "tree: security.ima on exactly those files" cmp -s <(ima_files "$WORK/d") "$WORK/want"
check "tree: evmctl's values" [ "$(evm_same "$WORK/d" "$K.key" "$K.der")" -eq 0 ]
# verify's four cases, on copies
cp -a "$WORK/d" "$WORK/v"
printf 'x' >>"$WORK/v/lib/libm.so.6"			# stale: content changed
evmctl ima_hash -a sha256 "$WORK/v/lib/libdl.so.2" >/dev/null 2>&1	# hash-only
evmctl ima_sign -a sha256 --key "$O.key" "$WORK/v/lib/libanl.so.1" >/dev/null 2>&1
expect_exit 1 "verify --ima-only tells what is wrong" "$FWSIGN" verify \
	--ima-only "$WORK/v" --cert "$K.crt"
check "... stale" grep -qx "lib/libm.so.6: shared-library: security.ima: stale" "$WORK/out.txt"
check "... hash-only" grep -qx "lib/libdl.so.2: shared-library: security.ima: hash-only" "$WORK/out.txt"
check "... foreign-key" grep -qx "lib/libanl.so.1: shared-library: security.ima: foreign-key" "$WORK/out.txt"
check "... summary" grep -qx "security.ima: $((N - 3)) good, 1 foreign-key, 1 stale, 1 hash-only" "$WORK/out.txt"
"$FWSIGN" verify --ima --json "$WORK/v" --cert "$K.crt" >"$WORK/v.json"
expect_exit 1 "verify --ima: the changed file has no trailer left" "$FWSIGN" \
	verify --ima "$WORK/v" --cert "$K.crt"
check "... said first" grep -qx "lib/libm.so.6: unsigned" "$WORK/out.txt"
check "verify --json has the IMA state" grep -q '"path":"lib/libm.so.6".*"ima":"stale"' "$WORK/v.json"
# an unprivileged run: images yes, a host tree's security.* no
chmod -R a+rX "$WORK" "$WORK/keys"
chmod a+r "$K.key"
expect_exit 0 "as nobody: squashfs --ima" setpriv --reuid=nobody --regid=nogroup \
	--clear-groups "$FWSIGN" sign --ima "$WORK/a.sqfs" -o /tmp/fwsign-ima-$$.sqfs \
	--key "$K.key" --cert "$K.crt"
check "as nobody: same bytes as root's" cmp -s "$WORK/b.sqfs" /tmp/fwsign-ima-$$.sqfs
rm -f /tmp/fwsign-ima-$$.sqfs
expect_exit 5 "as nobody: a tree's security.ima refused" setpriv --reuid=nobody \
	--regid=nogroup --clear-groups "$FWSIGN" sign --ima "$TREE" \
	-o /tmp/fwsign-ima-$$.d --key "$K.key" --cert "$K.crt"
check "... saying so" grep -q "need CAP_SYS_ADMIN" <<<"$ERR"
check "... no output" [ ! -e /tmp/fwsign-ima-$$.d ]

# --- ECDSA -----------------------------------------------------------------
expect_exit 0 "ECDSA key: squashfs --ima" "$FWSIGN" sign --ima "$WORK/a.sqfs" \
	-o "$WORK/e.sqfs" --key "$E.key" --cert "$E.crt"
expect_exit 0 "ECDSA: verify --ima" "$FWSIGN" verify --ima "$WORK/e.sqfs" --cert "$E.crt"
unsquashfs -q -d "$WORK/ecx" "$WORK/e.sqfs" >/dev/null 2>&1
check "ECDSA: evmctl ima_verify accepts" eval \
	'evmctl ima_verify -a sha256 --key "$E.der" "$WORK/ecx/lib/libc.so.6" >/dev/null 2>&1'
expect_exit 1 "ECDSA image, RSA cert: foreign-key" "$FWSIGN" verify --ima \
	"$WORK/e.sqfs" --cert "$K.crt"

# --- ima-policy --------------------------------------------------------------
SQ_RULES='appraise func=BPRM_CHECK fsmagic=0x73717368 appraise_type=imasig
appraise func=MMAP_CHECK mask=MAY_EXEC fsmagic=0x73717368 appraise_type=imasig'
expect_exit 0 "ima-policy of a squashfs" "$FWSIGN" ima-policy "$WORK/b.sqfs"
check "... fsmagic rules" [ "$(grep -v '^#' "$WORK/out.txt")" = "$SQ_RULES" ]
expect_exit 0 "ima-policy --modules of an ext4" "$FWSIGN" ima-policy --modules "$WORK/b.ext4"
U=0b2e1e4c-1111-2222-3333-444455556666
check "... fsuuid rules, modules too" [ "$(grep -v '^#' "$WORK/out.txt")" = \
"appraise func=BPRM_CHECK fsuuid=$U appraise_type=imasig
appraise func=MMAP_CHECK mask=MAY_EXEC fsuuid=$U appraise_type=imasig
appraise func=MODULE_CHECK fsuuid=$U appraise_type=imasig" ]
# a sysupgrade tar (a vendor blob) around the squashfs and the ext4
mkdir -p "$WORK/su/sysupgrade-acme_router"
echo "BOARD=acme,router" >"$WORK/su/sysupgrade-acme_router/CONTROL"
cp "$WORK/a.sqfs" "$WORK/su/sysupgrade-acme_router/root"
cp "$WORK/a.ext4" "$WORK/su/sysupgrade-acme_router/data"
(cd "$WORK/su" && tar --format=gnu --numeric-owner --owner=0 --group=0 \
	--mtime=@1700000000 -cf "$WORK/su.bin" sysupgrade-acme_router)
expect_exit 0 "a blob: sign --ima" "$FWSIGN" sign --ima "$WORK/su.bin" \
	-o "$WORK/su-b.bin" --key "$K.key" --cert "$K.crt"
expect_exit 0 "a blob: verify --ima" "$FWSIGN" verify --ima "$WORK/su-b.bin" \
	--cert "$K.crt"
check "... both filesystems good" grep -qx "security.ima: $((2 * N)) good" "$WORK/out.txt"
expect_exit 0 "a blob: ima-policy" "$FWSIGN" ima-policy "$WORK/su-b.bin"
check "... a rule pair per filesystem" [ "$(grep -v '^#' "$WORK/out.txt")" = \
"$SQ_RULES
appraise func=BPRM_CHECK fsuuid=$U appraise_type=imasig
appraise func=MMAP_CHECK mask=MAY_EXEC fsuuid=$U appraise_type=imasig" ]
expect_exit 3 "ima-policy of a cpio: nothing to appraise" "$FWSIGN" ima-policy "$WORK/a.cpio"
expect_exit 2 "ima-policy of a directory: give the image" "$FWSIGN" ima-policy "$TREE"

done_tests
