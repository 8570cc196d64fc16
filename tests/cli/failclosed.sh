#!/bin/bash
# Fail closed: no file that must run is shipped unsigned with exit 0, and
# no report that was never written is a success.
#  - a real shared library ending in a damaged trailer (magic present,
#    sig_len 0x7fffffff) is signed over all its bytes (the kernel reads only
#    the last trailer), said so in the report, and verifies good;
#  - libelf's "no error" never ends a message;
#  - stdout to /dev/full or a closed pipe, and a full filesystem as the
#    output directory, give "fwsign: OUTPUT: reason" and exit 5, with no
#    partial output left.
. "$(dirname "$0")/lib.sh"
need_fixtures
cd "$WORK" || exit 1
key vendor --rsa 2048
K=$WORK/keys/vendor
LIBC=$(find "$FIXTURES/amd64" -name 'libc.so.6' | head -n 1)
[ -n "$LIBC" ] || { echo "no libc.so.6 in the fixtures" >&2; exit 1; }

# --- a damaged trailer -------------------------------------------------------
mkdir -p t/lib t/bin
cp "$LIBC" t/lib/libc.so.6
python3 - t/lib/libc.so.6 <<'PY'
import struct, sys
f = sys.argv[1]
d = open(f, 'rb').read()
# struct module_signature with id_type PKCS7 and a sig_len no file can hold
info = bytes([0, 0, 2, 0, 0, 0, 0, 0]) + struct.pack('>I', 0x7fffffff)
open(f, 'wb').write(d + info + b'~Module signature appended~\n')
PY
cp "$FIXTURES/amd64/bin/busybox" t/bin/busybox
expect_exit 0 "damaged trailer: signed" "$FWSIGN" sign t -o t.signed --key $K.key --cert $K.crt --json
check "damaged trailer: the report says so" grep -q "damaged signature trailer" "$WORK/out.txt"
check "damaged trailer: signed over all of it" sh -c \
	"head -c $(stat -c %s t/lib/libc.so.6) t.signed/lib/libc.so.6 | cmp -s - t/lib/libc.so.6"
check "damaged trailer: a trailer follows" [ "$(sig_len t.signed/lib/libc.so.6)" -gt 0 ]
expect_exit 0 "damaged trailer: verifies good" "$FWSIGN" verify t.signed --cert $K.crt
check "... both files good" grep -q "^2 good" "$WORK/out.txt"
strip_sig t.signed/lib/libc.so.6 c.content
extract_sig t.signed/lib/libc.so.6 c.p7s
check "... openssl cms -verify over the content" openssl cms -verify -binary \
	-inform DER -in c.p7s -content c.content -certfile $K.crt -nointern -noverify -out /dev/null

# --- libelf's "no error" ---------------------------------------------------------
printf '\177ELF\2\1\1\0garbage' >t/bin/garbage
"$FWSIGN" sign t -o t.g --key $K.key --cert $K.crt >/dev/null 2>g.err
check "no 'no error' in messages" sh -c "! grep -q 'no error' g.err"
check "... the malformed file still named" grep -q "bin/garbage: warning: malformed-elf" g.err

# --- every output checked ----------------------------------------------------------
mksquashfs t t.sqfs -noappend -all-root -quiet >/dev/null
expect_exit 5 "info --json > /dev/full" sh -c "'$FWSIGN' info t.sqfs --json >/dev/full"
check "... says so" grep -q "^fwsign: standard output: No space left on device" "$WORK/err.txt"
expect_exit 5 "verify > /dev/full" sh -c "'$FWSIGN' verify t.signed --cert $K.crt >/dev/full"
expect_exit 5 "sign --json > /dev/full" sh -c \
	"'$FWSIGN' sign t -o t.full --key $K.key --cert $K.crt --json >/dev/full"
# a closed pipe: the reader is gone before fwsign writes
rc=$( { "$FWSIGN" info t.sqfs --json 2>pipe.err; echo $? >pipe.rc; } | true; cat pipe.rc)
check "closed pipe: exit 5 (got $rc)" [ "$rc" = 5 ]
check "... says so" grep -q "Broken pipe" pipe.err
# a full filesystem as the output directory: exit 5, nothing left behind
if [ "$(id -u)" = 0 ] && mkdir -p small && mount -t tmpfs -o size=256k tmpfs small 2>/dev/null; then
	expect_exit 5 "full filesystem: sign a tree" "$FWSIGN" sign t -o small/out --key $K.key --cert $K.crt
	check "... names the output" grep -q "small/out" "$WORK/err.txt"
	check "... nothing left" [ -z "$(ls -A small)" ]
	expect_exit 5 "full filesystem: sign a squashfs" "$FWSIGN" sign t.sqfs -o small/out.sqfs --key $K.key --cert $K.crt
	check "... nothing left" [ -z "$(ls -A small)" ]
	umount small
else
	echo "skip: no tmpfs mount (not root?)"
fi
done_tests
