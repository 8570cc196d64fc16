#!/bin/bash
# Builds the test kernel once per machine and prints the path of the build
# tree on stdout (progress goes to stderr).
#
# The tree is Debian's linux-source-6.1 with the patches of kernel/series
# applied (FWSIGN_KVERSION=6.12: linux-source-6.12 with kernel/6.12/series),
# configured with `make tinyconfig` plus kernel/test.config, and
# built with `make all`: it holds arch/x86/boot/bzImage, vmlinux,
# System.map, Module.symvers and is ready for out-of-tree test modules
# (`make -C TREE M=DIR modules`).
#
# It is cached in ${FWSIGN_KCACHE:-/var/cache/fwsign-kernel}/HASH (6.12:
# .../6.12/HASH), HASH covering this script, the kernel version, the
# series, every patch in it, test.config, the linux-source package version
# and the compiler: anything else changing does not rebuild.  The build runs under a lock, so concurrent callers
# build once, and in its final directory: a tree is complete when its
# .fwsign-built marker exists (written last; a directory without it is an
# interrupted build, removed by the next run).  Not in a temporary
# directory renamed afterwards: objtool's build records absolute paths,
# and a moved tree rebuilds everything (15 minutes) on its next full make.
#
# The cached tree is shared: copy vmlinux/bzImage out before modifying
# them, and never run a make that links in it (a relinked vmlinux would
# silently lose an injected certificate and break every other user).
#
# Options:
#   --hash     print the cache key and exit
#   --cached   print the path if the tree is built, else exit 1 (no build)
#   --prune    remove the cached trees of other hashes (1.6 GB each) of
#              the same kernel version that nobody is building, then build
#              or print as usual
# Environment: FWSIGN_KVERSION (6.1, the default, or 6.12), FWSIGN_KVARIANT
# (NAME: kernel/NAME/series and kernel/NAME/test.config instead, e.g. a
# stock kernel for IMA or dm-verity + IPE), FWSIGN_KCACHE
# (cache root), FWSIGN_KJOBS (make -j, default nproc), FWSIGN_KSRC (source
# tarball, default /usr/src/linux-source-VERSION.tar.xz).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
kver=${FWSIGN_KVERSION:-6.1}
# 6.1 keeps the places it always had, so that its cached trees and the
# paths other scripts name stay valid; other versions live in a
# subdirectory of both.
case "$kver" in
6.1)
	kdir=$srcdir/kernel
	cache=${FWSIGN_KCACHE:-/var/cache/fwsign-kernel}
	;;
6.12)
	kdir=$srcdir/kernel/$kver
	cache=${FWSIGN_KCACHE:-/var/cache/fwsign-kernel}/$kver
	;;
*)
	echo "build-kernel: FWSIGN_KVERSION=$kver: only 6.1 and 6.12" >&2
	exit 1
	;;
esac
config=$srcdir/kernel/test.config
# A variant: kernel/NAME holds its own series (may name no patch: a stock
# kernel) and test.config, for FWSIGN_KVERSION's source; cached apart.
if [ -n "${FWSIGN_KVARIANT:-}" ]; then
	case "$FWSIGN_KVARIANT" in
	*/* | .* | "") die_early=1 ;;
	esac
	if [ -n "${die_early:-}" ] || [ ! -d "$srcdir/kernel/$FWSIGN_KVARIANT" ]; then
		echo "build-kernel: FWSIGN_KVARIANT=$FWSIGN_KVARIANT: no kernel/$FWSIGN_KVARIANT" >&2
		exit 1
	fi
	kdir=$srcdir/kernel/$FWSIGN_KVARIANT
	config=$kdir/test.config
	cache=${FWSIGN_KCACHE:-/var/cache/fwsign-kernel}/$FWSIGN_KVARIANT
fi
tarball=${FWSIGN_KSRC:-/usr/src/linux-source-$kver.tar.xz}
jobs=${FWSIGN_KJOBS:-$(nproc)}

die() {
	echo "build-kernel: $*" >&2
	exit 1
}
log() {
	echo "build-kernel: $*" >&2
}

[ -r "$tarball" ] || die "$tarball missing (apt-get install linux-source-$kver)"
[ -r "$kdir/series" ] || die "$kdir/series missing"
[ -r "$config" ] || die "$config missing"

# The series: one patch file name per line, '#' comments and blank lines
# ignored.
patches=()
while read -r line; do
	line=${line%%#*}
	line=$(echo "$line" | tr -d '[:space:]')
	[ -n "$line" ] || continue
	[ -r "$kdir/$line" ] || die "$kdir/series names $line, which is missing"
	patches+=("$line")
done <"$kdir/series"

srcver=$(dpkg-query -W -f='${Version}' "linux-source-$kver" 2>/dev/null ||
	 stat -c '%s %Y' "$tarball")
ccver=$(${CC:-gcc} --version 2>/dev/null | head -n1 || true)

# Names and contents both count: renaming or reordering a patch rebuilds.
hash=$(
	{
		echo "script"; cat "${BASH_SOURCE[0]}"
		echo "kernel $kver"
		echo "series"; cat "$kdir/series"
		for p in "${patches[@]}"; do
			echo "patch $p"; cat "$kdir/$p"
		done
		echo "config"; cat "$config"
		echo "source $srcver"
		echo "cc $ccver"
	} | sha256sum | cut -c1-16
)

case "${1:-}" in
--hash)
	echo "$hash"
	exit 0
	;;
--cached)
	[ -f "$cache/$hash/.fwsign-built" ] || exit 1
	echo "$cache/$hash"
	exit 0
	;;
--prune)
	for d in "$cache"/*; do
		n=${d##*/}
		[[ $n =~ ^[0-9a-f]{16}$ ]] && [ "$n" != "$hash" ] || continue
		(
			exec 8>"$cache/.lock-$n"
			flock -n 8 || exit 0
			log "pruning $d"
			rm -rf "$d" "$cache/.lock-$n"
		)
	done
	;;
"") ;;
*) die "unknown option $1" ;;
esac

out=$cache/$hash
if [ -f "$out/.fwsign-built" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock-$hash"
if ! flock -n 9; then
	log "waiting for another build of $hash"
	flock 9
fi
# Someone else may have finished while we waited.
if [ -f "$out/.fwsign-built" ]; then
	echo "$out"
	exit 0
fi

# Leftovers of an interrupted build of this hash; we hold its lock.
rm -rf "$cache/.build-$hash".* "$out"

tmp=$out
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
buildlog=$cache/.build-$hash.log

start=$(date +%s)
log "building test kernel $hash in $tmp (-j$jobs, log $buildlog)"
tar -xf "$tarball" -C "$tmp" --strip-components=1
tree=$tmp

for p in "${patches[@]}"; do
	log "applying $p"
	patch -d "$tree" -p1 --batch --forward -s <"$kdir/$p" >&2 ||
		die "$p does not apply"
done

# Fragment line -> scripts/config arguments.
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
		m) args+=(--module "$name") ;;
		n) args+=(--disable "$name") ;;
		\"*\") val=${val#\"}; args+=(--set-str "$name" "${val%\"}") ;;
		*) args+=(--set-val "$name" "$val") ;;
		esac
	done <"$config"
	"$tree/scripts/config" --file "$tree/.config" "${args[@]}"
}

# Every line of the fragment must hold after olddefconfig: an option
# silently dropped for an unmet dependency would make tests pass or fail
# for the wrong reason.
check_config() {
	local line name val bad=0
	while IFS= read -r line; do
		if [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			name=${BASH_REMATCH[1]}
			if grep -q "^$name=" "$tree/.config"; then
				log "config: $name should be off but is $(grep "^$name=" "$tree/.config")"
				bad=1
			fi
			continue
		fi
		[[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]] || continue
		name=${BASH_REMATCH[1]}
		val=${BASH_REMATCH[2]}
		if [ "$val" = n ]; then
			if grep -q "^$name=" "$tree/.config"; then
				log "config: $name should be off"
				bad=1
			fi
		elif ! grep -qxF "$line" "$tree/.config"; then
			log "config: wanted $line, got: $(grep -E "^$name=|^# $name is not set" "$tree/.config" || echo 'absent (dependency missing?)')"
			bad=1
		fi
	done <"$config"
	return $bad
}

make -C "$tree" -s tinyconfig >>"$buildlog" 2>&1 || die "make tinyconfig failed (see $buildlog)"
# Two rounds: an option whose dependency comes later in the fragment only
# sticks once that dependency is set.
for round in 1 2; do
	apply_config
	make -C "$tree" -s olddefconfig >>"$buildlog" 2>&1 ||
		die "make olddefconfig failed (see $buildlog)"
done
check_config || die "$config does not hold after olddefconfig (see above)"

log "compiling (about 6-7 minutes on 2 idle cores)"
if ! make -C "$tree" -j"$jobs" all >>"$buildlog" 2>&1; then
	tail -n 40 "$buildlog" >&2
	cp "$buildlog" "$cache/failed-$hash.log"
	die "kernel build failed, log in $cache/failed-$hash.log"
fi
for f in arch/x86/boot/bzImage vmlinux System.map Module.symvers; do
	[ -s "$tree/$f" ] || die "build produced no $f"
done

end=$(date +%s)
mv "$buildlog" "$tree/.fwsign-build.log"
trap - EXIT
# last: from here on the tree is complete
echo "$hash built in $((end - start)) s on $(date -u +%FT%TZ)" >"$tree/.fwsign-built"
log "built in $((end - start)) s: $out"
echo "$out"
