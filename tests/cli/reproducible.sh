#!/bin/bash
# Same input and key give byte-identical output, whatever the thread count;
# the JSON report is the same but for the timing; --dry-run writes nothing.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048
K=$WORK/keys/vendor
for arch in amd64 s390x; do
	in=$FIXTURES/$arch
	"$FWSIGN" sign "$in" -o "$WORK/a-$arch" --key $K.key --cert $K.crt --jobs 1 --json >"$WORK/a.json"
	"$FWSIGN" sign "$in" -o "$WORK/b-$arch" --key $K.key --cert $K.crt --jobs 2 --json >"$WORK/b.json"
	check "$arch: same bytes with 1 and 2 jobs" same_files "$WORK/a-$arch" "$WORK/b-$arch"
	check "$arch: same metadata" [ "$(tree_meta "$WORK/a-$arch")" = "$(tree_meta "$WORK/b-$arch")" ]
	check "$arch: same report" [ "$(sed 's/"seconds":[0-9.]*//' "$WORK/a.json")" = "$(sed 's/"seconds":[0-9.]*//' "$WORK/b.json")" ]
	check "$arch: json parses" python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s = r['summary']; assert s['signed'] + s['resigned'] > 400, s" "$WORK/a.json"
	check "$arch: report has every field" python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
need = {'path','kind','machine','class','endian','action','result','bytes_added','size','compression'}
assert all(need <= set(f) for f in r['files'])
bb = [f for f in r['files'] if f['path'] == 'bin/busybox'][0]
assert bb['action'] == 'sign' and bb['result'] == 'ok' and bb['bytes_added'] > 300, bb
ko = [f for f in r['files'] if f['kind'] == 'kernel-module'][0]
assert ko['action'] == 're-sign', ko
" "$WORK/a.json"
	# Signing the signed tree again changes nothing (re-sign replaces).
	"$FWSIGN" sign "$WORK/a-$arch" -o "$WORK/c-$arch" --key $K.key --cert $K.crt >/dev/null
	check "$arch: re-signing is idempotent" same_files "$WORK/a-$arch" "$WORK/c-$arch"
	rm -rf "$WORK/b-$arch" "$WORK/c-$arch"
done
expect_exit 0 "dry run" "$FWSIGN" sign "$FIXTURES/amd64" -o "$WORK/dry" --dry-run
check "dry run writes nothing" [ ! -e "$WORK/dry" ]
check "dry run lists the plan" grep -q "^sign   executable      x86_64   bin/busybox" "$WORK/out.txt"
done_tests
