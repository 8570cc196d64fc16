#!/bin/bash
# Proof by boot that a vendor blob signed by fwsign in one command runs on
# an enforcing kernel.  The blob is an OpenWrt-style sysupgrade file: a GNU
# tar of a FIT (the test kernel, elfsig in enforce mode, an empty extra-
# certificate slot) and a squashfs root (static busybox as init), then an
# fwtool metadata trailer.  `fwsign sign` signs the rootfs inside the tar
# and puts the vendor certificate in the kernel inside the FIT.  The kernel
# and the rootfs are then taken out of the signed blob with the vendor's
# own tools (tar, dumpimage) and booted under QEMU: the kernel loads the
# vendor certificate, the signed init runs, and an unsigned program that
# arrives at run time is refused, with exactly that one refusal.  Control:
# the same parts taken out of the unsigned blob do not boot (init refused).
. "$(dirname "$0")/lib-boot.sh"

need_tools qemu-system-x86_64 mksquashfs mkimage dumpimage tar python3 gzip
static_busybox
test_kernel
cd "$WORK" || exit 1
vendor_key fwsign-blob-vendor

# --- the rootfs: busybox as init; an executable kept gzip'ed (data to a
# signer) that init unpacks to tmpfs and runs: code that arrived unsigned.
R=root
busybox_root $R
mkdir -p $R/opt
gzip -9nc "$BUSYBOX" >$R/opt/late.gz
cat >$R/etc/rc <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
echo "BLOB-BOOT init ran"
gzip -dc /opt/late.gz >/tmp/late && chmod 755 /tmp/late
/tmp/late true
echo "BLOB-BOOT unsigned rc=$?"
echo "BLOB-BOOT stats $(cat /sys/module/elfsig/parameters/stats)"
echo "BLOB-BOOT done"
sync
poweroff -f
EOF
chmod 755 $R/etc/rc
mksquashfs $R root.sqfs -comp xz -noappend -all-root -quiet >/dev/null
"$SRCDIR/scripts/make-sysupgrade.sh" "$KTREE/arch/x86/boot/bzImage" root.sqfs firmware.bin

expect_exit 0 "fwsign sign firmware.bin (one command)" "$FWSIGN" sign firmware.bin \
	-o firmware.signed.bin --key vendor.key --cert vendor.crt
expect_exit 0 "fwsign verify of the signed blob" "$FWSIGN" verify firmware.signed.bin \
	--cert vendor.der

# take_out BLOB DIR: the kernel and the rootfs, with the vendor's tools
take_out() {
	mkdir -p "$2" &&
		tar -xf "$1" -C "$2" 2>/dev/null &&
		dumpimage -T flat_dt -p 0 -o "$2/bzImage" \
			"$2/sysupgrade-acme_router/kernel" >/dev/null
}
check "parts taken out of the signed blob" take_out firmware.signed.bin signed
check "parts taken out of the unsigned blob" take_out firmware.bin unsigned

QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
boot() {	# boot NAME DIR
	qemu_x86 "$1" 256M "root=/dev/vda rootfstype=squashfs ro init=/etc/rc" \
		-kernel "$2/bzImage" \
		-drive "file=$2/sysupgrade-acme_router/root,if=virtio,format=raw,readonly=on"
}
boot signed signed
check "signed: the kernel loaded the vendor certificate" \
	grep -q "Loaded X.509 cert '$CN" signed.txt
check "signed: the signed init ran" grep -q "^BLOB-BOOT init ran" signed.txt
check "signed: the unsigned program was refused" \
	grep -Eq "^BLOB-BOOT unsigned rc=(126|127)" signed.txt
check "signed: exactly one refusal (the unsigned program)" \
	grep -Eq "^BLOB-BOOT stats denied 1 " signed.txt
check "signed: init reached its end" grep -q "^BLOB-BOOT done" signed.txt
grep "^BLOB-BOOT" signed.txt | sed 's/^/  /'

boot unsigned unsigned
check "control: the unsigned blob's init never runs" \
	sh -c "! grep -q '^BLOB-BOOT init ran' unsigned.txt"
check "control: its kernel does not know the vendor" \
	sh -c "! grep -q \"Loaded X.509 cert '$CN\" unsigned.txt"
boot_tails signed:30 unsigned:15
done_tests
