#!/bin/bash
# Bad input: one line "fwsign: FILE: reason" on stderr, a documented exit
# code (2 usage, 3 bad input, 4 key/certificate, 5 I/O), the input never
# modified and no partial output left behind.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048
key other --rsa 2048
K=$WORK/keys/vendor
A=$FIXTURES/amd64

mkdir -p "$WORK/in/bin" "$WORK/in/lib"
cp "$A/bin/busybox" "$WORK/in/bin/"
cp "$A/lib/libc.so.6" "$WORK/in/lib/"
head -c 3000 "$A/bin/busybox" >"$WORK/in/bin/truncated"	# malformed ELF
printf '\177ELF\002\001\001garbage' >"$WORK/in/bin/garbage"
snapshot() { (cd "$WORK/in" && find . -printf '%p %m %s %T@\n' | sort && find . -type f -exec sha256sum {} + | sort); }
BEFORE=$(snapshot)

one_line() {	# the error is a single "fwsign: FILE: reason" line naming $1
	[ "$(wc -l <"$WORK/err.txt")" -eq 1 ] && grep -q "^fwsign: .*$1.*: " "$WORK/err.txt"
}
no_leftovers() {
	[ -z "$(ls -A "$WORK" | grep -e fwsign -e '^out$')" ]
}
bad() {	# bad CODE "what" NAMED-IN-ERROR command...
	local code=$1 what=$2 name=$3; shift 3
	expect_exit "$code" "$what" "$@"
	check "$what: one line naming $name ($ERR)" one_line "$name"
	check "$what: no output left" no_leftovers
	check "$what: input untouched" [ "$BEFORE" = "$(snapshot)" ]
}

bad 3 "missing input" nosuch "$FWSIGN" sign "$WORK/nosuch" -o "$WORK/out" --key $K.key --cert $K.crt
bad 4 "missing key" nokey "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key "$WORK/nokey" --cert $K.crt
bad 4 "missing cert" nocert "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $K.key --cert "$WORK/nocert"
bad 4 "key does not match cert" vendor.key "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $K.key --cert "$WORK/keys/other.crt"
check "mismatch says so" grep -q "does not match" "$WORK/err.txt"
bad 4 "cert is not a cert" passwd "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $K.key --cert /etc/passwd
bad 4 "key is not a key" passwd "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key /etc/passwd --cert $K.crt

# Encrypted key: passphrase from the environment or a file, never argv.
export FW_PASS=correct-horse
key enc --rsa 2048 --pass-env FW_PASS
check "encrypted key is encrypted" grep -q ENCRYPTED "$WORK/keys/enc.key"
check "key mode 0600" [ "$(stat -c %a "$WORK/keys/enc.key")" = 600 ]
E=$WORK/keys/enc
bad 4 "no passphrase" enc.key "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $E.key --cert $E.crt
check "no passphrase says so" grep -q "encrypted" "$WORK/err.txt"
export FW_WRONG=battery-staple
bad 4 "wrong passphrase" enc.key "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $E.key --cert $E.crt --pass-env FW_WRONG
check "wrong passphrase says so" grep -q "wrong passphrase" "$WORK/err.txt"
bad 4 "unset passphrase variable" FW_NOPE "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $E.key --cert $E.crt --pass-env FW_NOPE
echo correct-horse >"$WORK/passfile"
expect_exit 0 "passphrase file" "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $E.key --cert $E.crt --pass-file "$WORK/passfile"
rm -rf "$WORK/out"
expect_exit 0 "passphrase env" "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $E.key --cert $E.crt --pass-env FW_PASS
rm -rf "$WORK/out"

# Certificates the tool refuses to sign with.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.crt" \
	-subj /CN=ca -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
bad 4 "CA certificate" ca.crt "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key "$WORK/ca.key" --cert "$WORK/ca.crt"
check "CA says so" grep -q "CA certificate" "$WORK/err.txt"
if command -v faketime >/dev/null; then
	printf '[req]\ndistinguished_name=dn\nx509_extensions=v3\n[dn]\n[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nsubjectKeyIdentifier=hash\n' >"$WORK/leaf.cnf"
	faketime '2020-01-01 00:00:00' openssl req -x509 -newkey rsa:2048 -nodes -config "$WORK/leaf.cnf" \
		-keyout "$WORK/exp.key" -out "$WORK/exp.crt" -subj /CN=exp -days 30 2>/dev/null
	bad 4 "expired certificate" exp.crt "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key "$WORK/exp.key" --cert "$WORK/exp.crt"
	check "expired says so" grep -q "expired" "$WORK/err.txt"
	expect_exit 0 "--allow-expired" "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key "$WORK/exp.key" --cert "$WORK/exp.crt" --allow-expired
	rm -rf "$WORK/out"
else
	fail "faketime missing"
fi

# Output inside the input, existing output, usage errors.
bad 2 "output inside input" in/sub "$FWSIGN" sign "$WORK/in" -o "$WORK/in/sub" --key $K.key --cert $K.crt
mkdir "$WORK/out-exists"
expect_exit 2 "existing output" "$FWSIGN" sign "$WORK/in" -o "$WORK/out-exists" --key $K.key --cert $K.crt
check "existing output named" one_line out-exists
rmdir "$WORK/out-exists"
expect_exit 2 "no output" "$FWSIGN" sign "$WORK/in" --key $K.key --cert $K.crt
expect_exit 2 "unknown option" "$FWSIGN" sign "$WORK/in" --bogus
expect_exit 2 "unknown command" "$FWSIGN" frobnicate
expect_exit 2 "bad hash" "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $K.key --cert $K.crt --hash md5
expect_exit 3 "special file input" "$FWSIGN" sign /dev/null -o "$WORK/out" --key $K.key --cert $K.crt
check "no output" no_leftovers

# Malformed ELF: reported, never modified, never fatal (--strict: exit 1).
expect_exit 0 "malformed in a tree" "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $K.key --cert $K.crt
check "malformed warned" grep -q "^fwsign: bin/truncated: warning: malformed-elf" "$WORK/err.txt"
check "garbage warned" grep -q "^fwsign: bin/garbage: warning: malformed-elf" "$WORK/err.txt"
check "malformed copied unchanged" cmp -s "$WORK/in/bin/truncated" "$WORK/out/bin/truncated"
check "busybox signed" [ "$(sig_len "$WORK/out/bin/busybox")" -gt 0 ]
rm -rf "$WORK/out"
expect_exit 1 "--strict" "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $K.key --cert $K.crt --strict
rm -rf "$WORK/out"
bad 3 "malformed file named alone" truncated "$FWSIGN" sign "$WORK/in/bin/truncated" -o "$WORK/out" --key $K.key --cert $K.crt

printf '#!/bin/sh\necho hi\n' >"$WORK/script.sh"
expect_exit 3 "script named alone" "$FWSIGN" sign "$WORK/script.sh" -o "$WORK/out" --key $K.key --cert $K.crt
check "script named alone: one line" one_line script.sh
check "script: nothing written" no_leftovers

# Unreadable file (as nobody): an error naming it, nothing written.
if command -v setpriv >/dev/null; then
	mkdir -p "$WORK/u/in" && cp "$A/bin/busybox" "$WORK/u/in/a" && cp "$A/bin/busybox" "$WORK/u/in/b"
	cp $K.key $K.crt "$WORK/u/"
	chown -R nobody "$WORK/u" && chmod 000 "$WORK/u/in/b"
	expect_exit 3 "unreadable file" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$FWSIGN" sign "$WORK/u/in" -o "$WORK/u/out" --key "$WORK/u/vendor.key" --cert "$WORK/u/vendor.crt"
	check "unreadable named ($ERR)" grep -q "^fwsign: b: cannot open: Permission denied" "$WORK/err.txt"
	check "unreadable: nothing left" [ -z "$(ls -A "$WORK/u" | grep -v -e in -e vendor)" ]
	check "unreadable: input untouched" cmp -s "$A/bin/busybox" "$WORK/u/in/a"
fi

# Verify: a changed byte and another key are caught.
"$FWSIGN" sign "$WORK/in" -o "$WORK/signed" --key $K.key --cert $K.crt 2>/dev/null >&2
cp -a "$WORK/signed" "$WORK/tampered"
printf 'X' | dd of="$WORK/tampered/bin/busybox" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_exit 1 "verify tampered" "$FWSIGN" verify "$WORK/tampered" --cert $K.crt
check "tampered reported" grep -q "^bin/busybox: bad-signature" "$WORK/out.txt"
expect_exit 1 "verify other key" "$FWSIGN" verify "$WORK/signed" --cert "$WORK/keys/other.crt"
check "foreign reported" grep -q "^bin/busybox: foreign-key" "$WORK/out.txt"
expect_exit 1 "verify unsigned" "$FWSIGN" verify "$WORK/in" --cert $K.crt
check "unsigned reported" grep -q "^lib/libc.so.6: unsigned" "$WORK/out.txt"
expect_exit 0 "verify good" "$FWSIGN" verify "$WORK/signed" --cert $K.crt
rm -rf "$WORK/signed" "$WORK/tampered"
done_tests
