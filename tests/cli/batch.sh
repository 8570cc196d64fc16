#!/bin/bash
# fwsign batch on a small release of real images (squashfs, ext4, tar.gz,
# a FIT blob, one broken image): every good image signed and verified, the
# broken one reported without stopping the others (exit 1), the JSON report
# holding each input's and output's sha256 (checked with sha256sum), a rerun
# skipping what is done (outputs untouched), a changed input re-signed, a
# killed run's leftovers cleaned, an unreadable input failed alone (the
# inputs are hashed beside the children), and shards run as separate processes
# (--shard, GitLab's CI_NODE_INDEX/CI_NODE_TOTAL, Kubernetes'
# JOB_COMPLETION_INDEX) merging into the one-run result.
. "$(dirname "$0")/lib.sh"
need_fixtures
cd "$WORK" || exit 1
key vendor --rsa 2048
K=$WORK/keys
B=$FIXTURES/amd64/bin/busybox

mkdir -p tree/bin tree/lib/modules rel
cp "$B" tree/bin/busybox
find "$FIXTURES/amd64/modules" -name '*.ko' | head -n 3 | xargs -I{} cp {} tree/lib/modules/
mksquashfs tree rel/router-a.sqfs -comp xz -noappend -all-root -quiet >/dev/null
mksquashfs tree rel/router-b.sqfs -comp gzip -noappend -all-root -quiet >/dev/null
mke2fs -q -t ext4 -d tree rel/gateway.ext4 16M
tar -C tree -czf rel/camera.tar.gz .
printf '/dts-v1/;\n/ { description = "nas"; #address-cells = <1>; images { rootfs-1 { data = /incbin/("rel/router-a.sqfs"); type = "filesystem"; arch = "arm64"; compression = "none"; hash-1 { algo = "sha256"; }; }; }; configurations { default = "c"; c { loadables = "rootfs-1"; }; }; };\n' >fit.its
mkimage -f fit.its rel/nas.itb >/dev/null
head -c 4096 /dev/urandom >rel/broken.bin
NIMG=6

expect_exit 1 "batch: one broken image makes the exit 1" \
	"$FWSIGN" batch rel -o out --key "$K/vendor.key" --cert "$K/vendor.crt" --jobs 2
check "batch: the broken image is named in the table" grep -q "^broken.bin *failed" "$WORK/out.txt"
for f in router-a.sqfs router-b.sqfs gateway.ext4 camera.tar.gz nas.itb; do
	expect_exit 0 "batch: $f signed and verifies" "$FWSIGN" verify "out/$f" --cert "$K/vendor.crt"
done
check "batch: no output for the broken image" [ ! -e out/broken.bin ]
check "batch: no temporaries left" [ -z "$(find out -name '.*.batch-out' -o -name '*.fwsign-??????')" ]
python3 - out/fwsign-batch.json <<'PY' && pass || fail "batch: report sha256s and counts"
import hashlib, json, sys
r = json.load(open(sys.argv[1]))
assert len(r['release']) == 6 and len(r['images']) == 6, r['release']
for im in r['images']:
    ih = hashlib.sha256(open(im['input'], 'rb').read()).hexdigest()
    assert im['input_sha256'] == ih, im['name']
    if im['status'] == 'signed':
        oh = hashlib.sha256(open('out/' + im['name'], 'rb').read()).hexdigest()
        assert im['output_sha256'] == oh, im['name']
        s = im['summary']
        assert s['signed'] + s['resigned'] >= 1, im['name']
    else:
        assert im['name'] == 'broken.bin' and im['error'], im
assert r['summary'] == {'signed': 5, 'skipped': 0, 'failed': 1}, r['summary']
PY

# a rerun skips what is complete; a changed input is signed again
stamp() { stat -c '%n %Y %i' out/*.sqfs out/*.ext4 out/*.gz out/*.itb; }
before=$(stamp)
sleep 1
expect_exit 1 "rerun: still exit 1 (the broken image)" \
	"$FWSIGN" batch rel -o out --key "$K/vendor.key" --cert "$K/vendor.crt" --json
check "rerun: every good image skipped" [ "$(python3 -c "import json,sys;print(json.load(open('out/fwsign-batch.json'))['summary'])")" = "{'signed': 0, 'skipped': 5, 'failed': 1}" ]
check "rerun: outputs untouched" [ "$(stamp)" = "$before" ]
cp tree/bin/busybox tree/bin/extra
mksquashfs tree rel/router-b.sqfs -comp gzip -noappend -all-root -quiet >/dev/null
rm -f rel/broken.bin
"$FWSIGN" batch rel -o out --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
check "changed input: only it is signed again" [ "$(python3 -c "import json;r=json.load(open('out/fwsign-batch.json'));print(sorted((i['name'],i['status']) for i in r['images']))")" = "[('camera.tar.gz', 'skipped'), ('gateway.ext4', 'skipped'), ('nas.itb', 'skipped'), ('router-a.sqfs', 'skipped'), ('router-b.sqfs', 'signed')]" ]
expect_exit 0 "changed input: the new output verifies" "$FWSIGN" verify out/router-b.sqfs --cert "$K/vendor.crt"

# a killed run: a half-written temporary and an output without its state
head -c 100 out/gateway.ext4 >out/.gateway.ext4.batch-out
rm -f out/.fwsign-batch/camera.tar.gz.json
echo junk >>out/nas.itb
"$FWSIGN" batch rel -o out --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
check "killed run: the temporary is gone" [ ! -e out/.gateway.ext4.batch-out ]
check "killed run: an output without state, or damaged, is signed again" \
	[ "$(python3 -c "import json;r=json.load(open('out/fwsign-batch.json'));print(sorted(i['name'] for i in r['images'] if i['status']=='signed'))")" = "['camera.tar.gz', 'nas.itb']" ]
expect_exit 0 "killed run: nas.itb verifies again" "$FWSIGN" verify out/nas.itb --cert "$K/vendor.crt"

# inputs are hashed on a thread beside the children: one that cannot be
# read still fails alone, named, with no output, and a rerun whose input
# went away fails it the same way (not skipped on its old state)
cp rel/router-a.sqfs gone-a.sqfs
printf 'rel/router-b.sqfs\n%s/gone-a.sqfs\nmissing/none.sqfs\nrel/gateway.ext4\n' "$WORK" >gone.txt
expect_exit 1 "unreadable input: exit 1" "$FWSIGN" batch gone.txt -o outg \
	--key "$K/vendor.key" --cert "$K/vendor.crt" --jobs 2
check "unreadable input: failed, named, the others signed, no output for it" python3 -c '
import hashlib, json, os
r = json.load(open("outg/fwsign-batch.json"))
st = {i["name"]: (i["status"], i["error"], i["input_sha256"]) for i in r["images"]}
assert st["none.sqfs"][:2] == ("failed", "missing/none.sqfs: cannot read: No such file or directory"), st
for n in ("router-b.sqfs", "gone-a.sqfs", "gateway.ext4"):
    assert st[n][0] == "signed", st
    assert st[n][2] == hashlib.sha256(open(r["images"][[i["name"] for i in r["images"]].index(n)]["input"], "rb").read()).hexdigest()
assert not os.path.exists("outg/none.sqfs")
'
rm gone-a.sqfs
expect_exit 1 "rerun, an input gone: exit 1" "$FWSIGN" batch gone.txt -o outg \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "rerun, an input gone: it fails (cannot read), the others skipped" python3 -c '
import json
r = json.load(open("outg/fwsign-batch.json"))
st = {i["name"]: (i["status"], i["error"]) for i in r["images"]}
assert st["gone-a.sqfs"] == ("failed", "'"$WORK"'/gone-a.sqfs: cannot read: No such file or directory"), st
assert st["router-b.sqfs"][0] == st["gateway.ext4"][0] == "skipped", st
assert r["summary"] == {"signed": 0, "skipped": 2, "failed": 2}, r["summary"]
'

# a list, with comments, in another order; duplicates refused
ls rel | sort -r | sed 's|^|rel/|; 1i # the release' >list.txt
expect_exit 0 "list: signs the same images" "$FWSIGN" batch list.txt -o outl \
	--key "$K/vendor.key" --cert "$K/vendor.crt"
check "list: the same outputs as the directory run" sh -c \
	"for f in router-a.sqfs gateway.ext4 camera.tar.gz; do cmp -s out/\$f outl/\$f || exit 1; done"
mkdir -p dup && cp rel/nas.itb dup/ && printf 'rel/nas.itb\ndup/nas.itb\n' >dup.txt
expect_exit 3 "list: two images of one name refused" "$FWSIGN" batch dup.txt -o outd \
	--key "$K/vendor.key" --cert "$K/vendor.crt"

# shards: three processes, three ways of naming the shard, merged
"$FWSIGN" batch rel -o one --key "$K/vendor.key" --cert "$K/vendor.crt" >/dev/null
"$FWSIGN" batch list.txt -o sh0 --key "$K/vendor.key" --cert "$K/vendor.crt" --shard 0/3 >/dev/null &
CI_NODE_INDEX=2 CI_NODE_TOTAL=3 "$FWSIGN" batch rel -o sh1 --key "$K/vendor.key" \
	--cert "$K/vendor.crt" >/dev/null &
JOB_COMPLETION_INDEX=2 "$FWSIGN" batch rel -o sh2 --key "$K/vendor.key" \
	--cert "$K/vendor.crt" --shards 3 >/dev/null &
wait
expect_exit 0 "shards: merged" "$FWSIGN" batch --merge sh0/fwsign-batch.json \
	sh1/fwsign-batch.json sh2/fwsign-batch.json --report merged.json
python3 - one/fwsign-batch.json merged.json <<'PY' && pass || fail "shards: the merge equals the one-run report"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
key = lambda r: sorted((i['name'], i['status'], i['input_sha256'], i['output_sha256']) for i in r['images'])
assert key(a) == key(b), (key(a), key(b))
assert a['release'] == b['release']
PY
check "shards: each image in exactly one shard" [ "$(ls sh0 sh1 sh2 | grep -vc -e : -e json -e '^$')" = 5 ]
expect_exit 1 "shards: a missing shard fails the merge" "$FWSIGN" batch --merge \
	sh0/fwsign-batch.json sh2/fwsign-batch.json
check "... naming the missing image" grep -q "is in no report" "$WORK/err.txt"
expect_exit 1 "shards: an image signed twice fails the merge" "$FWSIGN" batch --merge \
	sh0/fwsign-batch.json sh0/fwsign-batch.json sh1/fwsign-batch.json sh2/fwsign-batch.json
check "... naming it" grep -q "signed twice" "$WORK/err.txt"
expect_exit 2 "bad --shard" "$FWSIGN" batch rel -o x --key "$K/vendor.key" \
	--cert "$K/vendor.crt" --shard 3/3
expect_exit 4 "bad key: refused before any image" "$FWSIGN" batch rel -o y \
	--key "$K/vendor.crt" --cert "$K/vendor.crt"
check "... nothing made" [ ! -e y ]
done_tests
