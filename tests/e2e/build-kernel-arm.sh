#!/bin/bash
# Builds the ARM32 test kernel once per machine and prints the directory
# holding it on stdout (progress goes to stderr):
#
#   zImage-gzip zImage-xz zImage-lzma zImage-lz4 zImage-lzo
#       the same Image in the ARM decompressor, one codec each
#   piggy-gzip ...  the compressed Image each holds (kbuild's piggy_data)
#   Image vmlinux System.map .config
#
# Debian's linux-source-6.1 with kernel/0001 only (the extra certificate
# slot filled with incompressible bytes), `make ARCH=arm tinyconfig` plus
# kernel/arm/test.config, cross-compiled with gcc-arm-linux-gnueabihf.
# The zImage is built with gzip; each other codec is CONFIG_KERNEL_<X> and
# `make zImage` again, which rebuilds only the decompressor (fixdep: no
# object but it depends on the codec choice).
#
# Cached in ${FWSIGN_KCACHE:-/var/cache/fwsign-kernel}/arm/HASH (HASH:
# this script, the patch, the fragment, the source package version, the
# compiler); the build tree is removed once the files above are copied
# out.  Compiles under flock /tmp/fwsign-kbuild.lock (one kernel build at
# a time on this machine, x86 ones included); unpacking and configuring
# the tree happen before, under a lock of this hash only.
#
# Options: --hash (print the cache key), --cached (print the directory if
# built, else exit 1).  Environment: FWSIGN_KCACHE, FWSIGN_KJOBS (make -j,
# default nproc), FWSIGN_KSRC (source tarball).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
patchf=$srcdir/kernel/0001-certs-fill-extra-certificate-slot-with-incompressible-bytes.patch
config=$srcdir/kernel/arm/test.config
cache=${FWSIGN_KCACHE:-/var/cache/fwsign-kernel}/arm
tarball=${FWSIGN_KSRC:-/usr/src/linux-source-6.1.tar.xz}
jobs=${FWSIGN_KJOBS:-$(nproc)}
cross=arm-linux-gnueabihf-
codecs="gzip xz lzma lz4 lzo"

die() {
	echo "build-kernel-arm: $*" >&2
	exit 1
}
log() {
	echo "build-kernel-arm: $*" >&2
}

[ -r "$tarball" ] || die "$tarball missing (apt-get install linux-source-6.1)"
command -v ${cross}gcc >/dev/null || die "${cross}gcc missing (scripts/deps.sh)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null ||
	 stat -c '%s %Y' "$tarball")
ccver=$(${cross}gcc --version | head -n1)
hash=$(
	{
		echo "script"; cat "${BASH_SOURCE[0]}"
		echo "patch"; cat "$patchf"
		echo "config"; cat "$config"
		echo "source $srcver"
		echo "cc $ccver"
	} | sha256sum | cut -c1-16
)
out=$cache/$hash
case "${1:-}" in
--hash) echo "$hash"; exit 0 ;;
--cached) [ -f "$out/.fwsign-built" ] || exit 1; echo "$out"; exit 0 ;;
"") ;;
*) die "unknown option $1" ;;
esac
if [ -f "$out/.fwsign-built" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
# one build of this hash at a time (our own lock); the tree is unpacked
# and configured under it, compiled under the machine's kbuild lock too
exec 9>"$cache/.lock-$hash"
flock 9
if [ -f "$out/.fwsign-built" ]; then
	echo "$out"
	exit 0
fi

tree=$cache/.build-$hash
buildlog=$cache/.build-$hash.log
rm -rf "$tree" "$out"
mkdir -p "$tree"
trap 'rm -rf "$tree"' EXIT
: >"$buildlog"
start=$(date +%s)
log "building the ARM32 test kernel $hash in $tree (-j$jobs, log $buildlog)"
tar -xf "$tarball" -C "$tree" --strip-components=1
patch -d "$tree" -p1 --batch --forward -s <"$patchf" >&2 || die "kernel/0001 does not apply"

mk() {
	make -C "$tree" ARCH=arm CROSS_COMPILE=$cross "$@" >>"$buildlog" 2>&1
}

# Fragment line -> scripts/config arguments (as build-kernel.sh).
apply_config() {
	local line name val args=()
	while IFS= read -r line; do
		if [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			args+=(--disable "${BASH_REMATCH[1]}")
			continue
		fi
		[[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]] || continue
		name=${BASH_REMATCH[1]}
		val=${BASH_REMATCH[2]}
		case "$val" in
		y) args+=(--enable "$name") ;;
		n) args+=(--disable "$name") ;;
		\"*\") val=${val#\"}; args+=(--set-str "$name" "${val%\"}") ;;
		*) args+=(--set-val "$name" "$val") ;;
		esac
	done <"$1"
	"$tree/scripts/config" --file "$tree/.config" "${args[@]}"
}
check_config() {
	local line bad=0
	while IFS= read -r line; do
		[[ $line =~ ^CONFIG_[A-Za-z0-9_]+= ]] || continue
		if ! grep -qxF "$line" "$tree/.config"; then
			log "config: wanted $line, got: $(grep -E "^${line%%=*}=" "$tree/.config" || echo absent)"
			bad=1
		fi
	done <"$config"
	return $bad
}

mk -s tinyconfig || die "make tinyconfig failed (see $buildlog)"
for round in 1 2; do
	apply_config "$config"
	mk -s olddefconfig || die "make olddefconfig failed (see $buildlog)"
done
check_config || die "$config does not hold after olddefconfig (see above)"

exec 8>/tmp/fwsign-kbuild.lock
if ! flock -n 8; then
	log "waiting for /tmp/fwsign-kbuild.lock (another kernel build)"
	flock 8
fi
log "compiling (tinyconfig ARM: a few minutes on 2 idle cores)"
if ! mk -j"$jobs" zImage; then
	tail -n 40 "$buildlog" >&2
	cp "$buildlog" "$cache/failed-$hash.log"
	die "kernel build failed, log in $cache/failed-$hash.log"
fi
stage=$tree/.fwsign-out
mkdir -p "$stage"
cp "$tree/vmlinux" "$tree/System.map" "$tree/.config" "$tree/arch/arm/boot/Image" "$stage/"
for c in $codecs; do
	C=$(echo "$c" | tr a-z A-Z)
	if [ "$c" != gzip ]; then
		log "zImage with $c"
		{
			for o in $codecs; do
				O=$(echo "$o" | tr a-z A-Z)
				[ "$o" = "$c" ] || printf '# CONFIG_KERNEL_%s is not set\n' "$O"
			done
			printf 'CONFIG_KERNEL_%s=y\n' "$C"
		} >"$tree/.fwsign-codec"
		apply_config "$tree/.fwsign-codec"
		mk -s olddefconfig || die "olddefconfig for $c failed"
		grep -qx "CONFIG_KERNEL_$C=y" "$tree/.config" || die "CONFIG_KERNEL_$C did not stick"
		mk -j"$jobs" zImage || die "zImage with $c failed (see $buildlog)"
		cmp -s "$tree/vmlinux" "$stage/vmlinux" || log "note: vmlinux relinked for $c"
	fi
	cp "$tree/arch/arm/boot/zImage" "$stage/zImage-$c"
	cp "$tree/arch/arm/boot/compressed/piggy_data" "$stage/piggy-$c"
done

end=$(date +%s)
mv "$stage" "$out"
mv "$buildlog" "$out/build.log"
echo "$hash built in $((end - start)) s on $(date -u +%FT%TZ)" >"$out/.fwsign-built"
rm -rf "$tree"
trap - EXIT
log "built in $((end - start)) s: $out"
echo "$out"
