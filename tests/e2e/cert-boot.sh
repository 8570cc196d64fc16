#!/bin/bash
# Proof by boot that fwsign inject-cert gives the kernel our certificate.
#
# The test kernel (tests/e2e/build-kernel.sh: MODULE_SIG_FORCE, an extra
# certificate slot) gets a certificate made by `fwsign keygen`, injected
# into its bzImage and, separately, into its vmlinux; both are booted under
# QEMU (TCG) with a busybox initramfs that loads a test module built
# against the tree: unsigned, signed by another key, signed by fwsign with
# our key.  The serial console must show the kernel loading our
# certificate, the first two refused (EKEYREJECTED = busybox insmod exit
# 129, with the kernel's reasons) and the last one loaded.  A control boot
# of the untouched kernel refuses our signed module.  Last, the recipe the
# bzImage refusal gives (inject into vmlinux, `make bzImage` from it) is
# followed in a copy of the build tree and its bzImage booted
# (FWSIGN_E2E_REBUILD=0 skips that: it copies the 1.6 GB tree, ~1 minute).
# FWSIGN_KVERSION=6.12 does it all with the 6.12 test kernel (kernel/6.12/).
. "$(dirname "$0")/../cli/lib.sh"

for t in qemu-system-x86_64 cpio gzip timeout make; do
	command -v $t >/dev/null || { echo "missing $t (scripts/deps.sh)" >&2; exit 1; }
done
BUSYBOX=$FIXTURES/amd64/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=/bin/busybox
file -L "$BUSYBOX" | grep -q "statically linked" || { echo "need a static busybox" >&2; exit 1; }

t0=$(date +%s)
KTREE=$("$SRCDIR/tests/e2e/build-kernel.sh") || { echo "kernel build failed" >&2; exit 1; }
echo "kernel tree: $KTREE ($(($(date +%s) - t0)) s to get it)"
KREL=$(cat "$KTREE/include/config/kernel.release" 2>/dev/null)
check "the tree is Linux ${FWSIGN_KVERSION:-6.1} ($KREL)" \
	sh -c "case '$KREL' in '${FWSIGN_KVERSION:-6.1}'.*) ;; *) exit 1 ;; esac"
cd "$WORK" || exit 1

CN=fwsign-e2e-vendor
"$FWSIGN" keygen -o vendor --subject "$CN" --rsa 2048 >/dev/null
"$FWSIGN" keygen -o other --subject fwsign-e2e-other --rsa 2048 >/dev/null

# The test module, built out of tree against the cached tree.
mkdir mod
cat >mod/fwsign_e2e.c <<'EOF'
// SPDX-License-Identifier: GPL-2.0
#include <linux/init.h>
#include <linux/module.h>

static int __init fwsign_e2e_init(void)
{
	pr_info("fwsign_e2e: test module loaded\n");
	return 0;
}

static void __exit fwsign_e2e_exit(void)
{
}

module_init(fwsign_e2e_init);
module_exit(fwsign_e2e_exit);
MODULE_LICENSE("GPL");
EOF
echo "obj-m := fwsign_e2e.o" >mod/Kbuild
make -s -C "$KTREE" M="$WORK/mod" modules >mod.log 2>&1 || { cat mod.log >&2; exit 1; }
check "test module built" [ -f mod/fwsign_e2e.ko ]
check "built module is unsigned" [ "$(sig_len mod/fwsign_e2e.ko)" -eq 0 ]
"$FWSIGN" sign mod/fwsign_e2e.ko -o signed.ko --key vendor.key --cert vendor.crt >/dev/null
"$FWSIGN" sign mod/fwsign_e2e.ko -o other.ko --key other.key --cert other.crt >/dev/null
check "module signed by fwsign" [ "$(sig_len signed.ko)" -gt 0 ]
check "module signed by the other key" [ "$(sig_len other.ko)" -gt 0 ]

# The initramfs: the module three ways, /init loads them and reports.
mkdir -p ir/bin ir/dev ir/proc ir/sys ir/mod
cp "$BUSYBOX" ir/bin/busybox
cp mod/fwsign_e2e.ko ir/mod/unsigned.ko
cp other.ko ir/mod/other.ko
cp signed.ko ir/mod/signed.ko
cat >ir/init <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
echo "FWSIGN-BOOTED"
echo "FWSIGN-UNAME $(/bin/busybox uname -r) ."
# the same module name three times: the one that loads goes last
for m in unsigned other signed; do
	/bin/busybox insmod /mod/$m.ko
	echo "FWSIGN-RESULT $m $?"
done
/bin/busybox grep -q '^fwsign_e2e ' /proc/modules && echo "FWSIGN-LISTED"
echo "FWSIGN-DONE"
/bin/busybox poweroff -f
EOF
chmod 755 ir/init
(cd ir && find . | cpio -o -H newc 2>/dev/null | gzip -1) >init.cpio.gz

# boot NAME KERNEL: serial console in NAME.log
boot() {
	local s e
	s=$(date +%s.%N)
	# elfsig (kernel/0002) enforces by default; this test is about modules
	timeout 300 qemu-system-x86_64 -accel tcg -m 256M -nographic -no-reboot \
		-kernel "$2" -initrd init.cpio.gz \
		-append "console=ttyS0 panic=-1 no_timer_check elfsig.mode=off" </dev/null >"$1.log" 2>&1
	e=$(date +%s.%N)
	echo "boot $1: $(echo "$e - $s" | bc) s"
	check "$1: booted to /init and finished" grep -q FWSIGN-DONE "$1.log"
	check "$1: the guest ran Linux $KREL" grep -qF "FWSIGN-UNAME $KREL ." "$1.log"
}
expect_trusted() {	# NAME: our cert loaded, modules judged by it
	local n=$1
	check "$n: kernel loaded our certificate" grep -q "Loaded X.509 cert '$CN: " "$n.log"
	check "$n: unsigned module refused (129)" grep -q "FWSIGN-RESULT unsigned 129" "$n.log"
	check "$n: kernel says unsigned is rejected" grep -q "Loading of unsigned module is rejected" "$n.log"
	check "$n: other key's module refused (129)" grep -q "FWSIGN-RESULT other 129" "$n.log"
	check "$n: kernel says unavailable key" grep -q "Loading of module with unavailable key is rejected" "$n.log"
	check "$n: fwsign-signed module loads (0)" grep -q "FWSIGN-RESULT signed 0" "$n.log"
	check "$n: module ran" grep -q "fwsign_e2e: test module loaded" "$n.log"
	check "$n: module listed" grep -q FWSIGN-LISTED "$n.log"
	grep -a -e "X.509" -e FWSIGN -e "is rejected" "$n.log" | sed "s/^/  $n: /"
}

cp "$KTREE/arch/x86/boot/bzImage" bzImage
cp "$KTREE/vmlinux" vmlinux
s=$(date +%s.%N)
expect_exit 0 "inject into bzImage" "$FWSIGN" inject-cert bzImage --cert vendor.der -o bzImage.cert
echo "inject-cert bzImage: $(echo "$(date +%s.%N) - $s" | bc) s; $(grep -o '[0-9]* bytes to spare' out.txt)"
s=$(date +%s.%N)
expect_exit 0 "inject into vmlinux" "$FWSIGN" inject-cert vmlinux --cert vendor.der -o vmlinux.cert
echo "inject-cert vmlinux: $(echo "$(date +%s.%N) - $s" | bc) s"

boot bzimage bzImage.cert
expect_trusted bzimage
# vmlinux boots directly: the test kernel has the PVH entry point.
boot vmlinux vmlinux.cert
expect_trusted vmlinux

boot control bzImage
check "control: our certificate absent" sh -c "! grep -q \"Loaded X.509 cert '$CN\" control.log"
check "control: signed module refused without the certificate" grep -q "FWSIGN-RESULT signed 129" control.log

if [ "${FWSIGN_E2E_REBUILD:-1}" != 0 ]; then
	# The refusal's recipe: vmlinux with the certificate in place of the
	# tree's vmlinux, then make bzImage, in a copy of the shared tree.
	s=$(date +%s)
	"$SRCDIR/tests/e2e/copy-kernel-tree.sh" "$KTREE" tree
	cp vmlinux.cert tree/vmlinux
	touch tree/vmlinux
	echo "tree copied in $(($(date +%s) - s)) s"
	s=$(date +%s)
	# Under the lock of kernel builds: it is one, if a small one.
	if flock /tmp/fwsign-kbuild.lock make -s -C tree bzImage >rebuild.log 2>&1; then
		echo "make bzImage from the injected vmlinux: $(($(date +%s) - s)) s"
		check "make bzImage kept the injected vmlinux" cmp -s tree/vmlinux vmlinux.cert
		boot rebuilt tree/arch/x86/boot/bzImage
		expect_trusted rebuilt
	else
		cat rebuild.log >&2
		fail "make bzImage in the copied tree"
	fi
	rm -rf tree
fi
echo "total: $(($(date +%s) - t0)) s"
done_tests
