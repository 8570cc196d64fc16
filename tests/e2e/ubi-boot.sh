#!/bin/bash
# Proof by boot that a NAND image signed by fwsign runs on an enforcing
# kernel.  The image is made by mtd-utils: ubinize around a squashfs root
# (static busybox as init) and a UBIFS volume made by mkfs.ubifs (busybox
# again, and a gzip'ed copy that init unpacks at run time: code that
# arrived unsigned).  `fwsign sign` signs both volumes in one command.  The
# test kernel (elfsig enforcing) attaches the image as a NAND would be:
# block2mtd over a virtio disk, UBI on it, the squashfs volume as the root
# through ubiblock, the UBIFS volume mounted by init.  Signed: init runs,
# the signed program on UBIFS runs, the unpacked one is refused, exactly one
# refusal.  Control: the unsigned image's init is refused.
. "$(dirname "$0")/lib-boot.sh"

need_tools qemu-system-x86_64 mksquashfs ubinize mkfs.ubifs gzip
static_busybox
test_kernel
cd "$WORK" || exit 1
CN=fwsign-ubi-vendor
"$FWSIGN" keygen -o vendor --subject "$CN" --rsa 2048 >/dev/null
cp "$KTREE/arch/x86/boot/bzImage" bzImage
expect_exit 0 "the certificate into the test kernel" \
	"$FWSIGN" inject-cert --cert vendor.der bzImage -o bzImage.vendor

# --- the root: busybox as init
R=root
mkdir -p $R/{bin,sbin,etc,proc,sys,dev,tmp,mnt}
cp "$BUSYBOX" $R/bin/busybox
for a in sh mount cat echo gzip chmod sync poweroff grep; do ln -s busybox $R/bin/$a; done
cat >$R/etc/rc <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "UBI-BOOT init ran"
mount -t ubifs ubi0:data /mnt && echo "UBI-BOOT ubifs mounted"
/mnt/bin/busybox true && echo "UBI-BOOT signed on ubifs ran"
gzip -dc /mnt/late.gz >/mnt/late && chmod 755 /mnt/late
/mnt/late true
echo "UBI-BOOT unsigned rc=$?"
echo "UBI-BOOT stats $(cat /sys/module/elfsig/parameters/stats)"
echo "UBI-BOOT done"
sync
poweroff -f
EOF
chmod 755 $R/etc/rc
mksquashfs $R root.sqfs -comp xz -noappend -all-root -quiet >/dev/null

# --- the UBIFS volume: block2mtd has 1-byte pages, so UBI puts the VID
# header at 64 and the data at 128, and UBIFS rounds its min I/O up to 8
D=data
mkdir -p $D/bin
cp "$BUSYBOX" $D/bin/busybox
gzip -9nc "$BUSYBOX" >$D/late.gz
PEB=131072
LEB=$((PEB - 128))
mkfs.ubifs -m 8 -e $LEB -c 64 -x lzo -r $D data.ubifs
cat >ubi.ini <<EOF
[rootfs]
mode=ubi
image=root.sqfs
vol_id=0
vol_type=dynamic
vol_name=rootfs
vol_size=8MiB
[data]
mode=ubi
image=data.ubifs
vol_id=1
vol_type=dynamic
vol_name=data
vol_size=6MiB
vol_flags=autoresize
EOF
ubinize -o nand.ubi -p $PEB -m 1 -O 64 ubi.ini >/dev/null
# the flash beyond the image: erased
truncate -s 32M nand.ubi
python3 - nand.ubi <<'EOF'
import os, sys
f = open(sys.argv[1], 'r+b')
end = max(i for i in range(0, os.path.getsize(sys.argv[1]), 131072)
          if f.seek(i) is not None and f.read(4) == b'UBI#') + 131072
f.seek(end)
f.write(b'\xff' * (os.path.getsize(sys.argv[1]) - end))
EOF

expect_exit 0 "fwsign sign nand.ubi (one command)" "$FWSIGN" sign nand.ubi \
	-o nand.signed.ubi --key vendor.key --cert vendor.crt
expect_exit 0 "fwsign verify of the signed image" "$FWSIGN" verify \
	nand.signed.ubi --cert vendor.der

QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
boot() {	# boot NAME IMAGE
	timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -m 256M \
		-display none -monitor none -serial "file:$1.log" -no-reboot \
		-kernel bzImage.vendor \
		-append "console=ttyS0 panic=-1 loglevel=6 block2mtd.block2mtd=/dev/vda,128KiB ubi.mtd=0 ubi.block=0,rootfs root=/dev/ubiblock0_0 rootfstype=squashfs ro init=/etc/rc" \
		-drive "file=$2,if=virtio,format=raw,snapshot=on" \
		</dev/null >"$1.qemu" 2>&1
	tr -d '\r' <"$1.log" >"$1.txt"
}
boot signed nand.signed.ubi
check "signed: the kernel loaded the vendor certificate" \
	grep -q "Loaded X.509 cert '$CN" signed.txt
check "signed: UBI attached the image" grep -q "ubi0: attached mtd0" signed.txt
check "signed: the signed init ran from the squashfs volume" \
	grep -q "^UBI-BOOT init ran" signed.txt
check "signed: the UBIFS volume mounted" grep -q "^UBI-BOOT ubifs mounted" signed.txt
check "signed: the signed program on UBIFS ran" \
	grep -q "^UBI-BOOT signed on ubifs ran" signed.txt
check "signed: the unsigned program was refused" \
	grep -Eq "^UBI-BOOT unsigned rc=(126|127)" signed.txt
check "signed: exactly one refusal (the unsigned program)" \
	grep -Eq "^UBI-BOOT stats denied 1 " signed.txt
check "signed: init reached its end" grep -q "^UBI-BOOT done" signed.txt
grep "^UBI-BOOT" signed.txt | sed 's/^/  /'

boot unsigned nand.ubi
check "control: UBI attached the unsigned image" grep -q "ubi0: attached mtd0" unsigned.txt
check "control: the unsigned image's init never runs" \
	sh -c "! grep -q '^UBI-BOOT init ran' unsigned.txt"
if [ "$T_FAIL" -gt 0 ]; then
	echo "--- signed boot" >&2; tail -n 40 signed.txt >&2
	echo "--- unsigned boot" >&2; tail -n 15 unsigned.txt >&2
fi
done_tests
