# Shared by the boot tests of tests/e2e: sourced, not run (build-kernel.sh
# and CMake leave lib*.sh out of the tests).  Sources tests/cli/lib.sh.
set -u
E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SRCDIR:=$(cd "$E2E/../.." && pwd)}"
: "${FWSIGN:=$SRCDIR/build/fwsign}"
export SRCDIR FWSIGN
# shellcheck source=../cli/lib.sh
. "$SRCDIR/tests/cli/lib.sh"

# need_tools TOOL...: each on the PATH, else exit 1 naming it
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null ||
			{ echo "missing $t (scripts/deps.sh)" >&2; exit 1; }
	done
}

# static_busybox: BUSYBOX, a statically linked busybox (the fixtures', or
# Debian's busybox-static), else exit 1
static_busybox() {
	BUSYBOX=$FIXTURES/amd64/bin/busybox
	[ -x "$BUSYBOX" ] || BUSYBOX=/bin/busybox
	file -L "$BUSYBOX" | grep -q "statically linked" ||
		{ echo "need a static busybox" >&2; exit 1; }
}

# test_kernel [VAR=VALUE...]: KTREE, the test kernel's build tree
# (tests/e2e/build-kernel.sh, with the environment given), else exit 1
test_kernel() {
	KTREE=$(env "$@" "$E2E/build-kernel.sh") ||
		{ echo "kernel build failed" >&2; exit 1; }
}

# vendor_key CN: vendor.{key,crt,der} in the current directory, RSA 2048,
# the subject CN (a boot's console names it: "Loaded X.509 cert 'CN")
vendor_key() {
	CN=$1
	"$FWSIGN" keygen -o vendor --subject "$CN" --rsa 2048 >/dev/null
}

# busybox_root DIR [APPLET...]: a root with bin sbin etc proc sys dev
# tmp, BUSYBOX as bin/busybox and the applets init uses (sh mount cat
# echo gzip chmod sync poweroff grep, and those given)
busybox_root() {
	local r=$1 a
	shift
	mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,tmp}
	cp "$BUSYBOX" "$r/bin/busybox"
	for a in sh mount cat echo gzip chmod sync poweroff grep "$@"; do
		ln -s busybox "$r/bin/$a"
	done
}

# qemu_x86 NAME MEMORY APPEND QEMU-OPTION...: boots the x86_64 guest
# under TCG for QEMU_TIMEOUT seconds at most, the serial console in
# NAME.log and, without its CRs, in NAME.txt
qemu_x86() {
	local name=$1 mem=$2 append=$3
	shift 3
	timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -m "$mem" \
		-display none -monitor none -serial "file:$name.log" -no-reboot \
		-append "console=ttyS0 panic=-1 no_timer_check loglevel=6 $append" \
		"$@" </dev/null >"$name.qemu" 2>&1
	tr -d '\r' <"$name.log" >"$name.txt"
}

# --- the UBIFS volume of ubi-boot.sh and nand-boot.sh --------------------
# ubifs_tree DIR: its files: busybox (signed code), a symlink to it, a
# script, a config file, busybox gzip'ed (init unpacks and runs it: code
# that arrived unsigned) and 40 empty files many/f10..f49
ubifs_tree() {
	local d=$1 i
	mkdir -p "$d/bin" "$d/etc" "$d/many"
	for i in $(seq 10 49); do : >"$d/many/f$i"; done
	cp "$BUSYBOX" "$d/bin/busybox"
	ln -s busybox "$d/bin/sh"
	printf 'conf\n' >"$d/etc/conf"
	printf '#!/bin/sh\n' >"$d/etc/ping"
	gzip -9nc "$BUSYBOX" >"$d/late.gz"
}
# ubifs_xattrs IMAGE: the xattrs mkfs.ubifs cannot write, added to
# IMAGE (a mkfs.ubifs output of ubifs_tree) by tests/cli/ubifs-xattr.py:
# security.capability v2 and v3 (setcap cap_net_raw+ep; v3 with root uid
# 1000, which the kernel gives back as it is), user.*, trusted.* and
# security.* on files, a directory, a symlink and the root; and 40 files
# with 4000 bytes of user.big each, more than a LEB: a journal of two
# LEBs.  The 9 small ones are in XATTRS ("PATH NAME HEX" lines).
ubifs_xattrs() {
	local cap2=0100000200200000000000000000000000000000
	local cap3=0100000300200000000000000000000000000000e8030000 big
	XATTRS="bin/busybox security.capability $cap2
etc/ping security.capability $cap3
etc/ping user.origin 7069
etc/conf user.vendor.note 68656c6c6f00ff
etc/conf security.ima 0403020401
etc user.dir 6464
bin/sh trusted.link 01020304
bin/sh security.sym 73796d
/ user.root 72"
	big=$(python3 -c '
for i in range(10, 50):
    print("many/f%d user.big %s" % (i, str(i) * 4000))')
	# shellcheck disable=SC2086
	python3 "$SRCDIR/tests/cli/ubifs-xattr.py" "$1" $XATTRS $big ||
		{ echo "ubifs-xattr.py failed" >&2; exit 1; }
}
# xattr_rows VOLUME: its xattrs as the guest's progs/xattrs.c prints
# them ("/mnt/PATH NAME HEX", a value over 2048 hex digits as its FNV-1a
# hash), read by fw_list, for the paths the guest's init lists
xattr_rows() {
	"$FW_LIST" "$1" | python3 -c '
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
'
}
# xattrs_kept WANT: checks that WANT (xattr_rows of the signed volume)
# holds the 9 xattrs of XATTRS and the 40 big ones
xattrs_kept() {
	sed 's#^/ #/mnt #; s#^\([^/]\)#/mnt/\1#' <<<"$XATTRS" | sort >given.txt
	sort "$1" >want.sorted
	check "the signed volume keeps the xattrs given (fw_list)" \
		sh -c '[ -z "$(comm -23 given.txt want.sorted)" ] && [ "$(wc -l <given.txt)" = 9 ]'
	check "the 40 big xattrs kept" \
		[ "$(grep -c "^/mnt/many/f[0-9]* user.big fnv1a64:" "$1")" = 40 ]
}
# xattrs_read LOG TAG: the xattrs the guest printed for one mount (TAG)
xattrs_read() {
	grep "^UBI-XATTR $2 " "$1" | cut -d' ' -f3-
}
# ubi_ini SQUASHFS SIZE UBIFS SIZE: ubi.ini for ubinize, two dynamic
# volumes: 0 "rootfs" (SQUASHFS), 1 "data" (UBIFS, autoresize)
ubi_ini() {
	cat >ubi.ini <<INI
[rootfs]
mode=ubi
image=$1
vol_id=0
vol_type=dynamic
vol_name=rootfs
vol_size=$2
[data]
mode=ubi
image=$3
vol_id=1
vol_type=dynamic
vol_name=data
vol_size=$4
vol_flags=autoresize
INI
}

# boot_tails NAME:LINES...: when a check failed, the last LINES of each
# boot's console (NAME.txt), on stderr
boot_tails() {
	local b
	[ "$T_FAIL" -gt 0 ] || return 0
	for b in "$@"; do
		echo "--- ${b%%:*} boot" >&2
		tail -n "${b#*:}" "${b%%:*}.txt" >&2
	done
}
