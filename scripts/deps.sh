#!/bin/bash
# Installs what fwsign needs to build and test on Debian 12 (as root, or
# through sudo).  Quick when everything is there already.
set -euo pipefail
PKGS=(
	# build
	build-essential cmake pkg-config
	time	# GNU time: scripts/test.sh's CPU seconds per phase
	libelf-dev libssl-dev liblzma-dev libzstd-dev zlib1g-dev liblz4-dev
	libsquashfs-dev libext2fs-dev libarchive-dev libfdt-dev libjson-c-dev
	liblzo2-dev
	# reference tools the tests compare against
	linux-kbuild-6.1 openssl kmod binutils file
	xz-utils zstd gzip lz4 python3 attr libcap2-bin faketime util-linux
	# image tools the format tests build images with and check them against
	mtd-utils fdisk gdisk dosfstools mtools
	squashfs-tools e2fsprogs libarchive-tools cpio
	# UBIFS: mkfs.ubifs rebuilds volumes (formats/ubifs_write.c)
	mtd-utils
	# pkcs11: a real software token
	softhsm2 opensc gnutls-bin libengine-pkcs11-openssl
	# the demo's sample firmware
	busybox-static
	# kernel tests: the test kernel (tests/e2e/build-kernel.sh), booting it,
	# uImages, kernel-like images for other targets (tests/cli/kernel.sh);
	# 6.12 (bookworm-security) for FWSIGN_KVERSION=6.12
	linux-source-6.1 linux-source-6.12 bc bison flex qemu-system-x86 u-boot-tools
	# vendor blobs: FIT trees (dtc, fdtget)
	device-tree-compiler
	# OpenWrt image signatures: usign keys and signatures are signify's
	# (tests/cli/blob-usign.sh makes and checks them with it)
	signify-openbsd
	# partitioned disk images: made and checked by sfdisk, sgdisk, jq,
	# mkfs.vfat/fsck.fat and mtools (tests/cli/disk.sh)
	fdisk gdisk jq dosfstools mtools
	# attestations: an independent DSSE/in-toto check (tests/cli/attest.sh)
	python3-securesystemslib
	# IMA mode: evmctl makes the reference security.ima values
	# (tests/cli/ima.sh, tests/e2e/ima-boot.sh)
	ima-evm-utils
	# dm-verity: veritysetup writes and checks the reference trees
	# (tests/cli/verity.sh)
	cryptsetup-bin
	clang lld llvm
	# ARM32 zImage: the test kernel cross-built for ARCH=arm
	# (tests/e2e/build-kernel-arm.sh) and booted in qemu -M virt
	gcc-arm-linux-gnueabihf qemu-system-arm lzop
)
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
