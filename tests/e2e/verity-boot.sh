#!/bin/bash
# Proof by boot of the stock-kernel way: Debian's linux-source-6.12 with no
# patch (kernel/stock/test.config: dm-verity with signed root hashes, IPE;
# and IMA, for ima-boot.sh, unused here: no IMA policy is loaded),
# the vendor certificate put in its extra-certificate slot by `fwsign
# inject-cert`, and a squashfs root signed by `fwsign sign --verity`.  The
# initramfs (IPE's boot_verified) loads the signed IPE policy that fwsign
# wrote (OUTPUT.ipe.p7s: execution only from a volume whose root hash
# signature the kernel checked), activates the root with its signed root
# hash (OUTPUT.roothash.p7s, table from OUTPUT.verity) and runs a program
# from it.  Refused: a copy of that program on tmpfs, the same program run
# from a memfd, a root hash signed by another key (the device does not
# activate), and an image with one byte changed (I/O error on read).
# Exactly those two execution refusals are audited.  Control: without the
# policy the tmpfs copy and the memfd run, and nothing is refused.
. "$(dirname "$0")/lib-boot.sh"

need_tools qemu-system-x86_64 mksquashfs cpio gzip gcc openssl
static_busybox
test_kernel FWSIGN_KVERSION=6.12 FWSIGN_KVARIANT=stock
cd "$WORK" || exit 1
vendor_key fwsign-verity-vendor
"$FWSIGN" keygen -o other --subject fwsign-verity-other --rsa 2048 >/dev/null
expect_exit 0 "the certificate into the stock 6.12 vmlinux" \
	"$FWSIGN" inject-cert --cert vendor.der "$KTREE/vmlinux" -o vmlinux

# --- the root: busybox, signed with a dm-verity tree
R=root
mkdir -p $R/bin
cp "$BUSYBOX" $R/bin/busybox
mksquashfs $R root.sqfs -comp xz -noappend -all-root -quiet >/dev/null
expect_exit 0 "fwsign sign --verity" "$FWSIGN" sign --verity --verity-device /dev/vda \
	--key vendor.key --cert vendor.crt root.sqfs -o v.sqfs
. ./v.sqfs.verity
# the same root hash signed by another key (a detached PKCS#7 like ours)
printf '%s' "$VERITY_ROOT_HASH" >rh.txt
openssl cms -sign -binary -noattr -nocerts -md sha256 -outform DER \
	-signer other.crt -inkey other.key -in rh.txt -out other.p7s
# one byte changed in the data (the middle of busybox), tree as it was
cp v.sqfs bad.sqfs
printf '\x5a' | dd of=bad.sqfs bs=1 seek=$((VERITY_HASH_OFFSET / 2)) conv=notrunc 2>/dev/null

# --- the initramfs
B=progs
mkdir -p $B
gcc -O2 -Wall -Wextra -Werror -static -o $B/dmverity "$SRCDIR/tests/e2e/progs/dmverity.c" &&
	gcc -O2 -Wall -Wextra -Werror -static -o $B/memexec "$SRCDIR/tests/e2e/progs/memexec.c" ||
	{ echo "cannot build the guest programs" >&2; exit 1; }
mkinitrd() {	# mkinitrd NAME POLICY(yes|no)
	local I=$1.d
	mkdir -p $I/{bin,proc,sys,dev,tmp,newroot,bad}
	cp "$BUSYBOX" $I/bin/busybox
	cp $B/dmverity $B/memexec $I/bin/
	cp v.sqfs.roothash.p7s $I/root.p7s
	cp other.p7s $I/other.p7s
	cp v.sqfs.verity $I/verity.env
	[ "$2" = yes ] && cp v.sqfs.ipe.p7s $I/policy.p7s
	cat >$I/init <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t securityfs sec /sys/kernel/security
echo "VERITY-BOOT init ran"
if [ -e /policy.p7s ]; then
	cat /policy.p7s >/sys/kernel/security/ipe/new_policy &&
	echo 1 >/sys/kernel/security/ipe/policies/fwsign/active &&
	echo "VERITY-BOOT policy active"
fi
. /verity.env
dmverity vroot /root.p7s "$VERITY_SIG_KEY_DESC" "$VERITY_TABLE_SIGNED" &&
	echo "VERITY-BOOT root activated"
mount -t squashfs -o ro /dev/dm-0 /newroot && echo "VERITY-BOOT root mounted"
/newroot/bin/busybox true; echo "VERITY-BOOT signed rc=$?"
cp /newroot/bin/busybox /tmp/busybox && /tmp/busybox true; echo "VERITY-BOOT tmpfs rc=$?"
memexec -s /newroot/bin/busybox true; echo "VERITY-BOOT memfd rc=$?"
t=$(echo "$VERITY_TABLE_SIGNED" | sed 's#/dev/vda#/dev/vdb#g; s#fwsign:#other:#')
dmverity vother /other.p7s "other:${VERITY_SIG_KEY_DESC#fwsign:}" "$t"
echo "VERITY-BOOT other-key rc=$?"
t=$(echo "$VERITY_TABLE_SIGNED" | sed 's#/dev/vda#/dev/vdc#g; s#fwsign:#bad:#')
if dmverity vbad /root.p7s "bad:${VERITY_SIG_KEY_DESC#fwsign:}" "$t"; then
	for d in /sys/block/dm-*; do
		[ "$(cat $d/dm/name)" = vbad ] && dev=/dev/${d##*/}
	done
	dd if=$dev of=/dev/null bs=4096 2>/dev/null
	echo "VERITY-BOOT tampered read rc=$?"
fi
echo "VERITY-BOOT denials $(dmesg | grep -c 'ipe_op=EXECUTE.*action=DENY')"
echo "VERITY-BOOT done"
poweroff -f
EOF
	chmod 755 $I/init
	(cd $I && find . | sort | cpio -o -H newc --quiet | gzip -9n) >$1.cpio.gz
}
mkinitrd enforce yes
mkinitrd nopolicy no

QEMU_TIMEOUT=${QEMU_TIMEOUT:-180}
boot() {	# boot NAME INITRD
	qemu_x86 "$1" 256M "audit=1 sysctl.kernel.printk_ratelimit=0" \
		-kernel vmlinux -initrd "$2" \
		-drive "file=v.sqfs,if=virtio,format=raw,readonly=on" \
		-drive "file=v.sqfs,if=virtio,format=raw,readonly=on" \
		-drive "file=bad.sqfs,if=virtio,format=raw,readonly=on"
}
boot enforce enforce.cpio.gz
e=enforce.txt
check "the stock kernel loaded the vendor certificate" grep -q "Loaded X.509 cert '$CN" $e
check "init ran from the initramfs" grep -q "^VERITY-BOOT init ran" $e
check "the signed IPE policy is active" grep -q "^VERITY-BOOT policy active" $e
check "the root activated with its signed root hash" grep -q "^VERITY-BOOT root activated" $e
check "the root mounted" grep -q "^VERITY-BOOT root mounted" $e
check "a program from the signed volume ran" grep -q "^VERITY-BOOT signed rc=0" $e
check "its copy on tmpfs was refused" grep -q "^VERITY-BOOT tmpfs rc=126$" $e
check "it was refused from a memfd" sh -c "grep -q '^VERITY-BOOT memfd rc=' $e && ! grep -q '^VERITY-BOOT memfd rc=0' $e"
check "a root hash signed by another key does not activate" grep -q "^VERITY-BOOT other-key rc=1" $e
check "one changed byte: I/O error on read" sh -c "grep -q '^VERITY-BOOT tampered read rc=[1-9]' $e"
check "exactly the two execution refusals audited" grep -q "^VERITY-BOOT denials 2$" $e
check "init reached its end" grep -q "^VERITY-BOOT done" $e
grep "^VERITY-BOOT\|dmverity:" $e | sed 's/^/  /'

boot nopolicy nopolicy.cpio.gz
check "control: without the policy the tmpfs copy runs" \
	grep -q "^VERITY-BOOT tmpfs rc=0" nopolicy.txt
check "control: without the policy the memfd runs" \
	grep -q "^VERITY-BOOT memfd rc=0" nopolicy.txt
check "control: no execution refused without the policy" \
	grep -q "^VERITY-BOOT denials 0$" nopolicy.txt
if [ "$T_FAIL" -gt 0 ]; then
	echo "--- enforce boot" >&2; tail -n 40 enforce.txt >&2
	echo "--- no policy" >&2; grep -E "VERITY-BOOT|ipe|dmverity|Kernel panic" nopolicy.txt >&2
fi
done_tests
