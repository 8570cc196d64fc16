#!/bin/bash
# The compressed-block cache (sign --cache, batch --cache): device variants
# of one release (squashfs images from the same tree, xz with BCJ and gzip,
# one with an extra file) share the blocks their signed files' tails
# become; a second image reuses what the first stored, and every output is
# byte for byte what signing without a cache gives (cmp), verifies, and
# unsquashfs extracts it.  A cache that someone else wrote into cannot
# change an image: entries whose bytes were swapped for another entry's or
# damaged are rejected, counted, and the blocks compressed again.  Two runs
# sharing one cache at once; a cache path that is a file (exit 5, nothing
# written); batch's own cache removed at the end, --cache DIR kept.
. "$(dirname "$0")/lib.sh"
need_fixtures
cd "$WORK" || exit 1
key vendor
K=$WORK/keys
SIGN=(--key "$K/vendor.key" --cert "$K/vendor.crt")

mkdir -p tree/bin tree/lib tree/usr/lib/gconv extra
cp "$FIXTURES/amd64/bin/busybox" tree/bin/
cp "$FIXTURES"/amd64/lib/libc.so.6 "$FIXTURES"/amd64/lib/libm.so.6 tree/lib/
ls "$FIXTURES"/amd64/lib/gconv/*.so | head -n 60 | xargs -I{} cp {} tree/usr/lib/gconv/
head -c 300000 /dev/urandom >tree/data.bin
mksquashfs tree a-xz.sqfs -comp xz -Xbcj x86 -b 128K -noappend -all-root \
	-mkfs-time 1700000000 -quiet >/dev/null
mksquashfs tree a-gz.sqfs -comp gzip -noappend -all-root -mkfs-time 1700000000 \
	-quiet >/dev/null
cp "$FIXTURES/amd64/lib/libresolv.so.2" tree/lib/
mksquashfs tree b-xz.sqfs -comp xz -Xbcj x86 -b 128K -noappend -all-root \
	-mkfs-time 1700000000 -quiet >/dev/null

# cache_line OUTFILE -> "reused compressed stored rejected sigreused sigmade sigrejected"
cache_line() {
	sed -n 's/^cache: \([0-9]*\) blocks reused, \([0-9]*\) compressed (\([0-9]*\) stored), \([0-9]*\) entries rejected; \([0-9]*\) signatures reused, \([0-9]*\) made, \([0-9]*\) rejected$/\1 \2 \3 \4 \5 \6 \7/p' "$1"
}

for img in a-xz a-gz b-xz; do
	"$FWSIGN" sign $img.sqfs -o $img.plain.sqfs "${SIGN[@]}" >/dev/null ||
		fail "sign $img without a cache"
done

# first image: everything compressed and stored
expect_exit 0 "a-xz with an empty cache" "$FWSIGN" sign a-xz.sqfs -o a-xz.c1.sqfs "${SIGN[@]}" --cache zc
read -r reu cmpd sto rej sreu smade srej <<<"$(cache_line "$WORK/out.txt")"
N_SIG=$(grep -o '^signed [0-9]*' "$WORK/out.txt" | cut -d' ' -f2)
check "a-xz, empty cache: nothing reused, blocks compressed, signatures made, all stored ($reu/$cmpd/$sto/$rej; $sreu/$smade/$srej)" \
	[ "${reu:-x}" = 0 ] && [ "${cmpd:-0}" -gt 10 ] && [ "$rej" = 0 ] &&
	[ "$sreu" = 0 ] && [ "$smade" -gt 0 ] && [ "$smade" -le "$N_SIG" ] &&
	[ "$sto" = $((cmpd + smade)) ]
N_A=$cmpd
N_S=$smade
check "a-xz: as many entry files as stored" [ "$(find zc -type f ! -name '.*' | wc -l)" = "$sto" ]
check "a-xz with a cache = without (cmp)" cmp -s a-xz.c1.sqfs a-xz.plain.sqfs
# the same image again: every block from the cache
expect_exit 0 "a-xz again" "$FWSIGN" sign a-xz.sqfs -o a-xz.c2.sqfs "${SIGN[@]}" --cache zc
read -r reu cmpd sto rej sreu smade srej <<<"$(cache_line "$WORK/out.txt")"
check "a-xz again: all $N_A blocks and $N_S signatures reused, none made ($reu/$cmpd/$sto/$rej; $sreu/$smade)" \
	[ "$reu" = "$N_A" ] && [ "$cmpd" = 0 ] && [ "$rej" = 0 ] &&
	[ "$sreu" = "$N_S" ] && [ "$smade" = 0 ] && [ "$sto" = 0 ]
check "a-xz from the cache = without (cmp)" cmp -s a-xz.c2.sqfs a-xz.plain.sqfs
# a variant with one more file: most reused, its own block compressed
expect_exit 0 "b-xz (a variant)" "$FWSIGN" sign b-xz.sqfs -o b-xz.c.sqfs "${SIGN[@]}" --cache zc
read -r reu cmpd sto rej sreu smade srej <<<"$(cache_line "$WORK/out.txt")"
check "b-xz: shared blocks and signatures reused, its own made ($reu/$cmpd/$rej; $sreu/$smade)" \
	[ "${reu:-0}" -gt 0 ] && [ "${cmpd:-0}" -gt 0 ] && [ "$rej" = 0 ] &&
	[ "$sreu" = "$N_S" ] && [ "$smade" = 1 ]
check "b-xz with a cache = without (cmp)" cmp -s b-xz.c.sqfs b-xz.plain.sqfs
# another compressor: its own entries (the key names the codec)
expect_exit 0 "a-gz" "$FWSIGN" sign a-gz.sqfs -o a-gz.c.sqfs "${SIGN[@]}" --cache zc
read -r reu cmpd sto rej sreu smade srej <<<"$(cache_line "$WORK/out.txt")"
check "a-gz: no xz block reused, every signature reused ($reu/$cmpd; $sreu/$smade)" \
	[ "$reu" = 0 ] && [ "${cmpd:-0}" -gt 0 ] && [ "$sreu" = "$N_S" ] && [ "$smade" = 0 ]
check "a-gz with a cache = without (cmp)" cmp -s a-gz.c.sqfs a-gz.plain.sqfs
for f in a-xz.c2 b-xz.c a-gz.c; do
	expect_exit 0 "$f verifies" "$FWSIGN" verify $f.sqfs --cert "$K/vendor.crt"
	rm -rf x
	check "$f: unsquashfs extracts it" unsquashfs -q -n -d x $f.sqfs
done

# poisoned: every xz entry swapped for another one (valid compressed bytes,
# other content), and one damaged
cp -a zc zc2
mapfile -t E < <(find zc2 -type f ! -name '.*' | sort)
tmpf=$WORK/swap
for ((i = 0; i + 1 < ${#E[@]}; i += 2)); do
	mv "${E[i]}" "$tmpf" && mv "${E[i+1]}" "${E[i]}" && mv "$tmpf" "${E[i+1]}"
done
expect_exit 0 "a-xz from a poisoned cache" "$FWSIGN" sign a-xz.sqfs -o a-xz.p.sqfs "${SIGN[@]}" --cache zc2
read -r reu cmpd sto rej sreu smade srej <<<"$(cache_line "$WORK/out.txt")"
check "poisoned: swapped entries not used, made again ($reu/$cmpd/$rej; $sreu/$smade/$srej)" \
	[ $((reu + cmpd)) = "$N_A" ] && [ "$reu" -le 1 ] && [ "${rej:-0}" -gt $((N_A / 2)) ] &&
	[ $((sreu + smade)) = "$N_S" ] && [ "$sreu" -le 1 ] && [ "${srej:-0}" -gt $((N_S / 2)) ]
"$FWSIGN" verify a-xz.p.sqfs --cert "$K/vendor.crt" >/dev/null
check "poisoned cache: the image verifies" [ $? = 0 ]
check "poisoned cache: the image = without a cache (cmp)" cmp -s a-xz.p.sqfs a-xz.plain.sqfs
# the rejected entries were stored again: the next run reuses everything
expect_exit 0 "a-xz after the poisoned run" "$FWSIGN" sign a-xz.sqfs -o a-xz.p2.sqfs "${SIGN[@]}" --cache zc2
read -r reu cmpd sto rej sreu smade srej <<<"$(cache_line "$WORK/out.txt")"
check "repaired cache: all reused ($reu/$cmpd/$rej; $sreu/$smade/$srej)" \
	[ "$reu" = "$N_A" ] && [ "$rej" = 0 ] && [ "$sreu" = "$N_S" ] && [ "$srej" = 0 ]
# a cache of a-xz alone, its two largest entries damaged
"$FWSIGN" sign a-xz.sqfs -o a-xz.z4.sqfs "${SIGN[@]}" --cache zc4 >/dev/null
mapfile -t E < <(find zc4 -type f ! -name '.*' -printf '%s %p\n' | sort -rn | cut -d' ' -f2)
printf 'X' | dd of="${E[0]}" bs=1 seek=40 conv=notrunc 2>/dev/null
truncate -s 3 "${E[1]}"
expect_exit 0 "a-xz with a damaged entry" "$FWSIGN" sign a-xz.sqfs -o a-xz.d.sqfs "${SIGN[@]}" --cache zc4
read -r reu cmpd sto rej sreu smade srej <<<"$(cache_line "$WORK/out.txt")"
check "damaged: one rejected, one (truncated) a miss ($reu/$cmpd/$rej)" \
	[ "$rej" = 1 ] && [ "$cmpd" = 2 ] && [ "$reu" = $((N_A - 2)) ]
check "damaged entries: the image = without a cache (cmp)" cmp -s a-xz.d.sqfs a-xz.plain.sqfs

# two runs at once on one new cache
"$FWSIGN" sign a-xz.sqfs -o a-xz.t1.sqfs "${SIGN[@]}" --cache zc3 >/dev/null & p1=$!
"$FWSIGN" sign b-xz.sqfs -o b-xz.t2.sqfs "${SIGN[@]}" --cache zc3 >/dev/null & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
check "two runs on one cache: both exit 0" [ $r1 = 0 ] && [ $r2 = 0 ]
check "two runs on one cache: outputs = without a cache" \
	cmp -s a-xz.t1.sqfs a-xz.plain.sqfs && cmp -s b-xz.t2.sqfs b-xz.plain.sqfs
check "two runs on one cache: no temporary or claim left" \
	[ -z "$(find zc3 -name '.*' -o -name '*.lock')" ]
# the same image twice at once, one thread each: they split the blocks
# (a block another run is compressing is done last, from its entry)
"$FWSIGN" sign a-xz.sqfs -o a-xz.s1.sqfs "${SIGN[@]}" --jobs 1 --cache zc5 >s1.txt & p1=$!
"$FWSIGN" sign a-xz.sqfs -o a-xz.s2.sqfs "${SIGN[@]}" --jobs 1 --cache zc5 >s2.txt & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
read -r reu1 cmpd1 sto1 rej1 _ _ _ <<<"$(cache_line s1.txt)"
read -r reu2 cmpd2 sto2 rej2 _ _ _ <<<"$(cache_line s2.txt)"
check "two runs of one image at once: each block compressed once in all ($cmpd1 + $cmpd2 = $N_A)" \
	[ $r1 = 0 ] && [ $r2 = 0 ] && [ $((cmpd1 + cmpd2)) = "$N_A" ] && [ $((reu1 + reu2)) = "$N_A" ]
check "two runs of one image at once: both = without a cache" \
	cmp -s a-xz.s1.sqfs a-xz.plain.sqfs && cmp -s a-xz.s2.sqfs a-xz.plain.sqfs

# a cache path that is not a directory
: >notadir
expect_exit 5 "--cache FILE: exit 5" "$FWSIGN" sign a-xz.sqfs -o nd.sqfs "${SIGN[@]}" --cache notadir
check "--cache FILE: one line naming it" [ "$(wc -l <"$WORK/err.txt")" = 1 ] && grep -q "notadir" "$WORK/err.txt"
check "--cache FILE: no output" [ ! -e nd.sqfs ]

# device variants of one family: the same 80 small shared libraries (each
# signed file's tail goes to a fragment block packed again), the second
# image with 4 of its own among them in path order.  The repacked
# fragment blocks are content-defined, so only the blocks holding the own
# files' tails differ: the second image's fragment blocks, read by python
# from the fragment tables (zlib/lzma, not fwsign's code), are the first
# image's but for at most 2 per own file, and the cache reused them.
mkdir -p fam/usr/lib/gconv
ls "$FIXTURES"/amd64/lib/gconv/*.so | sort | awk 'NR % 3 == 1' | head -n 80 |
	xargs -I{} cp {} fam/usr/lib/gconv/
for z in gzip xz; do
	mksquashfs fam fam-a-$z.sqfs -comp $z -b 128K -noappend -all-root \
		-mkfs-time 1700000000 -quiet >/dev/null
done
ls "$FIXTURES"/amd64/lib/gconv/*.so | sort | awk 'NR % 3 == 2' | sed -n '5p;25p;45p;65p' |
	xargs -I{} cp {} fam/usr/lib/gconv/
for z in gzip xz; do
	mksquashfs fam fam-b-$z.sqfs -comp $z -b 128K -noappend -all-root \
		-mkfs-time 1700000000 -quiet >/dev/null
done
# frag_blocks IMG: the sha256 of each fragment block as stored, one a line
frag_blocks() {
	python3 - "$1" <<'PY'
import hashlib, lzma, struct, sys, zlib
f = open(sys.argv[1], 'rb')
sb = f.read(96)
nfrag, = struct.unpack_from('<I', sb, 16)
comp, = struct.unpack_from('<H', sb, 20)
ftab, = struct.unpack_from('<Q', sb, 80)
dec = {1: zlib.decompress, 4: lzma.decompress}[comp]
nmeta = (nfrag * 16 + 8191) // 8192
f.seek(ftab)
ptrs = struct.unpack('<%dQ' % nmeta, f.read(8 * nmeta))
table = b''
for p in ptrs:
    f.seek(p)
    h, = struct.unpack('<H', f.read(2))
    raw = f.read(h & 0x7fff)
    table += raw if h & 0x8000 else dec(raw)
for i in range(nfrag):
    start, size, _ = struct.unpack_from('<QII', table, 16 * i)
    f.seek(start)
    print(hashlib.sha256(f.read(size & 0xffffff)).hexdigest())
PY
}
for z in gzip xz; do
	"$FWSIGN" sign fam-a-$z.sqfs -o fam-a-$z.plain.sqfs "${SIGN[@]}" >/dev/null &&
	"$FWSIGN" sign fam-b-$z.sqfs -o fam-b-$z.plain.sqfs "${SIGN[@]}" >/dev/null ||
		fail "sign fam-*-$z without a cache"
	expect_exit 0 "fam-a-$z, a new cache" "$FWSIGN" sign fam-a-$z.sqfs \
		-o fam-a-$z.c.sqfs "${SIGN[@]}" --cache fc-$z
	expect_exit 0 "fam-b-$z, the same cache" "$FWSIGN" sign fam-b-$z.sqfs \
		-o fam-b-$z.c.sqfs "${SIGN[@]}" --cache fc-$z
	read -r reu cmpd sto rej sreu smade srej <<<"$(cache_line "$WORK/out.txt")"
	frag_blocks fam-a-$z.c.sqfs | sort -u >fa.txt
	frag_blocks fam-b-$z.c.sqfs | sort >fb.txt
	nb=$(wc -l <fb.txt)
	new=$(comm -13 fa.txt fb.txt | wc -l)
	echo "fam-b-$z: $nb fragment blocks, $new not the first image's; cache $reu/$cmpd/$rej; $sreu/$smade" >&2
	check "fam-b-$z: of its $nb fragment blocks, at most 8 not the first image's ($new)" \
		[ "$nb" -ge 40 ] && [ "$new" -le 8 ]
	check "fam-b-$z: the cache reused the shared blocks, compressed at most 8 ($reu/$cmpd/$rej; $sreu/$smade)" \
		[ "${reu:-0}" -ge $((nb - 8)) ] && [ "${cmpd:-99}" -le 8 ] && [ "$rej" = 0 ] &&
		[ "$smade" = 4 ]
	for v in a b; do
		check "fam-$v-$z with a cache = without (cmp)" cmp -s fam-$v-$z.c.sqfs fam-$v-$z.plain.sqfs
		expect_exit 0 "fam-$v-$z verifies" "$FWSIGN" verify fam-$v-$z.c.sqfs --cert "$K/vendor.crt"
		rm -rf x1 x2
		unsquashfs -q -n -d x1 fam-$v-$z.sqfs >/dev/null 2>&1
		unsquashfs -q -n -d x2 fam-$v-$z.c.sqfs >/dev/null 2>&1
		check "fam-$v-$z: unsquashfs -lls as before signing, but the sizes" cmp -s \
			<(unsquashfs -lls fam-$v-$z.sqfs | tail -n +2 | awk '{$3=""; print}') \
			<(unsquashfs -lls fam-$v-$z.c.sqfs | tail -n +2 | awk '{$3=""; print}')
		check "fam-$v-$z: every file's bytes before the signature as before" \
			python3 -c '
import os, sys
n = 0
for d, _, fs in os.walk("x1"):
    for f in fs:
        a = open(os.path.join(d, f), "rb").read()
        b = open(os.path.join("x2", os.path.relpath(d, "x1"), f), "rb").read()
        assert len(b) > len(a) and b[:len(a)] == a, f
        n += 1
assert n >= 80, n'
	done
done

# batch: its own cache, removed at the end; --cache DIR kept
mkdir rel && cp a-xz.sqfs b-xz.sqfs a-gz.sqfs rel/
expect_exit 0 "batch with its own cache" "$FWSIGN" batch rel -o bo "${SIGN[@]}" --jobs 2
for f in a-xz b-xz a-gz; do
	check "batch: $f = sign without a cache (cmp)" cmp -s bo/$f.sqfs $f.plain.sqfs
done
check "batch: its cache removed at the end" [ ! -e bo/.fwsign-batch/cache ]
expect_exit 0 "batch --cache DIR" "$FWSIGN" batch rel -o bo2 "${SIGN[@]}" --jobs 1 --cache bcache
check "batch --cache DIR: kept, with entries" [ "$(find bcache -type f | wc -l)" -gt 0 ]
for f in a-xz b-xz a-gz; do
	check "batch --cache: $f = sign without a cache (cmp)" cmp -s bo2/$f.sqfs $f.plain.sqfs
done
expect_exit 2 "batch --cache with --no-cache" "$FWSIGN" batch rel -o bo3 "${SIGN[@]}" --cache x --no-cache
done_tests
