#!/bin/bash
# Byte-identity with the kernel's scripts/sign-file (Debian linux-kbuild-6.1)
# on every kernel module of five architectures, which arrive signed by
# Debian: fwsign replaces that trailer, sign-file signs the stripped module.
# openssl cms -verify accepts every signature over the original bytes.
. "$(dirname "$0")/lib.sh"
need_fixtures
[ -x "$SIGN_FILE" ] || { fail "no sign-file at $SIGN_FILE"; done_tests; }
key vendor --rsa 2048
K=$WORK/keys/vendor

compare_tree() {	# compare_tree ARCH HASH [--keyid]
	local arch=$1 hash=$2 keyid=${3:-}
	local in=$FIXTURES/$arch/modules out=$WORK/out-$arch-$hash$keyid n=0 bad=0
	"$FWSIGN" sign "$in" -o "$out" --key $K.key --cert $K.crt --hash "$hash" \
		$keyid >/dev/null || { fail "$arch $hash: fwsign failed"; return; }
	while IFS= read -r -d '' ko; do
		rel=${ko#"$in"/}
		strip_sig "$ko" "$WORK/ref.ko"
		"$SIGN_FILE" ${keyid:+-k} "$hash" $K.key $K.crt "$WORK/ref.ko" ||
			{ fail "sign-file $rel"; continue; }
		n=$((n + 1))
		cmp -s "$WORK/ref.ko" "$out/$rel" || { bad=$((bad + 1)); fail "$arch $hash $rel differs from sign-file"; }
	done < <(find "$in" -name '*.ko' -print0 | sort -z)
	echo "$arch $hash $keyid: $n modules, $bad differ from sign-file"
	check "$arch has modules" [ "$n" -gt 100 ]
	check "$arch $hash identical to sign-file" [ "$bad" -eq 0 ]
}

for arch in $ARCHES; do
	compare_tree "$arch" sha256
done
compare_tree amd64 sha384
compare_tree s390x sha512
compare_tree arm64 sha256 --keyid

# Every sha256 signature verifies with openssl cms against the original
# bytes, and each output carries exactly one trailer.
for arch in $ARCHES; do
	n=0 bad=0 nested=0
	while IFS= read -r -d '' f; do
		strip_sig "$f" "$WORK/content"
		extract_sig "$f" "$WORK/sig.der"
		n=$((n + 1))
		openssl cms -verify -binary -inform DER -in "$WORK/sig.der" \
			-content "$WORK/content" -certfile $K.crt -nointern \
			-noverify -out /dev/null 2>/dev/null || bad=$((bad + 1))
		[ "$(grep -c -a 'Module signature appended' "$f")" -eq 1 ] || nested=$((nested + 1))
		rel=${f#"$WORK/out-$arch-sha256"/}
		strip_sig "$FIXTURES/$arch/modules/$rel" "$WORK/orig"
		cmp -s "$WORK/orig" "$WORK/content" || bad=$((bad + 1))
	done < <(find "$WORK/out-$arch-sha256" -name '*.ko' -print0)
	check "$arch: openssl cms -verify on $n signatures ($bad bad)" [ "$bad" -eq 0 -a "$n" -gt 100 ]
	check "$arch: no nested trailers ($nested)" [ "$nested" -eq 0 ]
done

# fwsign verify agrees; Debian's own trailers are foreign to our key.
for arch in $ARCHES; do
	expect_exit 0 "verify $arch" "$FWSIGN" verify "$WORK/out-$arch-sha256" --cert $K.crt
	expect_exit 1 "debian modules are foreign" "$FWSIGN" verify "$FIXTURES/$arch/modules" --cert $K.crt -q
	check "foreign count $arch" grep -q ' [1-9][0-9]* foreign-key' "$WORK/out.txt"
done
done_tests
