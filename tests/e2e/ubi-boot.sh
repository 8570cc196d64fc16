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
#
# Xattrs mkfs.ubifs cannot write (security.capability v2 and v3, user.*,
# trusted.* and security.* on a symlink, security.ima from --ima; 40 of
# 4000 bytes, for a journal of two LEBs) are on the UBIFS volume (given by
# tests/cli/ubifs-xattr.py) and fwsign keeps
# them: the guest reads every xattr back (progs/xattrs.c: llistxattr,
# lgetxattr) on a read-only mount, a read-write one and a remount, and
# they are what fw_list reads in the volume signed alone (the remount
# comes after init wrote 2 MB, more than the 1.4 MB journal: the kernel
# has committed fwsign's journal, its index and LEB properties, by then).
# The signed image again with its master nodes marked dirty (a power
# cut): the kernel's recovery mounts it read-only and read-write, the
# same xattrs.
. "$(dirname "$0")/lib-boot.sh"

need_tools qemu-system-x86_64 mksquashfs ubinize mkfs.ubifs gzip gcc python3
static_busybox
: "${FW_LIST:=$SRCDIR/build/tests/fw_list}"
test_kernel
cd "$WORK" || exit 1
vendor_key fwsign-ubi-vendor
cp "$KTREE/arch/x86/boot/bzImage" bzImage
expect_exit 0 "the certificate into the test kernel" \
	"$FWSIGN" inject-cert --cert vendor.der bzImage -o bzImage.vendor

# --- the root: busybox as init
R=root
busybox_root $R umount
mkdir -p $R/mnt
gcc -O2 -Wall -Wextra -Werror -static -o $R/bin/xattrs "$SRCDIR/tests/e2e/progs/xattrs.c" ||
	{ echo "cannot build progs/xattrs.c" >&2; exit 1; }
cat >$R/etc/rc <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "UBI-BOOT init ran"
X="/mnt /mnt/bin /mnt/bin/busybox /mnt/bin/sh /mnt/etc /mnt/etc/conf /mnt/etc/ping /mnt/late.gz $(echo /mnt/many/f*)"
mount -t ubifs -o ro ubi0:data /mnt && echo "UBI-BOOT ubifs mounted ro"
/bin/xattrs ro $X
umount /mnt && echo "UBI-BOOT ubifs unmounted"
mount -t ubifs ubi0:data /mnt && echo "UBI-BOOT ubifs mounted"
/bin/xattrs rw $X
/mnt/bin/busybox true && echo "UBI-BOOT signed on ubifs ran"
gzip -dc /mnt/late.gz >/mnt/late && chmod 755 /mnt/late
/mnt/late true
echo "UBI-BOOT unsigned rc=$?"
umount /mnt && mount -t ubifs ubi0:data /mnt && echo "UBI-BOOT ubifs remounted"
/bin/xattrs again $X
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
ubifs_tree $D
PEB=131072
LEB=$((PEB - 128))
mkfs.ubifs -m 8 -e $LEB -c 64 -x lzo -r $D data.ubifs
ubifs_xattrs data.ubifs
ubi_ini root.sqfs 8MiB data.ubifs 6MiB
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

expect_exit 0 "fwsign sign nand.ubi (one command, --ima)" "$FWSIGN" sign nand.ubi \
	-o nand.signed.ubi --key vendor.key --cert vendor.crt --ima
# what the guest must read: the volume signed alone, as fw_list reads it
expect_exit 0 "fwsign sign data.ubifs alone" "$FWSIGN" sign data.ubifs \
	-o data.signed --key vendor.key --cert vendor.crt --ima
xattr_rows data.signed >want.txt
xattrs_kept want.txt
check "--ima: busybox on UBIFS has a security.ima" grep -q "^/mnt/bin/busybox security.ima 03" want.txt
check "the signed volume's journal takes two LEBs (two log references)" python3 -c '
import struct, sys
b = open("data.signed", "rb").read()
leb = struct.unpack_from("<I", b, 36)[0]
log = struct.unpack_from("<I", b, leb + 44)[0] * leb + 32
n = 0
while b[log + 64 * n:log + 64 * n + 4] == bytes.fromhex("31181006") and b[log + 64 * n + 20] == 8:
    n += 1
sys.exit(n != 2)'
expect_exit 0 "fwsign verify of the signed image" "$FWSIGN" verify \
	nand.signed.ubi --cert vendor.der

QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
# block2mtd's device by its label: the test kernel's nandsim (built in for
# nand-boot.sh) is mtd0
boot() {	# boot NAME IMAGE
	qemu_x86 "$1" 256M "block2mtd.block2mtd=/dev/vda,128KiB,ubi-flash ubi.mtd=ubi-flash ubi.block=0,rootfs root=/dev/ubiblock0_0 rootfstype=squashfs ro init=/etc/rc" \
		-kernel bzImage.vendor -drive "file=$2,if=virtio,format=raw,snapshot=on"
}
boot signed nand.signed.ubi
# the xattrs the guest read, per mount, against want.txt
for tag in ro rw again; do
	check "signed: xattrs read back by the kernel ($tag mount)" \
		diff want.txt <(xattrs_read signed.txt $tag)
done
check "signed: mounted read-only, unmounted" grep -q "^UBI-BOOT ubifs unmounted" signed.txt
check "signed: remounted" grep -q "^UBI-BOOT ubifs remounted" signed.txt
check "signed: the kernel loaded the vendor certificate" \
	grep -q "Loaded X.509 cert '$CN" signed.txt
check "signed: UBI attached the image" grep -q 'ubi0: attached mtd[0-9]* (name "ubi-flash"' signed.txt
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

# the signed image after a power cut: its UBIFS volume's master nodes
# (LEBs 1 and 2 of volume 1) say dirty, so the kernel recovers it
python3 - nand.signed.ubi nand.dirty.ubi <<'EOF'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
n = 0
for peb in range(0, len(b), 131072):
    vid = peb + 64
    if b[peb:peb + 4] != b"UBI#" or b[vid:vid + 4] != b"UBI!":
        continue
    vol, lnum = struct.unpack_from(">II", b, vid + 8)
    if vol != 1 or lnum not in (1, 2):
        continue
    for m in range(peb + 128, peb + 131072 - 512, 512):
        if struct.unpack_from("<I", b, m)[0] != 0x06101831 or b[m + 20] != 7:
            break
        b[m + 40] |= 1
        struct.pack_into("<I", b, m + 4, zlib.crc32(bytes(b[m + 8:m + 512])) ^ 0xffffffff)
        n += 1
assert n >= 2, n
open(sys.argv[2], "wb").write(b)
EOF
boot dirty nand.dirty.ubi
check "power cut: the kernel recovered the volume" grep -q "recovery needed" dirty.txt
for tag in ro rw again; do
	check "power cut: xattrs read back by the kernel ($tag mount)" \
		diff want.txt <(xattrs_read dirty.txt $tag)
done
check "power cut: the signed program on UBIFS ran" \
	grep -q "^UBI-BOOT signed on ubifs ran" dirty.txt

boot unsigned nand.ubi
check "control: UBI attached the unsigned image" grep -q 'ubi0: attached mtd[0-9]* (name "ubi-flash"' unsigned.txt
check "control: the unsigned image's init never runs" \
	sh -c "! grep -q '^UBI-BOOT init ran' unsigned.txt"
boot_tails signed:40 unsigned:15
done_tests
