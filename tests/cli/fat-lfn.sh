#!/bin/bash
# FAT long (VFAT) file names, as mkfs.vfat and mtools write them: kernel
# files named as an EFI system partition and a Raspberry Pi boot
# partition name them (EFI/BOOT/BOOTX64.EFI, vmlinuz-6.1.0-amd64, a
# directory with a space, a name with non-ASCII letters, names of many
# long-name entries crossing directory cluster boundaries), in FAT32
# (512-byte clusters: a directory of several clusters) and FAT12 (the root
# in its fixed area) volumes.  fwsign info, sign and diff name each kernel
# file as `mdir -/ -b` does; the signed volume's files read back by mtype
# are inject-cert's output (the test kernel) or unchanged (Debian's, no
# slot); fsck.fat -n is clean and the mdir listing unchanged.  Long-name
# runs with a wrong checksum or orphaned (the part read first deleted)
# fall back to the 8.3 name, as mdir shows them; a run out of order too,
# as Linux's vfat reads it (mdir joins the parts in any order), and the
# name is then the 8.3 one mdir shows beside the long one.
. "$(dirname "$0")/lib.sh"
for t in mkfs.vfat mcopy mdir mmd mtype fsck.fat python3; do
	command -v $t >/dev/null || { echo "$t missing (dosfstools, mtools)" >&2; exit 1; }
done
not() { ! "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
export LC_ALL=C.UTF-8	# mtools: UTF-8 names on the command line
export SOURCE_DATE_EPOCH=1700000000
W=$WORK/lfn
mkdir -p "$W"
key vendor --rsa 2048
K=$WORK/keys/vendor
KTREE=$("$SRCDIR/tests/e2e/build-kernel.sh") || { echo "kernel build failed" >&2; exit 1; }
DEB=$("$SRCDIR/tests/e2e/fetch-debian-kernels.sh" amd64) ||
	{ echo "Debian kernels not fetched" >&2; exit 1; }
KERN=$KTREE/arch/x86/boot/bzImage
DEBK=$DEB/amd64/vmlinuz
"$FWSIGN" inject-cert "$KERN" --cert "$K.der" -o "$W/ref" >/dev/null || exit 1

LONG1="Boot Kernels/a-very-long-kernel-name-spanning-several-long-name-entries-vmlinuz"
# kernel files: name -> what it holds
declare -A KF=(
	["EFI/BOOT/BOOTX64.EFI"]=kern
	["vmlinuz-6.1.0-amd64"]=kern
	["Boot Kernels/kernel7l-Ünïcödé €.img"]=deb
	["$LONG1"]=kern
	["Boot Kernels/Z"]=kern
)
mk() {	# mk IMG BITS
	rm -f "$1"
	# FAT12: 8 KiB clusters (at most 4084 of them)
	mkfs.vfat -C -F "$2" -s $(($2 == 12 ? 16 : 1)) -n BOOT -i 12345678 "$1" $(($2 == 12 ? 30000 : 40000)) >/dev/null
	mmd -i "$1" ::EFI ::EFI/BOOT "::Boot Kernels"
	printf 'arm_64bit=1\n' >"$W/config.txt"
	mcopy -i "$1" "$W/config.txt" ::config.txt
	# long names before and between the kernels: the directory spans
	# clusters of 16 entries, runs cross their boundaries
	for i in 1 2 3 4 5; do
		mcopy -i "$1" "$W/config.txt" "::Boot Kernels/bcm2711-rpi-4-b-a-long-device-tree-name-number-$i.dtb"
	done
	local n
	for n in "${!KF[@]}"; do
		if [ "${KF[$n]}" = kern ]; then mcopy -i "$1" "$KERN" "::$n"; else mcopy -i "$1" "$DEBK" "::$n"; fi
	done
}
# The kernel files fwsign info lists, one path a line, sorted.
info_names() {	# info_names IMG
	"$FWSIGN" info "$1" 2>&1 | sed -n 's/^  \(.*\)  kernel  .*/\1/p' | sort
}
# The names mdir gives the files, without the "::/" and directories.
mdir_names() {
	mdir -i "$1" -/ -b :: | grep -v '/$' | sed 's|^::/||' | sort
}
want_names() { printf '%s\n' "${!KF[@]}" | sort; }

for b in 32 12; do
	img=$W/f$b.img
	mk "$img" $b
	check "fat$b: mdir lists the long names" cmp -s <(want_names) <(mdir_names "$img" | grep -Fxf <(want_names))
	check "fat$b: info names the kernels as mdir" cmp -s <(want_names) <(info_names "$img")
	"$FWSIGN" sign "$img" -o "$W/s$b.img" -k "$K.key" -c "$K.crt" \
		--skip-kernels-without-slot >"$W/sign.txt" 2>&1
	check "fat$b: signed ($(tail -1 "$W/sign.txt"))" grep -q '^5 kernels: 4 hold the certificate, 1 without a slot' "$W/sign.txt"
	for n in "${!KF[@]}"; do
		check "fat$b: sign names '$n'" grep -qF "  $n  kernel  " "$W/sign.txt"
		rm -f "$W/got"
		mtype -i "$W/s$b.img" "::$n" >"$W/got"
		if [ "${KF[$n]}" = kern ]; then
			check "fat$b: mtype '$n' is inject-cert's output" cmp -s "$W/got" "$W/ref"
		else
			check "fat$b: mtype '$n' is unchanged" cmp -s "$W/got" "$DEBK"
		fi
	done
	check "fat$b: fsck.fat -n clean" quiet fsck.fat -n "$W/s$b.img"
	check "fat$b: mdir listing unchanged" cmp -s <(mdir -i "$img" -/ -a ::) <(mdir -i "$W/s$b.img" -/ -a ::)
	"$FWSIGN" diff --json "$img" "$W/s$b.img" >"$W/diff.json" 2>&1
	check "fat$b: diff names the 4 kernels by their long names" [ "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("\n".join(sorted(c["path"] for c in d["changes"] if c["change"] == "kernel certificate")))' "$W/diff.json")" = "$(for n in "${!KF[@]}"; do [ "${KF[$n]}" = kern ] && echo "$n"; done | sort)" ]
done

# --- damaged long-name runs, FAT32: each falls back to the 8.3 name, as
# mdir shows it
img=$W/f32.img
# damage KIND NAME: the run of the entry whose long name is NAME
damage() {
	cp "$img" "$W/d.img"
	python3 - "$W/d.img" "$1" "$2" <<'EOF'
import struct, sys
path, kind, name = sys.argv[1], sys.argv[2], sys.argv[3]
b = bytearray(open(path, 'rb').read())
bps, spc, rsvd, nfats = struct.unpack_from('<HBHB', b, 11)
fatsz, root = struct.unpack_from('<II', b, 36)[0], struct.unpack_from('<I', b, 44)[0]
data = (rsvd + nfats * fatsz) * bps
cs = bps * spc
def nxt(c):
    return struct.unpack_from('<I', b, rsvd * bps + 4 * c)[0] & 0x0fffffff
def dirents(c):	# offsets of the entries of the directory at cluster c
    while c < 0x0ffffff8:
        o = data + (c - 2) * cs
        for i in range(0, cs, 32):
            yield o + i
        c = nxt(c)
def runs(c):	# (long name, [LFN entry offsets], 8.3 entry offset)
    lfn = []
    for o in dirents(c):
        if b[o] == 0:
            return
        if b[o + 11] & 0x3f == 0x0f and b[o] != 0xe5:
            lfn.append(o)
            continue
        if lfn:
            u = b''.join(b[x + 1:x + 11] + b[x + 14:x + 26] + b[x + 28:x + 32] for x in reversed(lfn))
            s = u.decode('utf-16-le').split('\0')[0]
            yield s, lfn, o
        lfn = []
parts = name.split('/')
c = root
for i, p in enumerate(parts):
    for s, lfn, o in runs(c):
        if s == p:
            break
    else:
        sys.exit('no ' + p)
    if i < len(parts) - 1:
        c = struct.unpack_from('<H', b, o + 26)[0] | struct.unpack_from('<H', b, o + 20)[0] << 16
if kind == 'checksum':	# the run names another 8.3 entry
    b[lfn[-1] + 13] ^= 0x5a
elif kind == 'order':	# two parts swapped
    a, z = lfn[0], lfn[1]
    b[a:a + 32], b[z:z + 32] = bytes(b[z:z + 32]), bytes(b[a:a + 32])
elif kind == 'orphan':	# the first part (read last) deleted
    b[lfn[-1]] = 0xe5
open(path, 'wb').write(b)
EOF
}
# The 8.3 name mdir shows beside the long name NAME ("NAME.EXT").
short_of() {	# short_of IMG PATH
	local d=${2%/*} base=${2##*/}
	[ "$d" != "$2" ] || d=
	mdir -i "$1" "::/$d" | awk -v n="$base" '
		length($0) > 42 && substr($0, 43) == n {
			s = substr($0, 1, 8); e = substr($0, 10, 3)
			sub(/ +$/, "", s); sub(/ +$/, "", e)
			print (e == "" ? s : s "." e) }'
}
for kind in checksum orphan order; do
	for n in "vmlinuz-6.1.0-amd64" "$LONG1"; do
		sn=$(short_of "$img" "$n")
		damage "$kind" "$n" || { fail "damage $kind $n"; continue; }
		mn=$(mdir_names "$W/d.img" | grep -vF -e config.txt -e .dtb)
		if [ "$kind" = order ]; then
			# mtools joins the parts in any order; Linux's vfat
			# (fat_parse_long) and fwsign want them last part first
			check "$kind '$n': mdir still joins the parts" grep -qxF "$n" <<<"$mn"
			d=${n%/*}; [ "$d" != "$n" ] && sn="$d/$sn"
			mn=$(sed "s|^$n\$|$sn|" <<<"$mn" | sort)
		else
			check "$kind '$n': mdir no longer shows it" not grep -qxF "$n" <<<"$mn"
		fi
		check "$kind '$n': 8.3 name '$sn' known" [ -n "$sn" ]
		check "$kind '$n': info names the kernels as mdir ($(info_names "$W/d.img" | tr '\n' '|'))" \
			[ "$(info_names "$W/d.img")" = "$mn" ]
	done
done
done_tests
