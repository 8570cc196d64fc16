#!/bin/bash
# File digests in the shared cache (fwsign/cache.h): runs that share a
# secret (fwsign batch's children; here fwsign sign given the secret as
# batch gives it, a file descriptor named by FWSIGN_CACHE_SECRET_FD) sign
# a squashfs file another run already hashed from its entry, without
# decompressing its blocks.  Proven here on device variants (xz with BCJ,
# 128K blocks; one with a file of its own): the second run reuses every
# shared file's digest and decompresses less than half the bytes the
# first did (FWSIGN_SQFS_PROFILE), and every output is byte for byte what
# signing without a cache gives, verifies, and unsquashfs extracts it.
# An entry is used only with a right HMAC-SHA256 under the secret: under
# another secret (another batch) every entry is rejected; forged entries
# (the digest changed, the MAC copied; or entries swapped between files)
# are rejected and the outputs are still right.  Without a secret no
# entry is looked at.  Blocks compressed with a secret are stored with a
# MAC (used by the batch without decompressing them): one tampered is
# rejected and compressed again; without the secret they are checked by
# decompressing, as any entry, and reused.  fwsign batch makes a secret and its children store
# entries with it; its outputs equal the ones signed alone.
. "$(dirname "$0")/lib.sh"
need_fixtures
cd "$WORK" || exit 1
key vendor
K=$WORK/keys
SIGN=(--key "$K/vendor.key" --cert "$K/vendor.crt")

mkdir -p tree/bin tree/lib tree/usr/lib/gconv
cp "$FIXTURES/amd64/bin/busybox" tree/bin/
cp "$FIXTURES"/amd64/lib/libc.so.6 "$FIXTURES"/amd64/lib/libm.so.6 tree/lib/
ls "$FIXTURES"/amd64/lib/gconv/*.so | head -n 40 | xargs -I{} cp {} tree/usr/lib/gconv/
head -c 300000 /dev/urandom >tree/data.bin
mksquashfs tree a.sqfs -comp xz -Xbcj x86 -b 128K -noappend -all-root \
	-mkfs-time 1700000000 -quiet >/dev/null
mksquashfs tree a-gz.sqfs -comp gzip -b 128K -noappend -all-root \
	-mkfs-time 1700000000 -quiet >/dev/null
cp "$FIXTURES/amd64/lib/libresolv.so.2" tree/lib/
mksquashfs tree b.sqfs -comp xz -Xbcj x86 -b 128K -noappend -all-root \
	-mkfs-time 1700000000 -quiet >/dev/null
for img in a a-gz b; do
	"$FWSIGN" sign $img.sqfs -o $img.plain.sqfs "${SIGN[@]}" >/dev/null ||
		fail "sign $img without a cache"
done

head -c 32 /dev/urandom >secret
head -c 32 /dev/urandom >secret2

# dig_line OUTFILE -> "reused notfound rejected"
dig_line() {
	sed -n 's/^cache: \([0-9]*\) file digests reused, \([0-9]*\) not found, \([0-9]*\) rejected$/\1 \2 \3/p' "$1"
}
# dec_bytes STDERRFILE -> bytes decompressed (FWSIGN_SQFS_PROFILE)
dec_bytes() {
	sed -n 's/.*squashfs profile: decompress [0-9.]* s ([0-9]* blocks, \([0-9]*\) bytes).*/\1/p' "$1"
}
# sign_s IMG OUT SECRETFILE CACHE: fwsign sign with the secret on fd 9
sign_s() {
	FWSIGN_CACHE_SECRET_FD=9 FWSIGN_SQFS_PROFILE=1 \
		"$FWSIGN" sign "$1" -o "$2" "${SIGN[@]}" --cache "$4" 9<"$3"
}
# digest_entries CACHE: the entry files that hold file digests
digest_entries() {
	python3 - "$1" <<'PY'
import os, sys
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        p = os.path.join(d, f)
        if not f.startswith('.') and open(p, 'rb').read(9)[5:9] == b'FWD1':
            print(p)
PY
}

# the first image: every digest computed and stored
expect_exit 0 "a, a new cache, with a secret" sign_s a.sqfs a.c1.sqfs secret dc
read -r reu nf rej <<<"$(dig_line "$WORK/out.txt")"
N_SIG=$(grep -o '^signed [0-9]*' "$WORK/out.txt" | cut -d' ' -f2)
DEC1=$(dec_bytes "$WORK/err.txt")
check "a: no digest reused, one looked up per signed file ($reu/$nf/$rej of $N_SIG)" \
	[ "${reu:-x}" = 0 ] && [ "$nf" = "$N_SIG" ] && [ "$rej" = 0 ] && [ "$N_SIG" -ge 40 ]
check "a: one digest entry per signed file" [ "$(digest_entries dc | wc -l)" = "$N_SIG" ]
check "a with a digest cache = without a cache (cmp)" cmp -s a.c1.sqfs a.plain.sqfs
# a variant: every shared file from its entry, its own file hashed
expect_exit 0 "b, the same cache and secret" sign_s b.sqfs b.c.sqfs secret dc
read -r reu nf rej <<<"$(dig_line "$WORK/out.txt")"
DEC2=$(dec_bytes "$WORK/err.txt")
check "b: all $N_SIG shared digests reused, its own one not found ($reu/$nf/$rej)" \
	[ "$reu" = "$N_SIG" ] && [ "$nf" = 1 ] && [ "$rej" = 0 ]
echo "decompressed: a $DEC1 bytes, b $DEC2 bytes" >&2
check "b: less than half the bytes decompressed ($DEC2 of a's $DEC1)" \
	[ "${DEC1:-0}" -gt 1000000 ] && [ "${DEC2:-999999999}" -lt $((DEC1 / 2)) ]
check "b from digest entries = without a cache (cmp)" cmp -s b.c.sqfs b.plain.sqfs
# the report of a run from entries is the report of a run without
"$FWSIGN" sign b.sqfs -o b.j1.sqfs "${SIGN[@]}" --json >b.plain.json
FWSIGN_CACHE_SECRET_FD=9 "$FWSIGN" sign b.sqfs -o b.j2.sqfs "${SIGN[@]}" --json --cache dc 9<secret >b.dig.json
python3 - b.plain.json b.dig.json <<'PY' && pass || fail "b: the report from digest entries = the report without a cache"
import json, sys
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k != 'seconds'}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
a, b = (strip(json.load(open(f))) for f in sys.argv[1:3])
sys.exit(0 if a == b and len(json.dumps(a)) > 1000 else 1)
PY
# gzip: other stored bytes, other keys
expect_exit 0 "a-gz, the same cache" sign_s a-gz.sqfs a-gz.c.sqfs secret dc
read -r reu nf rej <<<"$(dig_line "$WORK/out.txt")"
check "a-gz: no xz entry fits a gzip image ($reu/$nf/$rej)" \
	[ "$reu" = 0 ] && [ "$nf" = "$N_SIG" ] && [ "$rej" = 0 ]
check "a-gz with a digest cache = without (cmp)" cmp -s a-gz.c.sqfs a-gz.plain.sqfs
expect_exit 0 "a again: all from entries" sign_s a.sqfs a.c2.sqfs secret dc
read -r reu nf rej <<<"$(dig_line "$WORK/out.txt")"
check "a again: all $N_SIG digests reused ($reu/$nf/$rej)" \
	[ "$reu" = "$N_SIG" ] && [ "$nf" = 0 ] && [ "$rej" = 0 ]
check "a again = without a cache (cmp)" cmp -s a.c2.sqfs a.plain.sqfs
for f in a.c2 b.c a-gz.c; do
	expect_exit 0 "$f verifies" "$FWSIGN" verify $f.sqfs --cert "$K/vendor.crt"
	rm -rf x
	check "$f: unsquashfs extracts it" unsquashfs -q -n -d x $f.sqfs
done

# no secret: no entry looked at (no digests line), the same output
expect_exit 0 "a, the cache without a secret" "$FWSIGN" sign a.sqfs -o a.ns.sqfs "${SIGN[@]}" --cache dc
check "no secret: no file digest looked up" [ -z "$(dig_line "$WORK/out.txt")" ]
check "no secret = without a cache (cmp)" cmp -s a.ns.sqfs a.plain.sqfs

# block entries made with a secret carry a MAC too: a run of the batch
# uses them without decompressing them; a run without the secret (or with
# a MAC that fails) checks them by decompressing, as any entry
blk_mac_entries() {
	python3 - "$1" <<'PY'
import os, sys
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        p = os.path.join(d, f)
        h = open(p, 'rb').read(9)
        if not f.startswith('.') and h[:4] == b'FWZ1' and h[4] in (2, 3) and h[5:9] != b'FWD1':
            print(p)
PY
}
cache_line() {
	sed -n 's/^cache: \([0-9]*\) blocks reused, \([0-9]*\) compressed (\([0-9]*\) stored), \([0-9]*\) entries rejected; .*/\1 \2 \3 \4/p' "$1"
}
NB=$(blk_mac_entries dc | wc -l)
check "blocks compressed with a secret are stored with a MAC ($NB)" [ "$NB" -gt 10 ]
cp -a dc dcb
blk_mac_entries dcb | python3 -c '
import sys
for p in sys.stdin.read().split():
    b = bytearray(open(p, "rb").read())
    b[5 + 20] ^= 0x01      # a compressed byte; the MAC left as it was
    open(p, "wb").write(bytes(b))
'
expect_exit 0 "a with tampered MAC'd blocks" sign_s a.sqfs a.tb.sqfs secret dcb
read -r reu cmpd sto rej <<<"$(cache_line "$WORK/out.txt")"
check "tampered MAC'd blocks: all rejected, compressed again ($reu/$cmpd/$sto/$rej)" \
	[ "$rej" -gt 10 ] && [ "$cmpd" = "$rej" ] && [ "$reu" = 0 ]
check "tampered MAC'd blocks: the image = without a cache (cmp)" cmp -s a.tb.sqfs a.plain.sqfs
expect_exit 0 "a, MAC'd blocks, no secret" "$FWSIGN" sign a.sqfs -o a.nb.sqfs "${SIGN[@]}" --cache dc
read -r reu cmpd sto rej <<<"$(cache_line "$WORK/out.txt")"
check "no secret: MAC'd blocks checked by decompressing and reused ($reu/$cmpd/$rej)" \
	[ "$reu" -gt 10 ] && [ "$cmpd" = 0 ] && [ "$rej" = 0 ]
check "no secret, MAC'd blocks = without a cache (cmp)" cmp -s a.nb.sqfs a.plain.sqfs

# forged: the digest in every xz entry changed (the MAC left as it was),
# as someone who can write the cache but knows no secret would
cp -a dc dcf
mapfile -t E < <(digest_entries dcf)
for e in "${E[@]}"; do
	python3 - "$e" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[5 + 22] ^= 0xff          # the first byte of the digest
open(p, 'wb').write(bytes(b))
PY
done
expect_exit 0 "a from forged entries" sign_s a.sqfs a.f.sqfs secret dcf
read -r reu nf rej <<<"$(dig_line "$WORK/out.txt")"
check "forged digests: all rejected, none used ($reu/$nf/$rej)" \
	[ "$reu" = 0 ] && [ "$rej" = "$N_SIG" ] && [ "$nf" = 0 ]
check "forged digests: the image = without a cache (cmp)" cmp -s a.f.sqfs a.plain.sqfs
expect_exit 0 "a.f verifies" "$FWSIGN" verify a.f.sqfs --cert "$K/vendor.crt"
# the rejected entries were stored again, right: the next run uses them
expect_exit 0 "a after the forged run" sign_s a.sqfs a.f2.sqfs secret dcf
read -r reu nf rej <<<"$(dig_line "$WORK/out.txt")"
check "repaired: all reused ($reu/$nf/$rej)" [ "$reu" = "$N_SIG" ] && [ "$rej" = 0 ]
check "repaired = without a cache (cmp)" cmp -s a.f2.sqfs a.plain.sqfs

# swapped: entries with right MACs, each moved to another file's key
cp -a dc dcs
mapfile -t E < <(digest_entries dcs | sort)
for ((i = 0; i + 1 < ${#E[@]}; i += 2)); do
	mv "${E[i]}" swap && mv "${E[i+1]}" "${E[i]}" && mv swap "${E[i+1]}"
done
expect_exit 0 "a from swapped entries" sign_s a.sqfs a.s.sqfs secret dcs
read -r reu nf rej <<<"$(dig_line "$WORK/out.txt")"
check "swapped entries: rejected, at most one used ($reu/$nf/$rej)" \
	[ "$reu" -le 1 ] && [ "$rej" -ge $((N_SIG - 1)) ] && [ $((reu + rej)) = "$N_SIG" ]
check "swapped entries: the image = without a cache (cmp)" cmp -s a.s.sqfs a.plain.sqfs

# another secret (another batch): nothing of this one's used
cp -a dc dc2
expect_exit 0 "a under another secret" sign_s a.sqfs a.o.sqfs secret2 dc2
read -r reu nf rej <<<"$(dig_line "$WORK/out.txt")"
check "another secret: every entry rejected ($reu/$nf/$rej)" \
	[ "$reu" = 0 ] && [ "$rej" = "$N_SIG" ]
check "another secret: the image = without a cache (cmp)" cmp -s a.o.sqfs a.plain.sqfs

# fwsign batch: its children store entries under its secret, outputs right
mkdir rel
cp a.sqfs rel/dev1.sqfs
cp b.sqfs rel/dev2.sqfs
cp a-gz.sqfs rel/dev3.sqfs
cp a.sqfs rel/dev4.sqfs
expect_exit 0 "batch of 4 with --cache" "$FWSIGN" batch rel -o relout "${SIGN[@]}" --jobs 1 --cache bc
n=$(digest_entries bc | wc -l)
check "batch: digest entries stored (xz and gzip: $n, want $((2 * N_SIG + 1)))" [ "$n" = $((2 * N_SIG + 1)) ]
check "batch: outputs = signed alone without a cache (cmp)" \
	cmp -s relout/dev1.sqfs a.plain.sqfs && cmp -s relout/dev2.sqfs b.plain.sqfs &&
	cmp -s relout/dev3.sqfs a-gz.plain.sqfs && cmp -s relout/dev4.sqfs a.plain.sqfs
# a second batch on the same cache: another secret, the first's entries
# rejected, outputs still right
expect_exit 0 "batch again, the same --cache" "$FWSIGN" batch rel -o relout2 "${SIGN[@]}" --jobs 2 --cache bc
check "batch again: outputs = signed alone (cmp)" \
	cmp -s relout2/dev1.sqfs a.plain.sqfs && cmp -s relout2/dev2.sqfs b.plain.sqfs &&
	cmp -s relout2/dev3.sqfs a-gz.plain.sqfs && cmp -s relout2/dev4.sqfs a.plain.sqfs
done_tests
