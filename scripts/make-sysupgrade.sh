#!/bin/bash
# Builds an OpenWrt-style sysupgrade file as OpenWrt's own tools build it:
# a FIT (mkimage) holding KERNEL with crc32 and sha1 hashes, a GNU tar
# (sysupgrade-tar.sh's options) of sysupgrade-BOARD/{CONTROL,kernel,root},
# then an fwtool metadata trailer (the block fwtool -I appends).  Used by
# the demo and the tests; fwsign itself never needs it.
#
# Usage: scripts/make-sysupgrade.sh KERNEL ROOTFS OUT [BOARD]
#   KERNEL  a kernel image (bzImage, Image, ...)
#   ROOTFS  a root filesystem image (squashfs)
#   BOARD   the DT-style board name, default acme,router
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 KERNEL ROOTFS OUT [BOARD]" >&2; exit 2; }
kernel=$(realpath "$1") rootfs=$(realpath "$2") out=$3 board=${4:-acme,router}
dir=sysupgrade-${board//,/_}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/$dir"
cat >"$work/kernel.its" <<EOT
/dts-v1/;
/ {
	description = "$board kernel";
	#address-cells = <1>;
	images {
		kernel-1 {
			data = /incbin/("$kernel");
			type = "kernel"; arch = "x86_64"; os = "linux"; compression = "none";
			load = <0x100000>; entry = <0x100000>;
			hash-1 { algo = "crc32"; };
			hash-2 { algo = "sha1"; };
		};
	};
	configurations { default = "config-1"; config-1 { kernel = "kernel-1"; }; };
};
EOT
mkimage -f "$work/kernel.its" "$work/$dir/kernel" >/dev/null
cp "$rootfs" "$work/$dir/root"
echo "BOARD=$board" >"$work/$dir/CONTROL"
(cd "$work" && tar --sort=name --owner=0 --group=0 --numeric-owner \
	--mtime=@"${SOURCE_DATE_EPOCH:-1700000000}" -cf "$work/out.tar" "$dir")
python3 - "$work/out.tar" "$board" <<'PY'
import struct, sys, zlib
f, board = sys.argv[1], sys.argv[2]
img = open(f, "rb").read()
meta = struct.pack(">II", 0, 0) + (
    '{"metadata_version":"1.1","compat_version":"1.0",'
    '"supported_devices":["%s"]}' % board).encode()
crc = ~zlib.crc32(img + meta) & 0xffffffff
open(f, "wb").write(img + meta + struct.pack(">IIB3xI", 0x46577830, crc, 1,
                                             len(meta) + 16))
PY
mv "$work/out.tar" "$out"
