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
CN=fwsign-ubi-vendor
"$FWSIGN" keygen -o vendor --subject "$CN" --rsa 2048 >/dev/null
cp "$KTREE/arch/x86/boot/bzImage" bzImage
expect_exit 0 "the certificate into the test kernel" \
	"$FWSIGN" inject-cert --cert vendor.der bzImage -o bzImage.vendor

# --- the root: busybox as init
R=root
mkdir -p $R/{bin,sbin,etc,proc,sys,dev,tmp,mnt}
cp "$BUSYBOX" $R/bin/busybox
for a in sh mount umount cat echo gzip chmod sync poweroff grep; do ln -s busybox $R/bin/$a; done
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
mkdir -p $D/bin $D/etc $D/many
for i in $(seq 10 49); do : >$D/many/f$i; done
cp "$BUSYBOX" $D/bin/busybox
ln -s busybox $D/bin/sh
printf 'conf\n' >$D/etc/conf
printf '#!/bin/sh\n' >$D/etc/ping
gzip -9nc "$BUSYBOX" >$D/late.gz
PEB=131072
LEB=$((PEB - 128))
mkfs.ubifs -m 8 -e $LEB -c 64 -x lzo -r $D data.ubifs
# the xattrs (setcap cap_net_raw+ep: v2; v3 with root uid 1000, which the
# kernel gives back as it is), on files, a directory, a symlink, the root
CAP2=0100000200200000000000000000000000000000
CAP3=0100000300200000000000000000000000000000e8030000
XATTRS="bin/busybox security.capability $CAP2
etc/ping security.capability $CAP3
etc/ping user.origin 7069
etc/conf user.vendor.note 68656c6c6f00ff
etc/conf security.ima 0403020401
etc user.dir 6464
bin/sh trusted.link 01020304
bin/sh security.sym 73796d
/ user.root 72"
# and 40 files with 4000 bytes of user.big each, more than a LEB: the
# journal takes two
BIG=$(for i in $(seq 10 49); do
	printf 'many/f%s user.big %s\n' $i "$(python3 -c "print('$i' * 4000)")"
done)
# shellcheck disable=SC2086
python3 "$SRCDIR/tests/cli/ubifs-xattr.py" data.ubifs $XATTRS $BIG ||
	{ echo "ubifs-xattr.py failed" >&2; exit 1; }
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

expect_exit 0 "fwsign sign nand.ubi (one command, --ima)" "$FWSIGN" sign nand.ubi \
	-o nand.signed.ubi --key vendor.key --cert vendor.crt --ima
# what the guest must read: the volume signed alone, as fw_list reads it
expect_exit 0 "fwsign sign data.ubifs alone" "$FWSIGN" sign data.ubifs \
	-o data.signed --key vendor.key --cert vendor.crt --ima
"$FW_LIST" data.signed | python3 -c '
import sys
rows = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in sys.stdin}
for p in [".", "bin", "bin/busybox", "bin/sh", "etc", "etc/conf", "etc/ping", "late.gz"] + \
         ["many/f%d" % i for i in range(10, 50)]:
    x = rows[p][7]
    for nv in sorted(x.split(",")) if x != "-" else []:
        n, v = nv.split("=", 1)
        if len(v) > 2048:
            h = 0xcbf29ce484222325
            for c in bytes.fromhex(v):
                h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
            v = "fnv1a64:%016x" % h
        print("/mnt" + ("" if p == "." else "/" + p), n, v)
' >want.txt
# each xattr given, as the guest prints it
sed 's#^/ #/mnt #; s#^\([^/]\)#/mnt/\1#' <<<"$XATTRS" | sort >given.txt
sort want.txt >want.sorted
check "the signed volume keeps the xattrs given (fw_list)" \
	sh -c '[ -z "$(comm -23 given.txt want.sorted)" ] && [ "$(wc -l <given.txt)" = 9 ]'
check "--ima: busybox on UBIFS has a security.ima" grep -q "^/mnt/bin/busybox security.ima 03" want.txt
check "the 40 big xattrs kept" [ "$(grep -c "^/mnt/many/f[0-9]* user.big fnv1a64:" want.txt)" = 40 ]
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
	timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -m 256M \
		-display none -monitor none -serial "file:$1.log" -no-reboot \
		-kernel bzImage.vendor \
		-append "console=ttyS0 panic=-1 no_timer_check loglevel=6 block2mtd.block2mtd=/dev/vda,128KiB,ubi-flash ubi.mtd=ubi-flash ubi.block=0,rootfs root=/dev/ubiblock0_0 rootfstype=squashfs ro init=/etc/rc" \
		-drive "file=$2,if=virtio,format=raw,snapshot=on" \
		</dev/null >"$1.qemu" 2>&1
	tr -d '\r' <"$1.log" >"$1.txt"
}
boot signed nand.signed.ubi
# the xattrs the guest read, per mount, against want.txt
xattrs_read() {	# xattrs_read LOG TAG
	grep "^UBI-XATTR $2 " "$1" | cut -d' ' -f3-
}
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
if [ "$T_FAIL" -gt 0 ]; then
	echo "--- signed boot" >&2; tail -n 40 signed.txt >&2
	echo "--- unsigned boot" >&2; tail -n 15 unsigned.txt >&2
fi
done_tests
