#!/bin/bash
# IMA mode, proven by booting: a stock (unpatched) linux-source-6.12 kernel
# with IMA appraisal (kernel/stock/test.config, the kernel verity-boot.sh
# boots too: IPE without a policy allows everything), the vendor certificate put
# in its extra-certificate slot by `fwsign inject-cert`, and a root
# filesystem signed with `fwsign sign --ima`, as squashfs and as ext4.
#
# The key reaches the .ima keyring by IMA_LOAD_X509 (/etc/keys in the
# root); the kernel accepts it because the same certificate is in the
# builtin keyring.  The guest's init (progs/ima-rc) loads the policy
# `fwsign ima-policy` printed for the image, runs the signed userland
# (static busybox, a dynamic program, a library by DT_NEEDED, GNU ls)
# with zero refusals, then files that must be refused: unsigned, one byte
# changed, signed by another key, a hash instead of a signature, an
# unsigned or other-key library, an unsigned ld.so.  Those arrive under
# /late after signing (mksquashfs appends to fwsign's squashfs, debugfs
# writes into the ext4, each with the security.ima it should have).  A third boot, of the stock vmlinux
# without the certificate, is the control: the signed programs are then
# refused too.
. "$(dirname "${BASH_SOURCE[0]}")/lib-boot.sh"
here=$E2E
progs=$here/progs
QEMU_TIMEOUT=${QEMU_TIMEOUT:-600}

die() {
	echo "ima-boot: $*" >&2
	fail "$*"
	done_tests
}

for t in qemu-system-x86_64 mksquashfs mke2fs debugfs gcc evmctl getfattr \
	setfattr readelf flock; do
	command -v $t >/dev/null || die "$t missing (scripts/deps.sh)"
done
[ "$(id -u)" -eq 0 ] || die "needs root (security.* xattrs of the late files)"
[ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked' ||
	die "/bin/busybox is not busybox-static"

# The stock kernel, through build-kernel.sh's cache: the variant
# kernel/stock (no patch; IMA, dm-verity, IPE).  IMA_KTREE: a built tree.
if [ -z "${IMA_KTREE:-}" ]; then
	IMA_KTREE=$(FWSIGN_KVERSION=6.12 FWSIGN_KVARIANT=stock "$here/build-kernel.sh") ||
		die "stock IMA kernel build failed"
fi
ktree=$IMA_KTREE
echo "kernel tree: $ktree"
grep -q '^CONFIG_SECURITY_ELFSIG=y' "$ktree/.config" &&
	die "the kernel has elfsig: not a stock kernel"

key vendor
key other
K=$WORK/keys

# --- root filesystem ------------------------------------------------------------
B=$WORK/progs
R=$WORK/root
mkdir -p "$B" "$R"/{bin,usr/bin,etc/keys,proc,sys,dev,tmp,opt/t}
cc="gcc -O2 -Wall -Wextra -Werror"
$cc -o "$B/hello" "$progs/hello.c" &&
	$cc -shared -fPIC -o "$B/libpreload.so" "$progs/preload.c" &&
	$cc -o "$B/needs" "$progs/needs.c" -L"$B" -lpreload -Wl,-rpath,/opt/t ||
	die "test programs do not build"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do
	[ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
cp /usr/bin/ls "$R/usr/bin/ls"
cp "$B"/{hello,needs,libpreload.so} "$R/opt/t/"
for f in "$R/usr/bin/ls" "$R/opt/t/hello"; do
	ldd "$f" | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
	done
done
[ -f "$R/lib64/ld-linux-x86-64.so.2" ] || die "no ld.so in the rootfs"
cp "$progs/ima-rc" "$R/etc/rc"
chmod 755 "$R/etc/rc"
cp "$K/vendor.der" "$R/etc/keys/x509_ima.der"	# IMA_LOAD_X509

# --- images, signed by fwsign ------------------------------------------------
# Each image holds the policy fwsign ima-policy prints for it (the
# squashfs magic, the ext4's UUID), as a vendor build would put it there.
mksquashfs "$R" "$WORK/in.sqfs" -noappend -all-root -quiet >/dev/null ||
	die "mksquashfs failed"
"$FWSIGN" ima-policy "$WORK/in.sqfs" >"$R/etc/ima-policy" ||
	die "fwsign ima-policy failed"
mksquashfs "$R" "$WORK/in.sqfs" -noappend -all-root -quiet >/dev/null ||
	die "mksquashfs failed"
mb=$(( $(du -sm "$R" | cut -f1) + 32 ))
mke2fs -q -F -t ext4 -d "$R" -E root_owner=0:0 "$WORK/in.ext4" "${mb}M" ||
	die "mke2fs failed"
"$FWSIGN" ima-policy "$WORK/in.ext4" >"$WORK/policy-ext4" ||
	die "fwsign ima-policy failed"
printf 'rm /etc/ima-policy\nwrite %s /etc/ima-policy\n' "$WORK/policy-ext4" |
	debugfs -w -f - "$WORK/in.ext4" >/dev/null 2>&1 || die "debugfs failed"
for img in sqfs ext4; do
	"$FWSIGN" sign --ima "$WORK/in.$img" -o "$WORK/root.$img" \
		--key "$K/vendor.key" --cert "$K/vendor.crt" >"$WORK/sign-$img.log" 2>&1 ||
		{ cat "$WORK/sign-$img.log" >&2; die "fwsign sign --ima of the $img image failed"; }
	expect_exit 0 "fwsign verify --ima of the $img image" \
		"$FWSIGN" verify --ima "$WORK/root.$img" --cert "$K/vendor.crt"
done

# The late files, with the security.ima each should have (as root on the
# host: evmctl and setfattr write security.*).
L=$WORK/late/late
mkdir -p "$L/bad" "$L/otherlib"
"$FWSIGN" sign --ima "$B" -o "$WORK/vsig" --key "$K/vendor.key" \
	--cert "$K/vendor.crt" >/dev/null 2>&1 || die "signing the programs"
"$FWSIGN" sign --ima "$B" -o "$WORK/osig" --key "$K/other.key" \
	--cert "$K/other.crt" >/dev/null 2>&1 || die "signing with the other key"
cp "$B/hello" "$L/bad/hello-unsigned"
cp "$B/libpreload.so" "$L/bad/libpreload.so"
cp -L /lib64/ld-linux-x86-64.so.2 "$L/bad/ld-unsigned.so"
cp -a "$WORK/osig/hello" "$L/bad/hello-otherkey"
cp -a "$WORK/osig/libpreload.so" "$L/otherlib/libpreload.so"
cp -a "$WORK/vsig/hello" "$L/bad/hello-tampered"	# the xattr comes along
off=$(readelf -SW "$B/hello" | awk '$2 == ".comment" { print $5 }')
printf '\x58' | dd of="$L/bad/hello-tampered" bs=1 seek=$((0x$off)) \
	conv=notrunc status=none
cmp -s "$WORK/vsig/hello" "$L/bad/hello-tampered" && die "tampering did nothing"
cp -a "$WORK/vsig/hello" "$L/bad/hello-hashonly"
evmctl ima_hash -a sha256 "$L/bad/hello-hashonly" >/dev/null 2>&1 ||
	die "evmctl ima_hash failed"
chmod 755 "$L"/bad/* "$L"/otherlib/*
mksquashfs "$WORK/late" "$WORK/root.sqfs" -all-root -quiet >/dev/null ||
	die "mksquashfs cannot append to fwsign's squashfs output"
{
	echo "mkdir /late"
	for d in bad otherlib; do
		echo "mkdir /late/$d"
		for f in "$L/$d"/*; do
			echo "write $f /late/$d/${f##*/}"
			echo "sif /late/$d/${f##*/} mode 0100755"
			if getfattr --only-values -n security.ima "$f" \
				>"$f.ima" 2>/dev/null; then
				echo "ea_set -f $f.ima /late/$d/${f##*/} security.ima"
			fi
		done
	done
} >"$WORK/late.debugfs"
debugfs -w -f "$WORK/late.debugfs" "$WORK/root.ext4" >"$WORK/debugfs.log" 2>&1 &&
	! grep -Eiq 'error|could not|not found|exists' "$WORK/debugfs.log" ||
	{ cat "$WORK/debugfs.log" >&2; die "debugfs could not add the late files"; }
e2fsck -fn "$WORK/root.ext4" >"$WORK/fsck.log" 2>&1 && pass ||
	{ cat "$WORK/fsck.log" >&2; fail "ext4 image not clean after adding files"; }

# --- the kernel: stock vmlinux (PVH) with the vendor certificate -------------
kernel=$WORK/vmlinux
"$FWSIGN" inject-cert "$ktree/vmlinux" --cert "$K/vendor.der" -o "$kernel" \
	>"$WORK/inject.log" 2>&1 ||
	{ cat "$WORK/inject.log" >&2; die "fwsign inject-cert failed"; }

if [ -n "${IMA_KEEP:-}" ]; then
	mkdir -p "$IMA_KEEP" && cp "$kernel" "$WORK/root.sqfs" "$WORK/root.ext4" \
		"$IMA_KEEP/"
fi

boot() {	# boot NAME IMAGE FSTYPE [KERNEL]
	local name=$1 img=$2 fstype=$3 log=$WORK/$1.log k=${4:-$kernel}
	timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -m 512M \
		-display none -monitor none -serial "file:$log" -no-reboot \
		-kernel "$k" \
		-append "console=ttyS0 panic=-1 no_timer_check loglevel=4 root=/dev/vda rootfstype=$fstype ro init=/etc/rc ima_appraise=enforce" \
		-drive "file=$img,if=virtio,format=raw,readonly=on" \
		</dev/null >"$WORK/$name.qemu" 2>&1
	tr -d '\r' <"$log" >"$log.txt"
	[ -n "${IMA_KEEP:-}" ] && cp "$log.txt" "$IMA_KEEP/$name.log"
	grep -q '^IMA-DONE' "$log.txt" && pass ||
		{ tail -n 40 "$log.txt" >&2; fail "boot $name did not reach the end"; }
}

expect() {	# expect LOG CASE rc=0|rc=nz denied=0|denied=+
	local log=$1 name=$2 line c rc denied
	shift 2
	line=$(grep -a "^IMA case=$name " "$log" | tail -n1)
	[ -n "$line" ] || { fail "$log: case $name: no result"; return; }
	rc=$(sed -n 's/.* rc=\([0-9]*\) .*/\1/p' <<<"$line")
	denied=$(sed -n 's/.* denied=\(-*[0-9]*\) .*/\1/p' <<<"$line")
	for c in "$@"; do
		case $c in
		rc=0) [ "$rc" = 0 ] ;;
		rc=nz) [ "$rc" != 0 ] ;;
		denied=0) [ "$denied" = 0 ] ;;
		denied=+) [ "${denied:-0}" -ge 1 ] ;;
		esac && pass || fail "$(basename "$log"): case $name: wanted $c; got: $line"
	done
}

for fs in sqfs ext4; do
	fstype=squashfs
	[ $fs = ext4 ] && fstype=ext4
	boot "$fs" "$WORK/root.$fs" "$fstype" || continue
	log=$WORK/$fs.log.txt
	grep -a "^IMA keys:" "$log" | grep -q '\.ima' && pass ||
		fail "$fs: no .ima keyring"
	check "$fs: IMA_LOAD_X509 loaded the vendor key" \
		grep -qa "^IMA dmesg: .*Loaded X.509 cert 'vendor" "$log"
	check "$fs: the policy is loaded" grep -qa "^IMA policy: [1-9]" "$log"
	for c in boot-static boot-dynamic boot-needed boot-ls after-signed; do
		expect "$log" $c rc=0 denied=0
	done
	check "$fs: the signed userland ran with zero refusals" \
		grep -qax "IMA boot-total-refusals=0" "$log"
	for c in unsigned tampered otherkey hashonly lib-unsigned lib-otherkey \
		ldso-unsigned; do
		expect "$log" $c rc=nz denied=+
	done
	grep -a "^IMA case=" "$log"
done

# The control: the same squashfs on the stock vmlinux without the
# certificate.  The .ima keyring then refuses the key (not signed by a
# builtin key), and the signed programs are refused: what makes them run
# is the certificate fwsign inject-cert put in the slot.
if boot nocert "$WORK/root.sqfs" squashfs "$ktree/vmlinux"; then
	log=$WORK/nocert.log.txt
	check "nocert: the key is not loaded" eval \
		'! grep -qa "^IMA dmesg: .*Loaded X.509 cert" "$log"'
	check "nocert: the kernel refuses it (ENOKEY: no builtin signer)" \
		grep -qa "^IMA dmesg: .*Problem loading X.509 certificate -126" "$log"
	# (dmesg and grep are refused too, so no refusal count here)
	for c in boot-static boot-dynamic boot-needed boot-ls; do
		expect "$log" $c rc=nz
	done
	grep -a "^IMA case=boot-" "$log"
fi

done_tests
