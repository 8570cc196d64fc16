#!/bin/bash
# Everything but the signed bytes survives: modes (setuid), owners, times,
# xattrs (security.capability), hard links, symlinks (never followed, even
# out of the tree), devices, fifos; scripts and data byte-identical.
# As root and as an unprivileged user, copying and in place.
. "$(dirname "$0")/lib.sh"
need_fixtures
key vendor --rsa 2048
K=$WORK/keys/vendor
A=$FIXTURES/amd64

mk_tree() {	# mk_tree DIR [noroot]
	local t=$1
	mkdir -p "$t/bin" "$t/lib/modules" "$t/etc" "$t/dev" "$t/odd dir"
	cp "$A/bin/busybox" "$t/bin/busybox"
	cp "$A/lib/libc.so.6" "$A/lib/libm.so.6" "$t/lib/"
	cp "$(find "$A/modules" -name '*.ko' | sort | head -1)" "$t/lib/modules/m.ko"
	cp "$A/bin/busybox" "$t/bin/ping"
	printf '#!/bin/sh\necho hello\n' >"$t/bin/hello.sh"
	printf 'root:x:0:0::/root:/bin/sh\n' >"$t/etc/passwd"
	cp "$A/lib/libc.so.6" "$t/odd dir/lib with space.so"
	cp "$A/bin/busybox" "$t/odd dir/$(printf 'b\xc3\xa9')"
	ln "$t/bin/busybox" "$t/bin/sh"		# hard link
	ln -s busybox "$t/bin/ls"
	ln -s /etc/shadow "$t/etc/evil"		# points out of the tree
	ln -s ../../../../../../usr/bin/env "$t/bin/escape"
	ln -s libc.so.6 "$t/lib/libc.so"
	mkfifo "$t/dev/fifo"
	chmod 4755 "$t/bin/busybox"
	chmod 2755 "$t/bin/ping"
	chmod 0750 "$t/etc"
	setfattr -n user.vendor -v build-42 "$t/lib/libm.so.6"
	setfattr -n user.vendor -v tools "$t/bin/hello.sh"
	if [ -z "${2:-}" ]; then
		setcap cap_net_raw+ep "$t/bin/ping"
		chown 1234:5678 "$t/lib/libm.so.6"
		chown -h 42:42 "$t/bin/ls"
		mknod "$t/dev/null" c 1 3
		mknod "$t/dev/sda" b 8 0
		chmod 2755 "$t/bin/ping"	# setcap keeps it, be explicit
		setfattr -n trusted.overlay.opaque -v y "$t/etc"
	fi
	touch -h -d '2001-02-03 04:05:06.789' "$t/bin/ls"
	find "$t" -depth -exec touch -h -d '2010-01-01 00:00:00.123456789' {} +
	touch -d '1999-12-31 23:59:59' "$t/lib/libc.so.6"
}

check_tree() {	# check_tree IN OUT what
	local in=$1 out=$2 what=$3
	tree_meta "$in" >"$WORK/meta-in"
	tree_meta "$out" >"$WORK/meta-out"
	check "$what: metadata identical" diff -u "$WORK/meta-in" "$WORK/meta-out"
	check "$what: script unchanged" cmp -s "$in/bin/hello.sh" "$out/bin/hello.sh"
	check "$what: data unchanged" cmp -s "$in/etc/passwd" "$out/etc/passwd"
	check "$what: hard link kept" [ "$(stat -c %i "$out/bin/busybox")" = "$(stat -c %i "$out/bin/sh")" ]
	check "$what: symlink kept" [ "$(readlink "$out/etc/evil")" = /etc/shadow ]
	check "$what: escape symlink kept" [ "$(readlink "$out/bin/escape")" = ../../../../../../usr/bin/env ]
	check "$what: fifo" [ -p "$out/dev/fifo" ]
	for f in bin/busybox bin/ping lib/libc.so.6 lib/libm.so.6 lib/modules/m.ko \
		"odd dir/lib with space.so" "odd dir/$(printf 'b\xc3\xa9')"; do
		strip_sig "$out/$f" "$WORK/c"
		strip_sig "$in/$f" "$WORK/o"	# the module arrives signed by Debian
		check "$what: $f is its original bytes plus a trailer" cmp -s "$WORK/o" "$WORK/c"
		check "$what: $f has a new trailer" [ "$(sig_len "$out/$f")" -gt 0 ]
		check "$what: $f changed" sh -c '! cmp -s "$1" "$2"' _ "$in/$f" "$out/$f"
	done
	expect_exit 0 "$what: verify" "$FWSIGN" verify "$out" --cert $K.crt
}

# As root, into a copy.
mk_tree "$WORK/in"
sha_before=$(cd "$WORK/in" && find . -type f -exec sha256sum {} + | sort; tree_meta .)
before_shadow=$(stat -c '%s %Y' /etc/shadow)
expect_exit 0 "sign as root" "$FWSIGN" sign "$WORK/in" -o "$WORK/out" --key $K.key --cert $K.crt
check_tree "$WORK/in" "$WORK/out" root
check "capability kept" sh -c "getcap '$WORK/out/bin/ping' | grep -q cap_net_raw"
check "setuid kept" [ -u "$WORK/out/bin/busybox" ]
check "setgid kept" [ -g "$WORK/out/bin/ping" ]
check "device kept" [ "$(stat -c '%t:%T' "$WORK/out/dev/null")" = 1:3 ]
check "owner kept" [ "$(stat -c %u:%g "$WORK/out/lib/libm.so.6")" = 1234:5678 ]
check "input untouched" [ "$sha_before" = "$(cd "$WORK/in" && find . -type f -exec sha256sum {} + | sort; tree_meta .)" ]
check "symlink target untouched" [ "$before_shadow" = "$(stat -c '%s %Y' /etc/shadow)" ]
check "no temporary left" [ -z "$(ls -A "$WORK" | grep fwsign)" ]
grep -q 'hardlink_of' <("$FWSIGN" sign "$WORK/in" -o "$WORK/out-json" --key $K.key --cert $K.crt --json) &&
	pass || fail "json names the hard link"
check "json output identical tree" same_files "$WORK/out" "$WORK/out-json"

# In place: the same result, hard links still one inode.
cp -a "$WORK/in" "$WORK/inplace"
ino_before=$(stat -c %i "$WORK/inplace/bin/busybox")
expect_exit 0 "sign in place" "$FWSIGN" sign "$WORK/inplace" --in-place --key $K.key --cert $K.crt
check_tree "$WORK/in" "$WORK/inplace" in-place
check "in place: content equals the copy" same_files "$WORK/out" "$WORK/inplace"
check "in place: no temporaries" [ -z "$(find "$WORK/inplace" -name '*.fwsign-*')" ]
check "in place: re-signing is stable" sh -c "'$FWSIGN' sign '$WORK/inplace' --in-place --key $K.key --cert $K.crt >/dev/null" && check "re-signed in place equals the copy" same_files "$WORK/out" "$WORK/inplace"
[ "$ino_before" != "" ] && pass

# As nobody: no devices, no foreign owners, but modes, xattrs, links, times.
if command -v setpriv >/dev/null; then
	mkdir -p "$WORK/u"
	mk_tree "$WORK/u/in" noroot
	cp $K.key $K.crt "$WORK/u/"
	chown -R nobody:nogroup "$WORK/u"
	chmod 4755 "$WORK/u/in/bin/busybox"	# chown cleared it
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	expect_exit 0 "sign as nobody" as_nobody "$FWSIGN" sign "$WORK/u/in" -o "$WORK/u/out" \
		--key "$WORK/u/vendor.key" --cert "$WORK/u/vendor.crt"
	check_tree "$WORK/u/in" "$WORK/u/out" nobody
	check "nobody: setuid kept" [ -u "$WORK/u/out/bin/busybox" ]
	cp -a "$WORK/u/in" "$WORK/u/inplace"
	expect_exit 0 "in place as nobody" as_nobody "$FWSIGN" sign "$WORK/u/inplace" --in-place \
		--key "$WORK/u/vendor.key" --cert "$WORK/u/vendor.crt"
	check_tree "$WORK/u/in" "$WORK/u/inplace" nobody-in-place
	# A device node cannot be made by nobody: a clear error, nothing left.
	mkdir -p "$WORK/u/dev-in" && cp "$A/bin/busybox" "$WORK/u/dev-in/" &&
		mknod "$WORK/u/dev-in/null" c 1 3 && chown -R nobody "$WORK/u/dev-in"
	expect_exit 5 "device as nobody" as_nobody "$FWSIGN" sign "$WORK/u/dev-in" -o "$WORK/u/dev-out" \
		--key "$WORK/u/vendor.key" --cert "$WORK/u/vendor.crt"
	check "device error names the file" grep -q '^fwsign: null: cannot create special file' "$WORK/err.txt"
	check "no partial output" [ ! -e "$WORK/u/dev-out" -a -z "$(ls -A "$WORK/u" | grep fwsign)" ]
else
	fail "setpriv missing (util-linux)"
fi
done_tests
