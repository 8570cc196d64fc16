#!/bin/bash
# Killed at any moment, nothing is lost: `fwsign sign` is killed with
# SIGKILL at 20 random points (a tree, a squashfs, an ext4 image, a tar,
# and a tree signed --in-place, four each).  After each kill the input is
# byte-identical, the output is absent or complete (equal to a run that was
# not killed), an --in-place tree holds each file either old or new, and
# what is left over is named .NAME.fwsign-XXXXXX; the next run on the same
# output removes it and completes.  Two runs writing the same output: one
# wins, the other fails cleanly.
. "$(dirname "$0")/lib.sh"
need_fixtures
cd "$WORK" || exit 1
# RSA 2048: what is under test is the kill, not the key (a 4096-bit key
# costs twelve times the CPU: 6.1 s against 0.5 s a signing of the tree)
key vendor --rsa 2048
K=$WORK/keys/vendor
SIGN=("$FWSIGN" sign --key "$K.key" --cert "$K.crt" --jobs 2)

# A tree that takes a while: every ninth fixture module (in name order)
# of every architecture and the five busyboxes, about 170 files and 30 MB.
# A run over it has the same phases as one over all 1,420 modules (196
# MB): many files in flight on both jobs, temporaries open, renames, an
# image written block by block; each kill point is drawn within the
# duration of a run over this very input, so the kills land in the same
# phases in the same proportions as on a bigger tree.  Every third module
# (481 files, 65 MB) cost 124 CPU s for the whole test, every ninth 51
# (43 with its squashfs from the cache), on the same loaded machine.
mkdir -p in/bin in/lib
for a in $ARCHES; do
	mkdir -p "in/lib/$a"
	find "$FIXTURES/$a/modules" -name '*.ko' | sort | awk 'NR % 9 == 1' |
		xargs -r cp -t "in/lib/$a"
	cp "$FIXTURES/$a/bin/busybox" "in/bin/busybox-$a"
done
echo "$(find in -type f | wc -l) files"
digest() {	# a file, or a tree's files (content and mode)
	if [ -d "$1" ]; then
		(cd "$1" && find . -type f -printf '%p %m\n' | sort &&
			find . -type f -print0 | sort -z | xargs -0 sha256sum)
	else
		sha256sum <"$1"
	fi
}
# mksquashfs's gzip costs 8 CPU s here: the image comes from the test
# cache (keyed by the tree's content and modes) in the ASan+UBSan pass
# and later runs.  Relative names keep the cache key the same.
cached in.sqfs "$(digest in)" sh -c 'mksquashfs in sq.tmp -comp gzip \
	-noappend -all-root -quiet >/dev/null && cat sq.tmp && rm -f sq.tmp'
mke2fs -q -t ext4 -d in in.ext4 $(( $(du -sm in | cut -f1) * 2 + 16 ))M
tar -C in -cf in.tar .

leftovers() {	# leftovers DIR: names that are not the output nor a temporary
	ls -A "$1" | grep -v -e '^out$' -e '^out\.' -e '\.fwsign-[A-Za-z0-9]\{6,8\}$' || true
}
kill_at() {	# kill_at SECONDS COMMAND...: start it, SIGKILL it after SECONDS
	local s=$1
	shift
	"$@" >/dev/null 2>&1 &
	local pid=$!
	sleep "$s"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
rand_s() {	# a random time within about the run's duration
	python3 -c "import random; print('%.3f' % random.uniform(0.02, $1))"
}

for kind in tree:in sqfs:in.sqfs ext4:in.ext4 tar:in.tar; do
	name=${kind%%:*} in=${kind#*:}
	mkdir -p "k.$name"
	before=$(digest "$in")
	t0=$(date +%s.%N)
	"${SIGN[@]}" "$in" -o "ref.$name" >/dev/null
	dur=$(echo "$(date +%s.%N) - $t0" | bc)
	ref=$(digest "ref.$name")
	for i in 1 2 3 4; do
		out=k.$name/out
		rm -rf "$out"
		at=$(rand_s "$dur")
		kill_at "$at" "${SIGN[@]}" "$in" -o "$out"
		check "$name #$i (killed at $at s of $dur): input unchanged" \
			[ "$(digest "$in")" = "$before" ]
		if [ -e "$out" ]; then
			check "$name #$i: the output is complete" \
				[ "$(digest "$out")" = "$ref" ]
		else
			pass
		fi
		check "$name #$i: only temporaries left over" [ -z "$(leftovers "k.$name")" ]
		rm -rf "$out"
		expect_exit 0 "$name #$i: the next run completes" "${SIGN[@]}" "$in" -o "$out"
		check "$name #$i: ... with the same output" \
			[ "$(digest "$out")" = "$ref" ]
		check "$name #$i: ... and no temporary left" \
			[ -z "$(ls -A "k.$name" | grep fwsign- || true)" ]
	done
done

# --in-place: each file either old or new, never a mix
"${SIGN[@]}" in -o ref.ip >/dev/null
ref=$(digest ref.ip)
sums() {	# sums DIR: "SHA256  PATH" of its files but temporaries
	(cd "$1" && find . -type f ! -name '.*.fwsign-*' -print0 | sort -z |
		xargs -0 sha256sum)
}
sums in >"$WORK/sums.in"
sums ref.ip >"$WORK/sums.ref"
t0=$(date +%s.%N)
cp -a in ip.time && "${SIGN[@]}" ip.time --in-place >/dev/null
dur=$(echo "$(date +%s.%N) - $t0" | bc)
for i in 1 2 3 4; do
	rm -rf ip && cp -a in ip
	at=$(rand_s "$dur")
	kill_at "$at" "${SIGN[@]}" ip --in-place
	mixed=$(sums ip | awk -v old="$WORK/sums.in" -v new="$WORK/sums.ref" '
		BEGIN {
			while ((getline l <old) > 0) o[substr(l, 67)] = substr(l, 1, 64)
			while ((getline l <new) > 0) n[substr(l, 67)] = substr(l, 1, 64)
		}
		{ p = substr($0, 67); h = substr($0, 1, 64) }
		h != o[p] && h != n[p] { print p }')
	check "in-place #$i (killed at $at s): every file old or new ($mixed)" [ -z "$mixed" ]
	expect_exit 0 "in-place #$i: the next run completes" "${SIGN[@]}" ip --in-place
	check "in-place #$i: ... every file signed" [ "$(digest ip)" = "$ref" ]
	check "in-place #$i: ... no temporary left" \
		[ -z "$(find ip -name '.*.fwsign-*')" ]
done

# two runs, one output
rm -rf two && mkdir two
"${SIGN[@]}" in.sqfs -o two/out >two.1 2>&1 & p1=$!
"${SIGN[@]}" in.sqfs -o two/out >two.2 2>&1 & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
check "two runs: one wins ($r1, $r2)" [ $((r1 == 0)) -ne $((r2 == 0)) ]
check "two runs: the loser says why in one line" \
	[ "$(cat two.1 two.2 | grep -c '^fwsign: ')" = 1 ]
check "two runs: the output is complete" [ "$(digest two/out)" = "$(digest ref.sqfs)" ]
check "two runs: no temporary left" [ -z "$(ls -A two | grep fwsign- || true)" ]
done_tests
