#!/bin/bash
# Proof by boot that a partitioned disk image signed by fwsign runs on an
# enforcing kernel.  The image is a GPT made by sgdisk: p1 an ext2 boot
# partition holding the test kernel (elfsig enforcing, an empty extra-
# certificate slot), p2 an ext4 root of Debian binaries (static busybox as
# init, the host's dynamic ls, coreutils' cat and their libraries: ld.so,
# libc, libselinux, libpcre2), with random bytes where a bootloader's code
# would lie.  `fwsign sign disk.img` signs the root in place and puts the
# vendor certificate in the kernel inside the boot partition.  The kernel is
# then taken out of the signed image's boot partition with debugfs and
# booted with the image as its disk: it loads the vendor certificate, the
# signed init and dynamic programs run with zero refusals, and an unsigned
# program that arrives at run time is refused, the only refusal.  sgdisk -v
# finds the signed image's GPT sound and identical.  Control: the kernel
# taken out of the unsigned image does not know the vendor, and its init is
# refused.
. "$(dirname "$0")/lib-boot.sh"

need_tools qemu-system-x86_64 sgdisk mke2fs debugfs gzip ldd
static_busybox
test_kernel
cd "$WORK" || exit 1
vendor_key fwsign-disk-vendor

# --- the root: busybox as init, dynamic Debian programs and their libraries
R=root
busybox_root $R
mkdir -p $R/opt $R/usr/bin
cp /usr/bin/ls /usr/bin/cat $R/usr/bin/
for f in $R/usr/bin/ls $R/usr/bin/cat; do
	ldd "$f" | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
	done
done
gzip -9nc "$BUSYBOX" >$R/opt/late.gz
cat >$R/etc/rc <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
echo "DISK-BOOT init ran"
echo "DISK-BOOT partitions $(ls /sys/block/vda | grep vda | tr '\n' ' ')"
/usr/bin/ls /usr/bin >/dev/null && echo "DISK-BOOT ls ran"
/usr/bin/cat /etc/rc >/dev/null && echo "DISK-BOOT cat ran"
echo "DISK-BOOT before-late $(cat /sys/module/elfsig/parameters/stats)"
gzip -dc /opt/late.gz >/tmp/late && chmod 755 /tmp/late
/tmp/late true
echo "DISK-BOOT unsigned rc=$?"
echo "DISK-BOOT stats $(cat /sys/module/elfsig/parameters/stats)"
echo "DISK-BOOT done"
sync
poweroff -f
EOF
chmod 755 $R/etc/rc
mke2fs -q -F -t ext4 -d $R -U 11111111-2222-3333-4444-555555555555 root.ext4 48M
mkdir -p boot
cp "$KTREE/arch/x86/boot/bzImage" boot/bzImage
mke2fs -q -F -t ext2 -d boot boot.ext2 16M

# --- the disk: GPT, 1 MiB alignment, p1 boot, p2 root, random boot code
truncate -s 70M disk.img
sgdisk -n 1:2048:+16M -t 1:ea00 -c 1:boot -n 2:0:+48M -t 2:8304 -c 2:root \
	-u 1:11111111-0000-0000-0000-000000000001 \
	-u 2:11111111-0000-0000-0000-000000000002 -U 11111111-0000-0000-0000-00000000d15c \
	disk.img >/dev/null
head -c 440 /dev/urandom | dd of=disk.img conv=notrunc 2>/dev/null
head -c $((1024 * 512)) /dev/urandom | dd of=disk.img bs=512 seek=34 count=1000 conv=notrunc 2>/dev/null
set -- $(sgdisk -i 1 disk.img | awk '/First sector/ {print $3}') \
	$(sgdisk -i 2 disk.img | awk '/First sector/ {print $3}')
dd if=boot.ext2 of=disk.img bs=512 seek="$1" conv=notrunc 2>/dev/null
dd if=root.ext4 of=disk.img bs=512 seek="$2" conv=notrunc 2>/dev/null
P1=$1 P2=$2

expect_exit 0 "fwsign sign disk.img (one command)" "$FWSIGN" sign disk.img \
	-o disk.signed.img --key vendor.key --cert vendor.crt
expect_exit 0 "fwsign verify of the signed image" "$FWSIGN" verify disk.signed.img \
	--cert vendor.der
check "sgdisk -v: the GPT is sound" sh -c "sgdisk -v disk.signed.img | grep -q 'No problems found'"
check "the partition table is as it was" \
	sh -c "[ \"\$(sgdisk -p disk.img | tail -n +2)\" = \"\$(sgdisk -p disk.signed.img | tail -n +2)\" ]"
check "the boot code and the gap are as they were" \
	sh -c "cmp -s -n $((P1 * 512)) disk.img disk.signed.img"

take_kernel() {	# take_kernel IMAGE OUT: bzImage from p1, with debugfs
	dd if="$1" of=p1.ext2 bs=512 skip="$P1" count=$((16 * 2048)) 2>/dev/null &&
		debugfs -R "dump /bzImage $2" p1.ext2 >/dev/null 2>&1 && [ -s "$2" ]
}
check "kernel taken out of the signed image" take_kernel disk.signed.img bz.signed
check "kernel taken out of the unsigned image" take_kernel disk.img bz.unsigned

QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
boot() {	# boot NAME KERNEL IMAGE
	qemu_x86 "$1" 256M "root=/dev/vda2 rootfstype=ext4 ro init=/etc/rc" \
		-kernel "$2" -drive "file=$3,if=virtio,format=raw,snapshot=on"
}
boot signed bz.signed disk.signed.img
check "signed: the kernel from the boot partition loaded the vendor certificate" \
	grep -q "Loaded X.509 cert '$CN" signed.txt
check "signed: the kernel found the GPT partitions" grep -q "^DISK-BOOT partitions vda1 vda2 $" signed.txt
check "signed: the signed init ran" grep -q "^DISK-BOOT init ran" signed.txt
check "signed: the dynamic programs ran" sh -c \
	"grep -q '^DISK-BOOT ls ran' signed.txt && grep -q '^DISK-BOOT cat ran' signed.txt"
check "signed: zero refusals of the signed userland" \
	grep -Eq "^DISK-BOOT before-late denied 0 " signed.txt
check "signed: the unsigned program was refused" \
	grep -Eq "^DISK-BOOT unsigned rc=(126|127)" signed.txt
check "signed: exactly one refusal (the unsigned program)" \
	grep -Eq "^DISK-BOOT stats denied 1 " signed.txt
check "signed: init reached its end" grep -q "^DISK-BOOT done" signed.txt
grep "^DISK-BOOT" signed.txt | sed 's/^/  /'

boot unsigned bz.unsigned disk.img
check "control: the unsigned image's kernel does not know the vendor" \
	sh -c "! grep -q \"Loaded X.509 cert '$CN\" unsigned.txt"
check "control: the unsigned image's init never runs" \
	sh -c "! grep -q '^DISK-BOOT init ran' unsigned.txt"
boot_tails signed:30 unsigned:15
done_tests
