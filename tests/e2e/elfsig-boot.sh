#!/bin/bash
# The kernel side, proven by booting it: the elfsig LSM (kernel/0002) in a
# QEMU guest whose root filesystem fwsign signed.
#
# The rootfs holds busybox, GNU ls with its libraries (glibc, libselinux,
# libpcre2), the test programs of tests/e2e/progs and a test module.  It
# becomes a squashfs image (mksquashfs) and an ext4 image (mke2fs -d), as
# a vendor's build makes them, and `fwsign sign` signs both images.  Then
# deliberately bad files arrive under /late (unsigned, one byte changed,
# signed by another key): appended by mksquashfs, written in by debugfs.
# The vendor certificate goes into the reserved slot of the bzImage with
# `fwsign inject-cert`.  Four boots, the rootfs on virtio-blk:
#
#   squashfs, enforce     every case + exec cost with a warm cache and the
#                         first exec of a 10 MB program
#   ext4 rw, enforce,     every case + ETXTBSY for writers of mapped code
#     anon_exec=deny      and re-verification after a write
#   squashfs, permissive  refusals logged, nothing refused
#   squashfs, off         the same costs with the LSM off
#
# The guest's init (progs/rc) prints one "ELFSIG case=NAME rc=.. denied=..
# permissive=.. out=.." line per case; this script judges them.
#
# FWSIGN_KVERSION=6.12 runs it all on the 6.12 test kernel (kernel/6.12/)
# instead of the 6.1 one; the cases and their verdicts are the same.
. "$(dirname "${BASH_SOURCE[0]}")/lib-boot.sh"
here=$E2E
progs=$here/progs
QEMU_TIMEOUT=${QEMU_TIMEOUT:-900}

die() {
	echo "elfsig-boot: $*" >&2
	fail "$*"
	done_tests
}

for t in qemu-system-x86_64 mksquashfs mke2fs debugfs gcc objcopy readelf make; do
	command -v $t >/dev/null || die "$t missing (scripts/deps.sh)"
done
[ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked' ||
	die "/bin/busybox is not busybox-static"

# ELFSIG_KTREE: a built tree to use instead (debugging only).
ktree=${ELFSIG_KTREE:-$("$here/build-kernel.sh")} || die "test kernel build failed"
kver=${FWSIGN_KVERSION:-6.1}
krel=$(cat "$ktree/include/config/kernel.release" 2>/dev/null)
echo "kernel tree: $ktree ($krel)"
case "$krel" in
"$kver".*) pass ;;
*) die "the tree is Linux ${krel:-?}, FWSIGN_KVERSION wants $kver" ;;
esac

# --- keys -------------------------------------------------------------------
key vendor
key other
K=$WORK/keys

# --- programs -----------------------------------------------------------------
B=$WORK/progs
mkdir -p "$B" "$WORK/mod"
cc="gcc -O2 -Wall -Wextra -Werror"
$cc -o "$B/hello" "$progs/hello.c" &&
	$cc -static -o "$B/hello-static" "$progs/hello.c" &&
	$cc -o "$B/dlo" "$progs/dlo.c" &&
	$cc -o "$B/mprot" "$progs/mprot.c" &&
	$cc -o "$B/memexec" "$progs/memexec.c" &&
	$cc -o "$B/mfdrw" "$progs/mfdrw.c" &&
	$cc -o "$B/pmem" "$progs/pmem.c" &&
	$cc -o "$B/uffd" "$progs/uffd.c" &&
	$cc -o "$B/spin" "$progs/spin.c" &&
	$cc -o "$B/fusesrv" "$progs/fusesrv.c" &&
	$cc -pthread -o "$B/race" "$progs/race.c" &&
	$cc -static -o "$B/wopen" "$progs/wopen.c" &&
	$cc -static -o "$B/bench" "$progs/bench.c" &&
	$cc -shared -fPIC -o "$B/libpreload.so" "$progs/preload.c" &&
	$cc -o "$B/needs" "$progs/needs.c" -L"$B" -lpreload \
		-Wl,-rpath,/opt/t/needdir &&
	$cc -o "$B/hello-interp" "$progs/hello.c" \
		-Wl,--dynamic-linker=/opt/t/bad/ld-unsigned.so ||
	die "test programs do not build"
# A 10 MB program: hello plus 10 MB in a section that is not loaded.
head -c $((10 << 20)) /dev/urandom >"$WORK/pad"
objcopy --add-section .elfsig_pad="$WORK/pad" \
	--set-section-flags .elfsig_pad=readonly "$B/hello" "$B/big" ||
	die "objcopy failed"
# As many bytes of data, only read: the I/O part of big's first exec.
head -c $((10 << 20)) /dev/urandom >"$B/bigdata"
cp "$progs/elfsig_test_mod.c" "$progs/Kbuild" "$WORK/mod/"
make -s -C "$ktree" M="$WORK/mod" modules >"$WORK/mod.log" 2>&1 ||
	{ cat "$WORK/mod.log" >&2; die "test module does not build"; }

# --- root filesystem ----------------------------------------------------------
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,etc,proc,sys,dev,tmp,root,opt/t/mods}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do
	[ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
cp /usr/bin/ls "$R/usr/bin/ls"
cp "$B"/{hello,hello-static,hello-interp,dlo,needs,mprot,memexec,mfdrw,pmem,uffd,spin,fusesrv,race,wopen,bench,big,bigdata,libpreload.so} \
	"$R/opt/t/"
cp "$B/hello" "$R/opt/t/victim"
cp "$B/hello" "$R/opt/t/hello-cold"
cp "$WORK/mod/elfsig_test_mod.ko" "$R/opt/t/mods/"
cp "$progs/rc" "$R/etc/rc"
cp "$progs/ordinary.sh" "$R/etc/ordinary.sh"
cp "$progs/script.sh" "$R/opt/t/script.sh"
chmod 755 "$R/etc/rc" "$R/etc/ordinary.sh" "$R/opt/t/script.sh"
# Every library the dynamic programs need, at the path ld.so looks in.
for f in "$R/usr/bin/ls" "$R"/opt/t/{hello,dlo,mprot,memexec,mfdrw,pmem,uffd,spin,fusesrv,race}; do
	ldd "$f" | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
	done
done
[ -f "$R/lib64/ld-linux-x86-64.so.2" ] || die "no ld.so in the rootfs"

# Files that arrive after the vendor signed the image live under /late;
# the test programs find them at their usual paths through symlinks.
ln -s /late/bad "$R/opt/t/bad"
ln -s /late/needdir "$R/opt/t/needdir"
comment_off=$(readelf -SW "$B/hello" | awk '$2 == ".comment" { print $5 }')
[ -n "$comment_off" ] || die "no .comment in hello"
comment_off=$((0x$comment_off))
echo "$comment_off" >"$R/opt/t/victim.offset"
lib_off=$(readelf -SW "$B/libpreload.so" | awk '$2 == ".comment" { print $5 }')
[ -n "$lib_off" ] || die "no .comment in libpreload.so"
echo "$((0x$lib_off))" >"$R/opt/t/libpreload.offset"

# The tree signed on its own: the reference, and the source of the
# tampered and other-key copies below.
S=$WORK/signed
"$FWSIGN" sign "$R" -o "$S" --key "$K/vendor.key" --cert "$K/vendor.crt" \
	--json >"$WORK/sign.json" 2>"$WORK/sign.err" ||
	{ cat "$WORK/sign.err" >&2; die "fwsign sign failed"; }
expect_exit 0 "fwsign verify of the signed rootfs" \
	"$FWSIGN" verify "$S" --cert "$K/vendor.crt"
nsigned=$(grep -o '"signed":[0-9]*' "$WORK/sign.json" | head -n1 | cut -d: -f2)
echo "fwsign signed $nsigned files of the rootfs tree"
# busybox, ls, ld.so, libc, libselinux, libpcre2, 16 programs, a module
[ "${nsigned:-0}" -ge 20 ] && pass || fail "fwsign signed only ${nsigned:-0} files"

# The vendor's images, unsigned as a build system makes them, then signed
# by fwsign itself: what boots is fwsign's squashfs and ext4 writers' work.
mksquashfs "$R" "$WORK/in.sqfs" -noappend -all-root -quiet >/dev/null ||
	die "mksquashfs failed"
mb=$(( $(du -sm "$R" | cut -f1) + 32 ))
mke2fs -q -F -t ext4 -d "$R" -E root_owner=0:0 "$WORK/in.ext4" "${mb}M" ||
	die "mke2fs failed"
for img in sqfs ext4; do
	"$FWSIGN" sign "$WORK/in.$img" -o "$WORK/root.$img" \
		--key "$K/vendor.key" --cert "$K/vendor.crt" --json \
		>"$WORK/sign-$img.json" 2>"$WORK/sign-$img.err" ||
		{ cat "$WORK/sign-$img.err" >&2; die "fwsign sign of the $img image failed"; }
	n=$(grep -o '"signed":[0-9]*' "$WORK/sign-$img.json" | head -n1 | cut -d: -f2)
	[ "${n:-0}" = "$nsigned" ] && pass ||
		fail "$img image: fwsign signed ${n:-0} files, the tree $nsigned"
	expect_exit 0 "fwsign verify of the signed $img image" \
		"$FWSIGN" verify "$WORK/root.$img" --cert "$K/vendor.crt"
done

# The files that must be refused arrive later.
late=$WORK/late
bad=$late/late/bad
mkdir -p "$bad" "$late/late/needdir"
cp "$B/hello" "$bad/hello-unsigned"
cp "$B/libpreload.so" "$bad/libpreload-unsigned.so"
cp "$WORK/mod/elfsig_test_mod.ko" "$bad/elfsig_test_mod.ko"
cp -L /lib64/ld-linux-x86-64.so.2 "$bad/ld-unsigned.so"
cp "$progs/interp.sh" "$bad/interp.sh"
chmod 755 "$bad/interp.sh"
cp "$B/libpreload.so" "$late/late/needdir/libpreload.so"
# One changed byte, in .comment: still a well-formed ELF.
cp "$S/opt/t/hello" "$bad/hello-tampered"
printf '\x58' | dd of="$bad/hello-tampered" bs=1 seek="$comment_off" \
	conv=notrunc status=none
cmp -s "$S/opt/t/hello" "$bad/hello-tampered" && die "tampering did nothing"
mkdir -p "$WORK/other"
cp "$B/hello" "$WORK/other/hello"
"$FWSIGN" sign "$WORK/other" -o "$WORK/other-signed" --key "$K/other.key" \
	--cert "$K/other.crt" >/dev/null 2>&1 || die "signing with the other key"
cp "$WORK/other-signed/hello" "$bad/hello-otherkey"
# Signed by the vendor, and bytes the signature does not cover in the
# PKCS#7 message (2 KiB of code in an unauthenticated attribute; a
# certificates field): openssl cms -verify still accepts both.
python3 "$progs/pkcs7-extra.py" unauth "$S/opt/t/hello" "$bad/hello-unauthattr" &&
	python3 "$progs/pkcs7-extra.py" certs "$S/opt/t/hello" "$bad/hello-certs" \
		"$K/vendor.der" && chmod 755 "$bad/hello-unauthattr" "$bad/hello-certs" ||
	die "pkcs7-extra.py failed"
for f in hello-unauthattr hello-certs; do
	python3 - "$bad/$f" "$K/vendor.crt" "$WORK/$f" <<'PY' && pass || fail "$f: openssl cms -verify"
import struct, subprocess, sys
d = open(sys.argv[1], "rb").read()
m = b"~Module signature appended~\n"
n = struct.unpack(">I", d[-len(m) - 4:-len(m)])[0]
e = len(d) - len(m) - 12
open(sys.argv[3] + ".c", "wb").write(d[:e - n])
open(sys.argv[3] + ".p7", "wb").write(d[e - n:e])
sys.exit(subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER",
    "-in", sys.argv[3] + ".p7", "-content", sys.argv[3] + ".c", "-certfile",
    sys.argv[2], "-nointern", "-noverify", "-out", "/dev/null"],
    capture_output=True).returncode)
PY
done
# squashfs: mksquashfs appends to fwsign's output (it must be able to).
mksquashfs "$late" "$WORK/root.sqfs" -all-root -quiet >/dev/null ||
	die "mksquashfs cannot append to fwsign's squashfs output"
# ext4: debugfs writes them in.
{
	echo "mkdir /late"
	for d in bad needdir; do
		echo "mkdir /late/$d"
		for f in "$late/late/$d"/*; do
			echo "write $f /late/$d/${f##*/}"
		done
	done
} >"$WORK/late.debugfs"
debugfs -w -f "$WORK/late.debugfs" "$WORK/root.ext4" >"$WORK/debugfs.log" 2>&1 &&
	! grep -Eiq 'error|could not|not found|exists' "$WORK/debugfs.log" ||
	{ cat "$WORK/debugfs.log" >&2; die "debugfs could not add the late files"; }
e2fsck -fn "$WORK/root.ext4" >"$WORK/fsck.log" 2>&1 && pass ||
	{ cat "$WORK/fsck.log" >&2; fail "ext4 image not clean after adding files"; }

# The host directory the guests mount over 9p (QEMU -virtfs): a signed
# program and library, and an unsigned program.
share=$WORK/share9p
mkdir -p "$share"
cp "$S/opt/t/hello" "$S/opt/t/libpreload.so" "$share/" &&
	cp "$B/hello" "$share/hello-unsigned" || die "9p share"

# --- kernel with the vendor certificate ---------------------------------------
kernel=$WORK/bzImage
"$FWSIGN" inject-cert "$ktree/arch/x86/boot/bzImage" --cert "$K/vendor.der" \
	-o "$kernel" --system-map "$ktree/System.map" >"$WORK/inject.log" 2>&1 ||
	{ cat "$WORK/inject.log" >&2; die "fwsign inject-cert failed"; }

# ELFSIG_KEEP=DIR keeps the kernel, the images and the serial logs.
if [ -n "${ELFSIG_KEEP:-}" ]; then
	mkdir -p "$ELFSIG_KEEP" &&
		cp "$kernel" "$WORK/root.sqfs" "$WORK/root.ext4" "$ELFSIG_KEEP/"
fi

# --- boots ----------------------------------------------------------------------
# The boots that measure cost count time in guest instructions
# (-icount shift=0: one instruction is one virtual nanosecond), so that the
# figures do not depend on what else the host's cores are doing.
boot() {	# boot NAME IMAGE FSTYPE rw|ro APPEND...
	local name=$1 img=$2 fstype=$3 rw=$4 ro=on icount=() smp=(-smp 2)
	shift 4
	[ "$rw" = rw ] && ro=off
	# The cost boots count instructions on one CPU; the others have
	# two, on which the race case's threads run truly at once.
	case "$*" in *elfsig_suite=enforce*|*elfsig_suite=off*)
		smp=()
		[ "${ELFSIG_ICOUNT:-1}" = 1 ] && icount=(-icount shift=0) ;;
	esac
	local log=$WORK/$name.log start=$SECONDS disk
	# ELFSIG_BOOTS="enforce ext4 ...": only those boots (debugging; the
	# cases of the others then fail)
	if [ -n "${ELFSIG_BOOTS:-}" ] && [[ " $ELFSIG_BOOTS " != *" $name "* ]]; then
		fail "boot $name skipped (ELFSIG_BOOTS)"
		return 1
	fi
	disk=(-drive "file=$img,if=virtio,format=raw,readonly=$ro")
	local root="root=/dev/vda rootfstype=$fstype $rw init=/etc/rc"
	if [ "$fstype" = initramfs ]; then
		disk=(-initrd "$img")
		root="rdinit=/etc/rc"
	fi
	timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg "${icount[@]}" \
		"${smp[@]}" -m 512M \
		-display none -monitor none -serial "file:$log" -no-reboot \
		-kernel "$kernel" \
		-virtfs "local,path=$share,mount_tag=fw9p,security_model=none,readonly=on" \
		-append "console=ttyS0 panic=-1 no_timer_check loglevel=4 $root $*" \
		"${disk[@]}" \
		</dev/null >"$WORK/$name.qemu" 2>&1
	local rc=$?
	tr -d '\r' <"$log" >"$log.txt"
	echo "boot $name: qemu exit $rc after $((SECONDS - start)) s"
	if [ -n "${ELFSIG_KEEP:-}" ]; then
		mkdir -p "$ELFSIG_KEEP" && cp "$log.txt" "$ELFSIG_KEEP/$name.log"
	fi
	if ! grep -q '^ELFSIG-DONE' "$log.txt"; then
		tail -n 40 "$log.txt" >&2
		fail "boot $name did not reach the end of its init"
		return 1
	fi
	pass
}

# expect LOG CASE CHECK...: CHECK is rc=0, rc=nz, denied=0, denied=+,
# permissive=0, permissive=+, has=REGEX or not=REGEX.
expect() {
	local log=$1 name=$2 line rc denied perm out c ok
	shift 2
	line=$(grep -a "^ELFSIG case=$name " "$log" | tail -n1)
	if [ -z "$line" ]; then
		fail "$(basename "$log" .log.txt): case $name: no result line"
		return
	fi
	rc=$(sed -n 's/.* rc=\([0-9]*\) .*/\1/p' <<<"$line")
	denied=$(sed -n 's/.* denied=\(-*[0-9]*\) .*/\1/p' <<<"$line")
	perm=$(sed -n 's/.* permissive=\(-*[0-9]*\) .*/\1/p' <<<"$line")
	out=${line#* out=}
	for c in "$@"; do
		case $c in
		rc=0) [ "$rc" = 0 ] ;;
		rc=nz) [ "$rc" != 0 ] ;;
		denied=0) [ "$denied" = 0 ] ;;
		denied=+) [ "$denied" -ge 1 ] ;;
		permissive=0) [ "$perm" = 0 ] ;;
		permissive=+) [ "$perm" -ge 1 ] ;;
		has=*) grep -Eq -- "${c#has=}" <<<"$out" ;;
		not=*) ! grep -Eq -- "${c#not=}" <<<"$out" ;;
		*) false ;;
		esac
		ok=$?
		if [ $ok -eq 0 ]; then pass; else
			fail "$(basename "$log" .log.txt): case $name: wanted $c; got: $line"
		fi
	done
}

HELLO='hello from'
allowed() { expect "$1" "$2" rc=0 denied=0 permissive=0 "${@:3}"; }
refused() { expect "$1" "$2" denied=+ "${@:3}"; }

# Cases both enforce boots share.
common() {	# common LOG
	local l=$1
	# Booting the signed userland up to here refused nothing.
	grep -Eq '^ELFSIG-STATS-AT-BOOT denied 0 permissive 0 verified [1-9]' "$l" &&
		pass || fail "$l: $(grep '^ELFSIG-STATS-AT-BOOT' "$l")"
	allowed "$l" ordinary has='ordinary: all commands ok'
	allowed "$l" signed-static has="$HELLO"
	allowed "$l" signed-dynamic has="$HELLO"
	allowed "$l" gnu-ls has='/opt/t/hello'
	refused "$l" unsigned rc=nz has='Permission denied' not="$HELLO"
	refused "$l" one-byte-changed rc=nz has='Permission denied' not="$HELLO"
	refused "$l" other-key rc=nz has='Permission denied' not="$HELLO"
	allowed "$l" ldso-signed has="$HELLO"
	refused "$l" ldso-unsigned rc=nz has='failed to map segment' not="$HELLO"
	allowed "$l" preload-signed has='LIBRARY-CODE-RAN' has="$HELLO"
	# ld.so ignores a preload it cannot map: the program runs, the
	# library's code does not.
	refused "$l" preload-unsigned has='cannot be preloaded' has="$HELLO" \
		not='LIBRARY-CODE-RAN'
	allowed "$l" dlopen-signed has='dlopen ok, answer 42'
	refused "$l" dlopen-unsigned rc=nz has='dlopen failed' \
		not='LIBRARY-CODE-RAN'
	allowed "$l" needed-signed has='LIBRARY-CODE-RAN' has='needs: answer 42'
	refused "$l" needed-unsigned rc=nz has='failed to map segment' \
		not='needs: answer'
	# The kernel maps PT_INTERP after the point of no return: SIGSEGV.
	refused "$l" interp-unsigned rc=nz not="$HELLO"
	refused "$l" script-interp-unsigned rc=nz has='Permission denied' \
		not="$HELLO"
	allowed "$l" mprotect-clean has='mprotect: ok'
	refused "$l" mmap-wx rc=nz has='mmap: Permission denied'
	refused "$l" mprotect-wx rc=nz has='mprotect: Permission denied'
	refused "$l" mprotect-written rc=nz has='mprotect: Permission denied'
	refused "$l" mprotect-unsigned rc=nz has='mprotect: Permission denied'
	refused "$l" mmap-exec-unsigned rc=nz has='mmap: Permission denied'
	allowed "$l" memfd-signed has="$HELLO"
	refused "$l" memfd-unsealed rc=nz has='execveat: Permission denied' \
		not="$HELLO"
	refused "$l" memfd-unsigned rc=nz has='execveat: Permission denied' \
		not="$HELLO"
	refused "$l" memfd-rewrite rc=nz has='mmap exec: Permission denied' \
		not='MAPPED-CODE-CHANGED'
	allowed "$l" memfd-sealed-rewrite has='mapped executable' \
		has='write refused: Operation not permitted' \
		has='mapped code unchanged'
	# /proc/self/mem does not override permissions: no elfsig refusal,
	# the kernel's own.
	expect "$l" procmem-self-write rc=0 denied=0 \
		has='write refused: Input/output error' has='f returned 1'
	refused "$l" unauth-attr rc=nz has='Permission denied' not="$HELLO"
	refused "$l" extra-cert rc=nz has='Permission denied' not="$HELLO"
	grep -Eq "ELFSIG-LOG .*elfsig: denied exec of /late/bad/hello-unauthattr .*: signature not in sign-file's form" "$l" &&
		pass || fail "$l: no refusal of hello-unauthattr in the kernel log"
	allowed "$l" script has='script ran'
	allowed "$l" module-signed
	expect "$l" module-unsigned rc=nz denied=0
	grep -q 'ELFSIG-LOG .*Loading of unsigned module is rejected' "$l" &&
		pass || fail "$l: no module refusal in the kernel log"
	grep -q "ELFSIG-LOG .*Loaded X.509 cert 'vendor" "$l" &&
		pass || fail "$l: vendor certificate not loaded"
	# The log names the file, the command and the reason.
	grep -Eq 'ELFSIG-LOG .*elfsig: denied exec of /late/bad/hello-unsigned \(comm="[^"]+" pid=[0-9]+\): not signed' "$l" &&
		pass || fail "$l: no refusal of hello-unsigned in the kernel log"
	# One mprotect() over 8 distinct signed files, and over 9 (0004).
	allowed "$l" mprotect-8-files has='mprotect of 8 files: ok'
	refused "$l" mprotect-9-files rc=nz \
		has='mprotect of 9 files: Permission denied'
	grep -Eq 'ELFSIG-LOG .*elfsig: denied mprotect of /opt/t/uffd .*: more than 8 files in one call' "$l" &&
		pass || fail "$l: no refusal of the 9th file in the kernel log"
	grep -q '^ELFSIG-9P' "$l" && fail "$l: $(grep '^ELFSIG-9P' "$l")"
	grep -q '^ELFSIG-FUSE' "$l" && fail "$l: $(grep '^ELFSIG-FUSE' "$l")"
}

# Code on 9p and FUSE (0004): refused, signed or not, by default.
untrusted_denied() {	# untrusted_denied LOG
	local l=$1 fs
	for fs in 9p fuse; do
		refused "$l" $fs-signed rc=nz has='Permission denied' \
			not="$HELLO"
		refused "$l" $fs-unsigned rc=nz has='Permission denied' \
			not="$HELLO"
		refused "$l" $fs-mmap-signed rc=nz has='mmap: Permission denied'
		grep -Eq "ELFSIG-LOG .*elfsig: denied exec of /tmp/$fs/hello \(comm=.*\): on a network or user filesystem" "$l" &&
			pass || fail "$l: no refusal of /tmp/$fs/hello in the kernel log"
	done
}

# The race case (ext4 and initramfs boots, two CPUs): threads mapping,
# mprotect()ing, exec'ing and writing one signed file at once, until each
# got its way often enough (200 maps and writes, 100 mprotects, 40
# execs); no changed byte ever ran or was seen in an executable mapping,
# no mapping became writable and executable.
race() {	# race LOG
	expect "$1" race rc=0 has='race: ok' \
		has=' changed_ran=0 changed_seen=0 wx_ok=0' \
		not=' (maps|writes|execs|calls)=0 '
	grep -a '^ELFSIG case=race ' "$1" | sed 's/.*out=/  race: /'
}

boot enforce "$WORK/root.sqfs" squashfs ro elfsig_suite=enforce
L=$WORK/enforce.log.txt
grep -q '^ELFSIG-BOOT suite=enforce mode=enforce anon_exec=allow untrusted_fs=deny root=/dev/root / squashfs ro' "$L" &&
	pass || fail "enforce boot: $(grep '^ELFSIG-BOOT' "$L")"
# The guest runs the kernel of the tree (6.1 or 6.12).
grep -q "^ELFSIG-BOOT .* kernel=$krel\$" "$L" &&
	pass || fail "enforce boot: not $krel: $(grep '^ELFSIG-BOOT' "$L")"
common "$L"
untrusted_denied "$L"
allowed "$L" anon-exec has='mprotect: ok'
# Anonymous code is allowed here, and userfaultfd with it.
expect "$L" uffd rc=nz has='CHOSEN-CODE-RAN 42'
# overlayfs over the squashfs root, tmpfs upper: the library mapped
# through it stays closed to writers until unmapped, then is verified
# again (a byte of .comment changed: refused, the program still runs).
grep -q '^ELFSIG-OVERLAY' "$L" && fail "enforce: $(grep '^ELFSIG-OVERLAY' "$L")"
allowed "$L" ovl-signed has="$HELLO"
expect "$L" ovl-etxtbsy-through-overlay rc=nz has='ETXTBSY'
expect "$L" ovl-etxtbsy-upper-layer rc=nz has='ETXTBSY'
allowed "$L" ovl-write-after-exit has='open for writing: ok'
refused "$L" ovl-modified-library has='cannot be preloaded' has="$HELLO" \
	not='LIBRARY-CODE-RAN'
for c in bench-dynamic bench-static bench-mmap small-first big-first big-second; do
	allowed "$L" $c has='runs=[0-9]+ failed=0'
done
allowed "$L" big-read has='read bytes=10485760 '


# A boot with anonymous code denied: its root, the common cases and the
# anonymous ones.
deny_anon_boot() {	# deny_anon_boot SUITE UNTRUSTED-FS ROOT-IN-PROC-MOUNTS
	L=$WORK/$1.log.txt
	grep -q "^ELFSIG-BOOT suite=$1 mode=enforce anon_exec=deny untrusted_fs=$2 root=$3.* cpus=2 " "$L" &&
		pass || fail "$1 boot: $(grep '^ELFSIG-BOOT' "$L")"
	common "$L"
	race "$L"
	refused "$L" anon-exec rc=nz has='mprotect: Permission denied'
	refused "$L" uffd rc=nz has='userfaultfd: Permission denied' \
		not='CHOSEN-CODE-RAN'
}

cp "$WORK/root.ext4" "$WORK/rw.ext4"
boot ext4 "$WORK/rw.ext4" ext4 rw elfsig_suite=ext4 elfsig.anon_exec=deny
deny_anon_boot ext4 deny '/dev/root / ext4 rw'
untrusted_denied "$L"
expect "$L" etxtbsy-running-program rc=nz has='ETXTBSY'
expect "$L" etxtbsy-mapped-library rc=nz has='ETXTBSY'
refused "$L" mapx-while-open-for-writing rc=nz has='mmap: Text file busy'
expect "$L" etxtbsy-preloaded-library rc=nz has='ETXTBSY'
expect "$L" etxtbsy-truncate-mapped-library rc=nz has='truncate: ETXTBSY'
allowed "$L" victim-signed has="$HELLO"
allowed "$L" victim-write-after-exit has='open for writing: ok'
refused "$L" victim-modified rc=nz has='Permission denied' not="$HELLO"
e2fsck -fn "$WORK/rw.ext4" >/dev/null 2>&1 && pass ||
	fail "ext4 image not clean after the boot"

# The same signed tree and late files as an initramfs (cpio -H newc of
# the tree fwsign signed), anonymous code denied.
cp -a "$S" "$WORK/initramfs" && cp -a "$late/late" "$WORK/initramfs/" &&
	rm -f "$WORK/initramfs/opt/t/bigdata" "$WORK/initramfs/opt/t/big" &&
	(cd "$WORK/initramfs" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) |
	gzip -1 >"$WORK/initramfs.cpio.gz" || die "initramfs failed"
boot initramfs "$WORK/initramfs.cpio.gz" initramfs rw elfsig_suite=initramfs \
	elfsig.anon_exec=deny elfsig.untrusted_fs=allow
deny_anon_boot initramfs allow 'rootfs / rootfs'
# elfsig.untrusted_fs=allow: signed code on 9p and FUSE runs, unsigned
# code is still refused.
for fs in 9p fuse; do
	allowed "$L" $fs-signed has="$HELLO"
	refused "$L" $fs-unsigned rc=nz has='Permission denied' not="$HELLO"
	allowed "$L" $fs-mmap-signed has='mmap: ok'
done

boot permissive "$WORK/root.sqfs" squashfs ro elfsig_suite=permissive \
	elfsig.mode=permissive
L=$WORK/permissive.log.txt
grep -q '^ELFSIG-BOOT suite=permissive mode=permissive' "$L" && pass ||
	fail "permissive boot: $(grep '^ELFSIG-BOOT' "$L")"
grep -Eq '^ELFSIG-STATS-AT-BOOT denied 0 permissive 0 verified [1-9]' "$L" &&
	pass || fail "$L: $(grep '^ELFSIG-STATS-AT-BOOT' "$L")"
allowed "$L" ordinary has='ordinary: all commands ok'
expect "$L" unsigned rc=0 denied=0 permissive=+ has="$HELLO"
expect "$L" ldso-unsigned rc=0 denied=0 permissive=+ has="$HELLO"
expect "$L" dlopen-unsigned rc=0 denied=0 permissive=+ has='dlopen ok'
expect "$L" mprotect-written rc=0 denied=0 permissive=+ has='mprotect: ok'
grep -Eq 'ELFSIG-LOG .*elfsig: permissive, would deny exec of /late/bad/hello-unsigned' "$L" &&
	pass || fail "permissive: no log line for hello-unsigned"

boot off "$WORK/root.sqfs" squashfs ro elfsig_suite=off elfsig.mode=off
L=$WORK/off.log.txt
grep -q '^ELFSIG-BOOT suite=off mode=off' "$L" && pass ||
	fail "off boot: $(grep '^ELFSIG-BOOT' "$L")"
expect "$L" unsigned rc=0 has="$HELLO"
for c in bench-dynamic bench-static bench-mmap small-first big-first big-second; do
	expect "$L" $c rc=0 has='runs=[0-9]+ failed=0'
done
expect "$L" big-read rc=0 has='read bytes=10485760 '


[ "${ELFSIG_ICOUNT:-1}" = 1 ] && icount_note=" with -icount shift=0 (virtual time: 1 instruction = 1 ns)"
# --- cost -------------------------------------------------------------------------
cost() {	# cost BOOT CASE -> per-exec microseconds
	grep -a "^ELFSIG case=$2 " "$WORK/$1.log.txt" |
		sed -n 's/.*per_exec_us=\([0-9.]*\).*/\1/p'
}
echo "cost under QEMU TCG (no KVM here)${icount_note:-}, microseconds per exec:"
for c in bench-static bench-dynamic small-first big-first big-second; do
	printf '  %-14s enforce %10s   off %10s\n' "$c" \
		"$(cost enforce $c)" "$(cost off $c)"
done
mmapcost() {
	grep -a "^ELFSIG case=bench-mmap " "$WORK/$1.log.txt" |
		sed -n 's/.*check_ns=\(-*[0-9]*\).*/\1/p'
}
printf '  %-14s enforce %10s   off %10s   (ns: mmap PROT_EXEC minus mmap, cached)\n' \
	check "$(mmapcost enforce)" "$(mmapcost off)"
readtime() {
	grep -a "^ELFSIG case=big-read " "$WORK/$1.log.txt" |
		sed -n 's/.*total_us=\([0-9]*\).*/\1/p'
}
printf '  %-14s enforce %10s   off %10s   (reading 10 MB of data)\n' \
	big-read "$(readtime enforce)" "$(readtime off)"
boottime() {	# seconds from boot to /etc/rc's first line (a shell running)
	sed -n 's/^ELFSIG-BOOT .* uptime=\([0-9.]*\) .*/\1/p' "$WORK/$1.log.txt" | head -n1
}
printf '  %-14s enforce %10s   off %10s   (s: boot to the first line of /etc/rc)\n' \
	boot "$(boottime enforce)" "$(boottime off)"

done_tests
