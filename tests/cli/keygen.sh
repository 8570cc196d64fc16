#!/bin/bash
# fwsign keygen: RSA 2048/3072/4096 and ECDSA P-256/P-384 with what the
# kernel's X.509 parser needs; the key is 0600, created O_EXCL.
. "$(dirname "$0")/lib.sh"
need_fixtures
A=$FIXTURES/amd64
mkdir -p "$WORK/tree" && cp "$A/bin/busybox" "$A/lib/libc.so.6" "$WORK/tree/"
cp "$(find "$A/modules" -name '*.ko' | sort | head -1)" "$WORK/tree/m.ko"

for spec in "--rsa 2048" "--rsa 3072" "--rsa 4096" "--ec p256" "--ec p384"; do
	name=k${spec//[^0-9a-z]/}
	P=$WORK/$name
	expect_exit 0 "keygen $spec" "$FWSIGN" keygen -o "$P" $spec --subject "Vendor $name" --org "ACME"
	check "$spec: key 0600" [ "$(stat -c %a "$P.key")" = 600 ]
	openssl x509 -in "$P.crt" -noout -text >"$WORK/x509.txt"
	check "$spec: CA:FALSE" grep -q "CA:FALSE" "$WORK/x509.txt"
	check "$spec: digitalSignature" grep -q "Digital Signature" "$WORK/x509.txt"
	check "$spec: codeSigning" grep -q "Code Signing" "$WORK/x509.txt"
	check "$spec: subject key id" grep -q "Subject Key Identifier" "$WORK/x509.txt"
	check "$spec: subject" grep -q "CN = Vendor $name" "$WORK/x509.txt"
	check "$spec: DER equals PEM" cmp -s "$P.der" <(openssl x509 -in "$P.crt" -outform DER)
	check "$spec: key matches" [ "$(openssl pkey -in "$P.key" -pubout)" = "$(openssl x509 -in "$P.crt" -noout -pubkey)" ]
	case $spec in
	*2048*) check "$spec size" grep -q "(2048 bit)" "$WORK/x509.txt" ;;
	*3072*) check "$spec size" grep -q "(3072 bit)" "$WORK/x509.txt" ;;
	*4096*) check "$spec size" grep -q "(4096 bit)" "$WORK/x509.txt" ;;
	*p256*) check "$spec curve" grep -q "prime256v1" "$WORK/x509.txt" ;;
	*p384*) check "$spec curve" grep -q "secp384r1" "$WORK/x509.txt" ;;
	esac
	# Signs, verifies with fwsign and with openssl cms.
	expect_exit 0 "$spec: sign" "$FWSIGN" sign "$WORK/tree" -o "$WORK/out-$name" --key "$P.key" --cert "$P.crt"
	expect_exit 0 "$spec: verify" "$FWSIGN" verify "$WORK/out-$name" --cert "$P.der"
	for f in busybox libc.so.6 m.ko; do
		strip_sig "$WORK/out-$name/$f" "$WORK/c"
		extract_sig "$WORK/out-$name/$f" "$WORK/s"
		check "$spec: openssl cms -verify $f" openssl cms -verify -binary -inform DER -in "$WORK/s" \
			-content "$WORK/c" -certfile "$P.crt" -nointern -noverify -out /dev/null
	done
done

# Never overwrites: the key stays as it was.
sum=$(sha256sum <"$WORK/krsa2048.key")
expect_exit 2 "keygen refuses an existing key" "$FWSIGN" keygen -o "$WORK/krsa2048" --rsa 2048
check "refusal names the key" grep -q "^fwsign: .*krsa2048.key: cannot create: File exists" "$WORK/err.txt"
check "key untouched" [ "$sum" = "$(sha256sum <"$WORK/krsa2048.key")" ]
ln -s /tmp/fwsign-should-not-exist "$WORK/link.key"
expect_exit 2 "keygen refuses a symlink" "$FWSIGN" keygen -o "$WORK/link" --rsa 2048
check "symlink not followed" [ ! -e /tmp/fwsign-should-not-exist ]
check "nothing half-made" [ ! -e "$WORK/link.crt" ]
expect_exit 2 "bad curve" "$FWSIGN" keygen -o "$WORK/bad" --ec p521
expect_exit 2 "bad size" "$FWSIGN" keygen -o "$WORK/bad" --rsa 1024
check "nothing made for bad options" [ ! -e "$WORK/bad.key" ]
done_tests
