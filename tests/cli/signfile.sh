#!/bin/bash
# Byte-identity with the kernel's scripts/sign-file (Debian linux-kbuild-6.1)
# on every kernel module of five architectures, which arrive signed by
# Debian: fwsign replaces that trailer, sign-file signs the stripped module.
# openssl cms -verify accepts every signature over the original bytes.
# The reference tools run once a module, as many at a time as there are
# cores; the trailers are split off and the trees compared by one python
# process a tree (tens of thousands of small processes took minutes).
. "$(dirname "$0")/lib.sh"
need_fixtures
[ -x "$SIGN_FILE" ] || { fail "no sign-file at $SIGN_FILE"; done_tests; }
key vendor --rsa 2048
K=$WORK/keys/vendor
JOBS=$(nproc)

cat >"$WORK/trees.py" <<'EOF'
import os, struct, sys
MARK = b'~Module signature appended~\n'

def modules(top):
    for d, _, fs in os.walk(top):
        for f in fs:
            if f.endswith('.ko'):
                yield os.path.relpath(os.path.join(d, f), top)

def split(data):
    """(content, PKCS#7 or None): as the kernel reads the last trailer"""
    if not data.endswith(MARK) or len(data) < 40:
        return data, None
    n = struct.unpack('>I', data[-32:-28])[0]
    if n > len(data) - 40:
        return data, None
    return data[:len(data) - 40 - n], data[len(data) - 40 - n:-40]

def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)

cmd = sys.argv[1]
if cmd == 'split':    # split IN OUT: OUT/REL (content), OUT/REL.p7s, OUT/trailers
    top, out = sys.argv[2:4]
    with open(os.path.join(out, 'trailers'), 'w') as t:
        for rel in sorted(modules(top)):
            data = open(os.path.join(top, rel), 'rb').read()
            content, sig = split(data)
            put(os.path.join(out, rel), content)
            if sig is not None:
                put(os.path.join(out, rel + '.p7s'), sig)
            t.write('%d %s\n' % (data.count(b'Module signature appended'), rel))
elif cmd == 'same':   # same A B: every module of A has B's bytes
    a, b = sys.argv[2:4]
    n = bad = 0
    for rel in sorted(modules(a)):
        n += 1
        pb = os.path.join(b, rel)
        if not os.path.exists(pb) or open(os.path.join(a, rel), 'rb').read() != open(pb, 'rb').read():
            bad += 1
            print('differs: ' + rel, file=sys.stderr)
    print(n, bad)
EOF
trees() { python3 "$WORK/trees.py" "$@"; }

# The stripped originals, once an architecture.
for arch in $ARCHES; do
	mkdir -p "$WORK/orig-$arch"
	trees split "$FIXTURES/$arch/modules" "$WORK/orig-$arch"
done

compare_tree() {	# compare_tree ARCH HASH [--keyid]
	local arch=$1 hash=$2 keyid=${3:-}
	local out=$WORK/out-$arch-$hash$keyid ref=$WORK/ref-$arch-$hash$keyid
	local n bad
	"$FWSIGN" sign "$FIXTURES/$arch/modules" -o "$out" --key $K.key \
		--cert $K.crt --hash "$hash" $keyid >/dev/null ||
		{ fail "$arch $hash: fwsign failed"; return; }
	# sign-file ... MODULE DEST, for each stripped original
	(cd "$WORK/orig-$arch" && find . -name '*.ko' -print0 |
		xargs -0 -P "$JOBS" -n 32 sh -c '
			ref=$1 sf=$2 kid=$3 h=$4 key=$5 crt=$6
			shift 6
			for m; do
				mkdir -p "$ref/${m%/*}"
				"$sf" $kid "$h" "$key" "$crt" "$m" "$ref/$m" ||
					echo "sign-file $m failed" >&2
			done' sh "$ref" "$SIGN_FILE" "${keyid:+-k}" "$hash" \
			"$K.key" "$K.crt") 2>"$WORK/sf.err"
	check "$arch $hash: sign-file signed every module ($(head -1 "$WORK/sf.err"))" \
		[ ! -s "$WORK/sf.err" ]
	read -r n bad < <(trees same "$ref" "$out" 2>"$WORK/same.err")
	cat "$WORK/same.err" >&2
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
# bytes, and each output carries exactly one trailer.  -noverify: the
# signer's certificate is given, not checked against a CA, so the system's
# CA bundle is not loaded either (-no-CA*: four fifths of each run's CPU).
for arch in $ARCHES; do
	v=$WORK/v-$arch
	mkdir -p "$v"
	trees split "$WORK/out-$arch-sha256" "$v"
	n=$(find "$v" -name '*.ko' | wc -l)
	bad=$( (cd "$v" && find . -name '*.ko' -print0 |
		xargs -0 -P "$JOBS" -n 32 sh -c '
			crt=$1
			shift
			for m; do
				openssl cms -verify -binary -inform DER -in "$m.p7s" \
					-content "$m" -certfile "$crt" -nointern \
					-noverify -no-CAfile -no-CApath -no-CAstore \
					-out /dev/null 2>/dev/null ||
					echo "$m"
			done' sh "$K.crt") | wc -l)
	read -r same differ < <(trees same "$v" "$WORK/orig-$arch")
	check "$arch: openssl cms -verify on $n signatures ($bad bad)" [ "$bad" -eq 0 -a "$n" -gt 100 ]
	check "$arch: signed over the original bytes ($differ of $same differ)" \
		[ "$differ" -eq 0 -a "$same" -eq "$n" ]
	nested=$(grep -vc '^1 ' "$v/trailers")
	check "$arch: no nested trailers ($nested)" [ "$nested" -eq 0 ]
done

# fwsign verify agrees; Debian's own trailers are foreign to our key.
for arch in $ARCHES; do
	expect_exit 0 "verify $arch" "$FWSIGN" verify "$WORK/out-$arch-sha256" --cert $K.crt
	expect_exit 1 "debian modules are foreign" "$FWSIGN" verify "$FIXTURES/$arch/modules" --cert $K.crt -q
	check "foreign count $arch" grep -q ' [1-9][0-9]* foreign-key' "$WORK/out.txt"
done
done_tests
