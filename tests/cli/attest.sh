#!/bin/bash
# fwsign sign --attest: an in-toto Statement v1 (subject: the output's
# sha256; predicate: every file's sha256 before and after, the signer's key
# id) in a DSSE envelope signed with the vendor key, OUTPUT.intoto.json.
# Checked by fwsign verify --attestation and, independently, by Debian's
# securesystemslib (its DSSE Envelope class where it has one, 0.28 and
# later; else its key verification over the PAE computed here) and by
# openssl for the key id; tampering (payload, signature by another key,
# image, one file, payloadType) makes verify exit 1 naming the problem;
# URL-safe base64 is accepted (DSSE verifiers must); an EC key, a vendor
# blob (FIT), refusals, and batch --attest (one attestation per image,
# named in the report, resumable).
. "$(dirname "$0")/lib.sh"
need_fixtures
cd "$WORK" || exit 1
key vendor --rsa 2048
key other --rsa 2048
key ecvendor --ec p256
K=$WORK/keys
PY=/usr/bin/python3	# Debian's, with python3-securesystemslib
V() { "$FWSIGN" verify --attestation "$@"; }

mkdir -p tree/bin tree/lib/modules tree/etc
cp "$FIXTURES/amd64/bin/busybox" tree/bin/busybox
find "$FIXTURES/amd64/modules" -name '*.ko' | sort | head -n 3 | xargs -I{} cp {} tree/lib/modules/
echo "hostname=router" >tree/etc/config
mksquashfs tree rootfs.sqfs -comp xz -noappend -all-root -quiet >/dev/null

expect_exit 0 "sign --attest" "$FWSIGN" sign rootfs.sqfs -o signed.sqfs \
	--key "$K/vendor.key" --cert "$K/vendor.crt" --attest
check "sign --attest: the attestation is beside the output" test -s signed.sqfs.intoto.json
check "sign --attest: the summary names it" grep -q "^attestation: signed.sqfs.intoto.json$" "$WORK/out.txt"
check "sign --attest: no temporary left" [ -z "$(find . -maxdepth 1 -name '*.intoto.json?*')" ]
expect_exit 0 "verify --attestation: good" V signed.sqfs.intoto.json signed.sqfs --cert "$K/vendor.crt"
check "verify --attestation: says good, 5 files" grep -q "good: .* 5 files match" "$WORK/out.txt"
expect_exit 0 "the image's modules verify as usual" "$FWSIGN" verify signed.sqfs --cert "$K/vendor.crt"

# The key id, by openssl: the sha256 of the SubjectPublicKeyInfo DER.
keyid() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
KEYID=$(keyid "$K/vendor.crt")

# securesystemslib, on its own: the envelope, its signature with the
# certificate's key, the statement, the subject and every file (before:
# the tree the image was made of; after: the signed image unpacked).
unsquashfs -q -d signed.tree signed.sqfs >/dev/null
cat >sslib-check.py <<'PY'
import base64, hashlib, json, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization as ser
from securesystemslib import keys as sslib_keys
from securesystemslib.signer import Signature, SSlibKey

att, cert, image, scheme, keyid = sys.argv[1:6]
before_dir, after_dir = sys.argv[6:8] if len(sys.argv) > 7 else (None, None)
pub = x509.load_pem_x509_certificate(open(cert, 'rb').read()).public_key()
spki = pub.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
assert hashlib.sha256(spki).hexdigest() == keyid, 'key id'
pem = pub.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
if scheme.startswith('rsa'):
    kd = sslib_keys.import_rsakey_from_pem(pem, scheme=scheme)
else:
    kd = sslib_keys.import_ecdsakey_from_pem(pem, scheme=scheme)
key = SSlibKey(keyid, kd['keytype'], kd['scheme'], {'public': kd['keyval']['public']})

env = json.load(open(att))
assert set(env) == {'payload', 'payloadType', 'signatures'}, env.keys()
assert env['payloadType'] == 'application/vnd.in-toto+json'
# standard base64 with padding, both the payload and the signatures
for s in [env['payload']] + [x['sig'] for x in env['signatures']]:
    assert base64.b64encode(base64.b64decode(s, validate=True)).decode() == s
assert [x['keyid'] for x in env['signatures']] == [keyid]
try:
    from securesystemslib.dsse import Envelope	# 0.28 and later
    e = Envelope.from_dict(json.loads(json.dumps(env)))
    e.verify([key], 1)
    payload = e.payload
except ImportError:					# Debian 12: 0.26
    payload = base64.b64decode(env['payload'], validate=True)
    t = env['payloadType'].encode()
    pae = b'DSSEv1 %d %b %d %b' % (len(t), t, len(payload), payload)
    for x in env['signatures']:
        sig = base64.b64decode(x['sig'], validate=True).hex()
        key.verify_signature(Signature(x['keyid'], sig), pae)	# raises

st = json.loads(payload)
assert st['_type'] == 'https://in-toto.io/Statement/v1'
assert st['predicateType'] == 'https://fwsign.example/attestation/sign/v1'
sha = lambda p: hashlib.sha256(open(p, 'rb').read()).hexdigest()
assert st['subject'] == [{'name': os.path.basename(image),
                          'digest': {'sha256': sha(image)}}], st['subject']
p = st['predicate']
assert p['signer']['keyid'] == keyid
if before_dir:
    assert p['fileDigests'] is True
    files = {f['path']: f for f in p['files']}
    want = sorted(os.path.relpath(os.path.join(d, n), before_dir)
                  for d, _, ns in os.walk(before_dir) for n in ns)
    assert sorted(files) == want, (sorted(files), want)
    for path, f in files.items():
        assert f['before'] == {'sha256': sha(os.path.join(before_dir, path))}, path
        assert f['after'] == {'sha256': sha(os.path.join(after_dir, path))}, path
        elf = f['kind'] != 'not-elf'
        assert (f.get('keyid') == keyid) == elf, f
        assert f['action'] in (('sign', 're-sign') if elf else ('none',)), f
        assert (f['before'] != f['after']) == elf, f
PY
check "securesystemslib: envelope, signature, subject, every file" \
	$PY sslib-check.py signed.sqfs.intoto.json "$K/vendor.crt" signed.sqfs \
	rsa-pkcs1v15-sha256 "$KEYID" tree signed.tree

# The same input signed again: the same attestation (RSA PKCS#1 v1.5 is
# deterministic, and the statement holds no time).
"$FWSIGN" sign rootfs.sqfs -o again.sqfs --key "$K/vendor.key" --cert "$K/vendor.crt" --attest --attest-name signed.sqfs >/dev/null
check "reproducible: the same attestation byte for byte" cmp -s signed.sqfs.intoto.json again.sqfs.intoto.json

# Tampering.  Envelopes edited in python (json in, json out).
edit() {	# edit IN OUT 'python statements on env (a dict) and st (its statement)'
	$PY - "$1" "$2" "$3" <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
st = json.loads(base64.b64decode(env['payload']))
exec(sys.argv[3])
if st is not None:
    env['payload'] = base64.b64encode(json.dumps(st).encode()).decode()
json.dump(env, open(sys.argv[2], 'w'))
PY
}
edit signed.sqfs.intoto.json t-payload.json "st['predicate']['files'][0]['after']['sha256'] = '0' * 64"
expect_exit 1 "tamper: payload changed" V t-payload.json signed.sqfs --cert "$K/vendor.crt"
check "tamper: payload changed: the signature fails" grep -q "envelope: no signature verifies" "$WORK/out.txt"
check "tamper: payload changed: the file named" grep -q "^bin/busybox: sha256 is" "$WORK/out.txt"

# a signature by another key over the very same PAE
$PY - signed.sqfs.intoto.json pae.bin <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
p, t = base64.b64decode(env['payload']), env['payloadType'].encode()
open(sys.argv[2], 'wb').write(b'DSSEv1 %d %b %d %b' % (len(t), t, len(p), p))
PY
OTHER_SIG=$(openssl dgst -sha256 -sign "$K/other.key" pae.bin | base64 -w0)
VENDOR_SIG=$(openssl dgst -sha256 -sign "$K/vendor.key" pae.bin | base64 -w0)
check "openssl's PKCS#1 v1.5 signature of the PAE is fwsign's" \
	[ "$VENDOR_SIG" = "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["signatures"][0]["sig"])' signed.sqfs.intoto.json)" ]
# (claiming the vendor's key id: a key id is a hint, never trusted)
edit signed.sqfs.intoto.json t-other.json "env['signatures'] = [{'keyid': '$KEYID', 'sig': '$OTHER_SIG'}]; st = None"
expect_exit 1 "tamper: signature by another key" V t-other.json signed.sqfs --cert "$K/vendor.crt"
check "tamper: signature by another key: named" grep -q "envelope: no signature verifies with" "$WORK/out.txt"
expect_exit 0 "the other key's signature verifies with its own certificate" \
	V t-other.json signed.sqfs --cert "$K/other.crt"
expect_exit 1 "the vendor's attestation with another certificate" \
	V signed.sqfs.intoto.json signed.sqfs --cert "$K/other.crt"
$PY sslib-check.py t-other.json "$K/vendor.crt" signed.sqfs rsa-pkcs1v15-sha256 "$KEYID" 2>sslib.err
check "securesystemslib refuses the other key's signature" grep -q "VerificationError\|UnverifiedSignatureError" sslib.err

edit signed.sqfs.intoto.json t-type.json "env['payloadType'] = 'application/json'; st = None"
expect_exit 1 "tamper: payloadType" V t-type.json signed.sqfs --cert "$K/vendor.crt"
check "tamper: payloadType named" grep -q "payloadType is 'application/json'" "$WORK/out.txt"
echo '{"payload": 1}' >t-junk.json
expect_exit 1 "tamper: not an envelope" V t-junk.json signed.sqfs --cert "$K/vendor.crt"

# the image changed: one byte after it, then one file in it
cp signed.sqfs grown.sqfs && echo x >>grown.sqfs
expect_exit 1 "image changed: subject mismatch" V signed.sqfs.intoto.json grown.sqfs --cert "$K/vendor.crt"
check "image changed: the subject named" grep -q "^grown.sqfs: subject: the image's sha256 is" "$WORK/out.txt"
echo "hostname=evil" >signed.tree/etc/config
mksquashfs signed.tree evil.sqfs -comp xz -noappend -all-root -quiet >/dev/null
expect_exit 1 "file changed: exit 1" V signed.sqfs.intoto.json evil.sqfs --cert "$K/vendor.crt"
check "file changed: that file named, no other" \
	[ "$(grep '^[^ ]*: sha256 is' "$WORK/out.txt" | cut -d: -f1)" = etc/config ]

# DSSE: verifiers must accept URL-safe base64 (here without padding)
edit signed.sqfs.intoto.json t-url.json "
u = lambda s: s.translate(str.maketrans('+/', '-_')).rstrip('=')
env['payload'] = u(env['payload'])
env['signatures'][0]['sig'] = u(env['signatures'][0]['sig']); st = None"
expect_exit 0 "URL-safe base64 accepted" V t-url.json signed.sqfs --cert "$K/vendor.crt"

# an EC key: ECDSA P-256 with SHA-256 (securesystemslib's ecdsa-sha2-nistp256)
expect_exit 0 "EC: sign --attest" "$FWSIGN" sign rootfs.sqfs -o ec.sqfs \
	--key "$K/ecvendor.key" --cert "$K/ecvendor.crt" --attest
expect_exit 0 "EC: verify --attestation" V ec.sqfs.intoto.json ec.sqfs --cert "$K/ecvendor.crt"
check "EC: securesystemslib" $PY sslib-check.py ec.sqfs.intoto.json "$K/ecvendor.crt" \
	ec.sqfs ecdsa-sha2-nistp256 "$(keyid "$K/ecvendor.crt")"

# refusals: nothing written
touch other.sqfs.intoto.json
expect_exit 2 "an existing attestation is not overwritten" "$FWSIGN" sign rootfs.sqfs \
	-o other.sqfs --key "$K/vendor.key" --cert "$K/vendor.crt" --attest
check "refused: no output" [ ! -e other.sqfs ]
cp -a tree tree2
expect_exit 2 "--attest with --in-place refused" "$FWSIGN" sign tree2 --in-place \
	--key "$K/vendor.key" --cert "$K/vendor.crt" --attest
expect_exit 2 "--attest on a directory refused" "$FWSIGN" sign tree2 -o tree2.out \
	--key "$K/vendor.key" --cert "$K/vendor.crt" --attest
expect_exit 3 "verify --attestation: a missing file" V nothing.json signed.sqfs --cert "$K/vendor.crt"

# a vendor blob: every file of its filesystem, before and after, and the
# image by its sha256
printf '/dts-v1/;\n/ { description = "nas"; #address-cells = <1>; images { rootfs-1 { data = /incbin/("rootfs.sqfs"); type = "filesystem"; arch = "arm64"; compression = "none"; hash-1 { algo = "sha256"; }; }; }; configurations { default = "c"; c { loadables = "rootfs-1"; }; }; };\n' >fit.its
mkimage -f fit.its nas.itb >/dev/null
expect_exit 0 "blob: sign --attest" "$FWSIGN" sign nas.itb -o nas.signed.itb \
	--key "$K/vendor.key" --cert "$K/vendor.crt" --attest
expect_exit 0 "blob: verify --attestation" V nas.signed.itb.intoto.json nas.signed.itb --cert "$K/vendor.crt"
check "blob: securesystemslib" $PY sslib-check.py nas.signed.itb.intoto.json "$K/vendor.crt" \
	nas.signed.itb rsa-pkcs1v15-sha256 "$KEYID"
# the digests, against the squashfs cut out of each FIT with dumpimage
dumpimage -T flat_dt -p 0 -o in.sqfs nas.itb >/dev/null
dumpimage -T flat_dt -p 0 -o out.sqfs nas.signed.itb >/dev/null
rm -rf in.d out.d && unsquashfs -q -d in.d in.sqfs >/dev/null && unsquashfs -q -d out.d out.sqfs >/dev/null
check "blob: every file of the rootfs, sha256 before and after" $PY - nas.signed.itb.intoto.json <<'PY'
import base64, hashlib, json, os, sys
p = json.loads(base64.b64decode(json.load(open(sys.argv[1]))['payload']))['predicate']
assert p['fileDigests'] is True and len(p['files']) == 5, p
assert sum(f['action'] in ('sign', 're-sign') for f in p['files']) == 4, p['files']
def sha(d, path):
    return hashlib.sha256(open(os.path.join(d, path), 'rb').read()).hexdigest()
for f in p['files']:
    part, path = f['path'].split(':', 1)
    assert part == 'images/rootfs-1', f
    assert f['before']['sha256'] == sha('in.d', path), f
    assert f['after']['sha256'] == sha('out.d', path), f
    assert (f['before'] != f['after']) == (f['action'] != 'none'), f
PY
cp nas.signed.itb nas.evil.itb && echo x >>nas.evil.itb
expect_exit 1 "blob: image changed" V nas.signed.itb.intoto.json nas.evil.itb --cert "$K/vendor.crt"
# one file of the rootfs changed and the FIT rebuilt around it, hashes
# right: the image's sha256 and that file's are both reported
cp -a out.d evil.d && printf x >>"evil.d/$(cd out.d && find . -type f | sort | head -1)"
mksquashfs evil.d evil.sqfs -noappend -all-root -quiet >/dev/null
sed 's|rootfs.sqfs|evil.sqfs|' fit.its >evil.its && mkimage -f evil.its nas.evil2.itb >/dev/null
expect_exit 1 "blob: a file changed" V nas.signed.itb.intoto.json nas.evil2.itb --cert "$K/vendor.crt"
check "blob: the changed file is named" grep -q "images/rootfs-1:.*sha256 is" "$WORK/out.txt"

# batch --attest: one per image, in the report, resumable
mkdir rel
cp rootfs.sqfs rel/router.sqfs
cp nas.itb rel/nas.itb
tar -C tree -czf rel/camera.tar.gz .
expect_exit 0 "batch --attest" "$FWSIGN" batch rel -o out --key "$K/vendor.key" \
	--cert "$K/vendor.crt" --attest --jobs 2
for f in router.sqfs nas.itb camera.tar.gz; do
	expect_exit 0 "batch --attest: $f's attestation verifies" \
		V "out/$f.intoto.json" "out/$f" --cert "$K/vendor.crt"
	check "batch --attest: $f: securesystemslib" $PY sslib-check.py "out/$f.intoto.json" \
		"$K/vendor.crt" "out/$f" rsa-pkcs1v15-sha256 "$KEYID"
done
check "batch --attest: no temporaries left" [ -z "$(find out -maxdepth 1 -name '.*.batch-out*')" ]
check "batch --attest: the report names each attestation and its sha256" $PY - out/fwsign-batch.json <<'PY'
import hashlib, json, sys
r = json.load(open(sys.argv[1]))
assert r['summary'] == {'signed': 3, 'skipped': 0, 'failed': 0}, r['summary']
for im in r['images']:
    assert im['attestation'] == 'out/%s.intoto.json' % im['name'], im
    assert im['attestation_sha256'] == hashlib.sha256(open(im['attestation'], 'rb').read()).hexdigest()
PY
"$FWSIGN" batch rel -o out --key "$K/vendor.key" --cert "$K/vendor.crt" --attest >/dev/null
check "batch --attest: a rerun skips every image" \
	[ "$($PY -c "import json;print(json.load(open('out/fwsign-batch.json'))['summary'])")" = "{'signed': 0, 'skipped': 3, 'failed': 0}" ]
rm out/nas.itb.intoto.json
"$FWSIGN" batch rel -o out --key "$K/vendor.key" --cert "$K/vendor.crt" --attest >/dev/null
check "batch --attest: a missing attestation is made again" \
	[ "$($PY -c "import json;r=json.load(open('out/fwsign-batch.json'));print(sorted(i['name'] for i in r['images'] if i['status']=='signed'))")" = "['nas.itb']" ]
expect_exit 0 "batch --attest: the new one verifies" V out/nas.itb.intoto.json out/nas.itb --cert "$K/vendor.crt"

done_tests
