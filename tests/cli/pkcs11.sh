#!/bin/bash
# Keys in a PKCS#11 token: a SoftHSM2 token private to the test, reached
# through libp11's "pkcs11" OpenSSL engine.  Signing with the token key
# gives the same bytes as signing with the PEM key it was imported from
# (RSA PKCS#1 v1.5 is deterministic), and as sign-file, with one thread or
# many; the PIN comes from --pass-env or --pass-file; a wrong PIN or a key
# that does not match the certificate is exit 4, one line, no output.
. "$(dirname "$0")/lib.sh"

# The tools come with the project's dependencies: missing is a failure.
missing=
for t in softhsm2-util pkcs11-tool p11tool openssl python3 setsid timeout; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
[ -z "$missing" ] || { fail "missing tools:$missing"; done_tests; }
[ -x "$SIGN_FILE" ] || { fail "no sign-file at $SIGN_FILE"; done_tests; }

# The SoftHSM2 module, wherever this distribution puts it.
softhsm_module() {
	local m ma
	ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
		gcc -print-multiarch 2>/dev/null || true)
	for m in "${SOFTHSM2_MODULE:-}" /usr/lib/softhsm/libsofthsm2.so \
		${ma:+/usr/lib/$ma/softhsm/libsofthsm2.so} \
		/usr/lib/*/softhsm/libsofthsm2.so /usr/lib64/softhsm/libsofthsm2.so \
		/usr/local/lib/softhsm/libsofthsm2.so; do
		[ -n "$m" ] && [ -f "$m" ] && { echo "$m"; return 0; }
	done
	dpkg -L libsofthsm2 2>/dev/null | grep -m1 '/libsofthsm2\.so$'
}
MOD=$(softhsm_module)
[ -n "$MOD" ] || { fail "no libsofthsm2.so (package libsofthsm2)"; done_tests; }
check "OpenSSL has the pkcs11 engine (libengine-pkcs11-openssl)" \
	sh -c 'openssl engine -t pkcs11 2>&1 | grep -q "\[ available \]"'

# A token of our own: SoftHSM2 reads SOFTHSM2_CONF, in the tools and in
# fwsign alike (directly or through p11-kit's proxy, the engine's default).
unset PKCS11_MODULE_PATH
HSM=$WORK/hsm
mkdir -p "$HSM/tokens"
cat >"$HSM/softhsm2.conf" <<EOF
directories.tokendir = $HSM/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$HSM/softhsm2.conf
LABEL="fwsign test"		# a space, so URIs need %20
SO_PIN=87654321
PIN=246810
p11() { pkcs11-tool --module "$MOD" --token-label "$LABEL" --login --pin "$PIN" "$@"; }

# logged command...: quiet, but its output is shown when it fails
logged() { "$@" >"$WORK/log.txt" 2>&1 || { cat "$WORK/log.txt" >&2; false; }; }
check "init token" logged softhsm2-util --init-token --free --label "$LABEL" \
	--so-pin "$SO_PIN" --pin "$PIN"
check "token is in \$WORK" [ -n "$(ls -A "$HSM/tokens")" ]

# Two keys from fwsign keygen in the token: ours (id 01, with its
# certificate) and a stranger's (id 02) that matches no certificate we use.
key hsm --rsa 2048
key stranger --rsa 2048
K=$WORK/keys/hsm
S=$WORK/keys/stranger
openssl pkey -in $K.key -outform DER -out "$WORK/hsm.key.der"
openssl pkey -in $S.key -outform DER -out "$WORK/stranger.key.der"
check "import key" logged p11 --write-object "$WORK/hsm.key.der" \
	--type privkey --id 01 --label fwsign
check "import certificate" logged p11 --write-object $K.der --type cert \
	--id 01 --label fwsign
check "import stranger key" logged p11 --write-object "$WORK/stranger.key.der" \
	--type privkey --id 02 --label stranger
rm -f "$WORK/hsm.key.der" "$WORK/stranger.key.der"
check "token holds two private keys" \
	[ "$(p11 --list-objects --type privkey 2>/dev/null | grep -c 'Private Key Object')" -eq 2 ]
URI="pkcs11:token=fwsign%20test;object=fwsign;type=private"
BAD_URI="pkcs11:token=fwsign%20test;object=stranger;type=private"
# The full URI of the key as GnuTLS spells it (model, serial, id=%01...).
FULL_URI=$(GNUTLS_PIN=$PIN p11tool --provider "$MOD" --login --list-privkeys \
	"pkcs11:token=fwsign%20test;object=fwsign" 2>/dev/null |
	sed -n 's/^[[:space:]]*URL: //p' | head -n1)
check "p11tool names the key ($FULL_URI)" \
	sh -c 'case "$1" in pkcs11:*id=%01*) ;; *) exit 1;; esac' - "$FULL_URI"

# A small tree: a static executable, shared libraries, kernel modules
# (which arrive signed by Debian, so they are re-signed) and a text file.
TREE=$WORK/tree
mkdir -p "$TREE/bin" "$TREE/lib/modules"
if [ -f "$FIXTURES/amd64/.done" ]; then
	A=$FIXTURES/amd64
	BIG=$A
	cp "$A/bin/busybox" "$TREE/bin/"
	cp "$A/lib/libc.so.6" "$A/lib/libm.so.6" "$A/lib/libdl.so.2" "$TREE/lib/"
	find "$A/modules" -name '*.ko' | sort | head -n 3 |
		xargs cp -t "$TREE/lib/modules/"
else
	echo "no fixtures in $FIXTURES: signing host binaries" >&2
	cp /usr/bin/true /usr/bin/ls "$TREE/bin/"
	ldd /usr/bin/ls | grep -o '/[^ ]*\.so[^ ]*' | sort -u |
		xargs cp -L -t "$TREE/lib/"
	find /lib/modules -name '*.ko' 2>/dev/null | sort | head -n 3 |
		xargs -r cp -t "$TREE/lib/modules/"
	# for the threads: the libraries twenty times over
	BIG=$WORK/big
	for i in $(seq 20); do mkdir -p "$BIG/$i" && cp -r "$TREE/lib" "$BIG/$i/"; done
fi
echo "not ELF" >"$TREE/README"
EXE=$(cd "$TREE" && ls bin/* | head -n1)

OUT=$WORK/out
mkdir -p "$OUT"
# Every run: no terminal for the engine to prompt on, and a hang fails.
# fwpin PIN args: the PIN in FW_TEST_PIN for --pass-env FW_TEST_PIN.
unset FW_TEST_PIN
fw() { timeout 300 setsid -w "$FWSIGN" "$@" </dev/null; }
fwpin() { local pin=$1; shift; FW_TEST_PIN=$pin fw "$@"; }
# stderr ($WORK/err.txt) is exactly one "fwsign: " line.
one_line_error() {
	[ "$(wc -l <"$WORK/err.txt")" -eq 1 ] && grep -q '^fwsign: ' "$WORK/err.txt"
}
same_tree() { diff -r "$1" "$2" >"$WORK/diff.txt" 2>&1 || { head "$WORK/diff.txt" >&2; false; }; }

# --- the PEM reference, then the same key from the token -------------------
expect_exit 0 "sign with PEM key" fw sign "$TREE" -o "$OUT/pem" \
	--key $K.key --cert $K.crt
expect_exit 0 "sign with token key, PIN from --pass-env" fwpin $PIN sign \
	"$TREE" -o "$OUT/p11" --key "$URI" --cert $K.crt --pass-env FW_TEST_PIN
check "token output identical to PEM output" same_tree "$OUT/pem" "$OUT/p11"
check "something was signed" [ "$(grep -lr -a 'Module signature appended' "$OUT/p11" | wc -l)" -ge 3 ]
expect_exit 0 "verify token-signed tree" "$FWSIGN" verify "$OUT/p11" --cert $K.crt
check "verify: all good" grep -Eq '^[1-9][0-9]* good, 0 unsigned, 0 foreign-key, 0 bad-signature' "$WORK/out.txt"
expect_exit 0 "verify with DER certificate" "$FWSIGN" verify "$OUT/p11" --cert $K.der
expect_exit 1 "stranger's certificate rejects the tree" \
	"$FWSIGN" verify "$OUT/p11" --cert $S.crt -q

# openssl cms checks one signature over the original bytes; so for a module.
for f in "$EXE" $(cd "$OUT/p11" && find lib/modules -name '*.ko' | sort | head -n1); do
	strip_sig "$OUT/p11/$f" "$WORK/content"
	extract_sig "$OUT/p11/$f" "$WORK/sig.der"
	check "openssl cms -verify $f" logged openssl cms -verify -binary -inform DER \
		-in "$WORK/sig.der" -content "$WORK/content" -certfile $K.crt \
		-nointern -noverify -out /dev/null
	strip_sig "$TREE/$f" "$WORK/orig"
	check "$f: signed content is the original" cmp -s "$WORK/orig" "$WORK/content"
done

# The token's signature is sign-file's.  Debian 12's sign-file is built
# for OpenSSL 3 and wants the pkcs11 *provider* for a pkcs11: URI, which
# bookworm does not ship; so it signs with the PEM key the token holds.
strip_sig "$TREE/$EXE" "$WORK/ref"
check "sign-file with the PEM key" logged \
	"$SIGN_FILE" sha256 $K.key $K.der "$WORK/ref"
check "sign-file and fwsign's token signature agree on $EXE" \
	cmp -s "$WORK/ref" "$OUT/p11/$EXE"

# --- other ways to name the key and the module ----------------------------
expect_exit 0 "sign with p11tool's full URI" fwpin $PIN sign "$TREE" \
	-o "$OUT/full" --key "$FULL_URI" --cert $K.crt --pass-env FW_TEST_PIN
check "full URI: identical" same_tree "$OUT/pem" "$OUT/full"
expect_exit 0 "sign with key by id" fwpin $PIN sign "$TREE" -o "$OUT/byid" \
	--key "pkcs11:token=fwsign%20test;id=%01;type=private" --cert $K.crt \
	--pass-env FW_TEST_PIN
check "by id: identical" same_tree "$OUT/pem" "$OUT/byid"
# The engine's default module is p11-kit's proxy; PKCS11_MODULE_PATH
# names SoftHSM2 itself.
export PKCS11_MODULE_PATH=$MOD
expect_exit 0 "sign with PKCS11_MODULE_PATH=$MOD" fwpin $PIN sign "$TREE" \
	-o "$OUT/module" --key "$URI" --cert $K.crt --pass-env FW_TEST_PIN
unset PKCS11_MODULE_PATH
check "module path: identical" same_tree "$OUT/pem" "$OUT/module"

# --- the PIN from a file ----------------------------------------------------
(umask 077 && printf '%s\n' "$PIN" >"$WORK/pin")
expect_exit 0 "sign with PIN from --pass-file" fw sign "$TREE" \
	-o "$OUT/pinfile" --key "$URI" --cert $K.crt --pass-file "$WORK/pin"
check "--pass-file: identical" same_tree "$OUT/pem" "$OUT/pinfile"

# --- failures: exit 4, one line, nothing written ----------------------------
mkdir "$WORK/fail"
nothing_written() { [ -z "$(ls -A "$WORK/fail")" ]; }

expect_exit 4 "wrong PIN (--pass-env)" fwpin 999999 sign "$TREE" \
	-o "$WORK/fail/out" --key "$URI" --cert $K.crt --pass-env FW_TEST_PIN
check "wrong PIN: one-line fwsign: error, got: $ERR" one_line_error
check "wrong PIN: says so" grep -qi 'pin' "$WORK/err.txt"
check "wrong PIN: no output" nothing_written

printf '999999\n' >"$WORK/badpin"
expect_exit 4 "wrong PIN (--pass-file)" fw sign "$TREE" -o "$WORK/fail/out" \
	--key "$URI" --cert $K.crt --pass-file "$WORK/badpin"
check "wrong PIN file: one-line fwsign: error, got: $ERR" one_line_error
check "wrong PIN file: no output" nothing_written

expect_exit 4 "token key does not match --cert" fwpin $PIN sign "$TREE" \
	-o "$WORK/fail/out" --key "$BAD_URI" --cert $K.crt --pass-env FW_TEST_PIN
check "mismatch: one-line fwsign: error, got: $ERR" one_line_error
check "mismatch: says so" grep -q 'does not match certificate' "$WORK/err.txt"
check "mismatch: no output" nothing_written

expect_exit 4 "--cert does not match the token key" fwpin $PIN sign "$TREE" \
	-o "$WORK/fail/out" --key "$URI" --cert $S.crt --pass-env FW_TEST_PIN
check "mismatch 2: one-line fwsign: error, got: $ERR" one_line_error
check "mismatch 2: no output" nothing_written

expect_exit 4 "no such key in the token" fwpin $PIN sign "$TREE" \
	-o "$WORK/fail/out" --key "pkcs11:token=fwsign%20test;object=nosuchkey;type=private" \
	--cert $K.crt --pass-env FW_TEST_PIN
check "no such key: no output" nothing_written

expect_exit 4 "--pass-env names an unset variable" fw sign "$TREE" \
	-o "$WORK/fail/out" --key "$URI" --cert $K.crt --pass-env FW_TEST_PIN
check "unset variable: one-line fwsign: error, got: $ERR" one_line_error
check "unset variable: no output" nothing_written

# No PIN given and no terminal: fails (the engine has nobody to ask).
expect_exit 4 "no PIN, no terminal" fw sign "$TREE" -o "$WORK/fail/out" \
	--key "$URI" --cert $K.crt
check "no PIN: ends with a fwsign: error" sh -c 'tail -n1 "$1" | grep -q "^fwsign: "' - "$WORK/err.txt"
check "no PIN: no output" nothing_written

# The token still works after the failed logins.
expect_exit 0 "sign after failed logins" fw sign "$TREE" -o "$OUT/after" \
	--key "$URI" --cert $K.crt --pass-file "$WORK/pin"
check "after failed logins: identical" same_tree "$OUT/pem" "$OUT/after"

# --- threads: token access is serialized, output does not change ------------
expect_exit 0 "sign small tree --jobs 2" fw sign "$TREE" -o "$OUT/j2" \
	--key "$URI" --cert $K.crt --pass-file "$WORK/pin" --jobs 2
check "--jobs 2: identical" same_tree "$OUT/pem" "$OUT/j2"
# A bigger tree (the amd64 fixtures: ~560 ELF files) so threads overlap.
expect_exit 0 "sign big tree with PEM, --jobs 1" fw sign "$BIG" -o "$OUT/big-pem" \
	--key $K.key --cert $K.crt --jobs 1
for j in 2 8; do
	expect_exit 0 "sign big tree with token, --jobs $j" fw sign "$BIG" \
		-o "$OUT/big-j$j" --key "$URI" --cert $K.crt \
		--pass-file "$WORK/pin" --jobs $j
	check "big tree --jobs $j: identical to PEM" same_tree "$OUT/big-pem" "$OUT/big-j$j"
done
expect_exit 0 "verify big tree" "$FWSIGN" verify "$OUT/big-j2" --cert $K.crt -q
check "big tree: all good" grep -Eq '^[1-9][0-9]* good, 0 unsigned, 0 foreign-key, 0 bad-signature' "$WORK/out.txt"

done_tests
