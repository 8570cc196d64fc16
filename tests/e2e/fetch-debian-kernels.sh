#!/bin/bash
# Fetches Debian's real kernels (amd64 bzImage, arm64 Image.gz-style
# vmlinuz, on request armhf: linux-image-*-armmp, an ARM zImage) with
# their System.map, for the inject-cert tests: real kernels
# without an extra-certificate slot, which must be refused cleanly.
#
# Usage: tests/e2e/fetch-debian-kernels.sh [ARCH...]   (default: amd64 arm64)
# Prints the cache directory; each ARCH/ under it holds vmlinuz,
# System.map, config and RELEASE.  Cached in
# ${FWSIGN_KCACHE:-/var/cache/fwsign-kernel}/debian: downloads once.
#
# Packages come through apt-get download with a private apt state per
# architecture (the system's sources and keyrings, its own lists), so the
# system's dpkg architectures and lists are left alone.  The release is the
# one tests/fixtures/fetch.sh recorded when it is there, else the newest.
set -euo pipefail

cache=${FWSIGN_KCACHE:-/var/cache/fwsign-kernel}/debian
fixtures=${FIXTURES:-${FWSIGN_FIXTURES:-/var/cache/fwsign-fixtures}}
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)

die() { echo "fetch-debian-kernels: $*" >&2; exit 1; }

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

fetch() {
	local arch=$1 work out rel pkg deb flavour=$1
	[ "$arch" != armhf ] || flavour=armmp	# its vmlinuz is a zImage
	work=$cache/.work-$arch
	out=$cache/$arch
	[ -f "$out/.done" ] && return 0
	rm -rf "$work" "$out"
	mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs"
	: >"$work/status"
	cat >"$work/apt.conf" <<EOF
Dir::State "$work";
Dir::State::Lists "$work/lists";
Dir::State::status "$work/status";
Dir::Cache "$work";
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT::Architecture "$arch";
#clear APT::Architectures;
APT::Architectures { "$arch"; };
Acquire::Languages "none";
APT::Sandbox::User "root";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
	apt-get -c "$work/apt.conf" -q update >"$work/update.log" 2>&1 ||
		echo "fetch-debian-kernels: $arch: apt-get update had errors, going on" >&2
	rel=$(sed -n 's/^kernel-release: //p' "$fixtures/$arch/MANIFEST" 2>/dev/null || true)
	if [ -n "$rel" ] && apt-cache -c "$work/apt.conf" show "linux-image-$rel" >/dev/null 2>&1; then
		pkg=linux-image-$rel
	else
		pkg=$(apt-cache -c "$work/apt.conf" pkgnames linux-image-6.1.0- |
			grep -E "^linux-image-6\.1\.0-[0-9]+-$flavour\$" | sort -V | tail -n 1)
	fi
	[ -n "$pkg" ] || die "$arch: no linux-image package found"
	(cd "$work/debs" && apt-get -c "$work/apt.conf" -q download "$pkg") \
		>"$work/download.log" 2>&1 || { cat "$work/download.log" >&2; die "$arch: download failed"; }
	deb=$(ls "$work"/debs/*.deb)
	mkdir -p "$work/x"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/x" ./boot
	rel=${pkg#linux-image-}
	mkdir -p "$out"
	cp "$work/x/boot/vmlinuz-$rel" "$out/vmlinuz"
	cp "$work/x/boot/System.map-$rel" "$out/System.map"
	cp "$work/x/boot/config-$rel" "$out/config"
	echo "$rel" >"$out/RELEASE"
	touch "$out/.done"
	rm -rf "$work"
}

for a in "${arches[@]}"; do
	fetch "$a"
done
echo "$cache"
