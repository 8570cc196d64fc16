#!/bin/bash
# tar and cpio stream: fwsign's memory does not grow with the archive.
# A 256 MiB tar (240 MiB of data files, and real ELF libraries to sign),
# plain, gzip, zstd with the content size in its frame (whose output is
# held uncompressed until the end) and newc cpio, is signed with peak RSS
# (getrusage) under 64 MiB: a quarter of the archive, which the reader
# used to hold whole.  The outputs are checked with the reference tools
# (GNU tar, cpio, gzip, zstd: the same listing, the data files unchanged,
# the libraries verified), and no temporary file is left in TMPDIR or
# beside the output, also when fwsign is killed while it decompresses.
# Under ASan (shadow memory, quarantine) the RSS bound is not checked;
# everything else is.
. "$(dirname "$0")/lib.sh"
need_fixtures
cd "$WORK" || exit 1
key vendor --rsa 2048
K=$WORK/keys/vendor
ASAN=0
ldd "$FWSIGN" | grep -q libasan && ASAN=1
BOUND=$((64 << 20))

mkdir -p t/data t/lib tmp out
for i in $(seq 1 24); do	# 10 MiB each, not ELF: peeked, copied
	head -c $((10 << 20)) /dev/zero | tr '\0' "$(printf '\\%03o' $((i + 64)))" >"t/data/d$i"
done
for i in $(seq 1 8); do
	cp "$FIXTURES/amd64/lib/libc.so.6" "t/lib/libc$i.so"
done
tar --format=gnu -cf in.tar -C t .
(cd t && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >in.cpio
gzip -1 -c in.tar >in.tar.gz
zstd -q -1 -c in.tar -o in.tar.zst
check "zstd frame records the content size" \
	sh -c "zstd -lv in.tar.zst 2>/dev/null | grep -q 'Decompressed Size: .*($(stat -c %s in.tar) B)'"
size=$(stat -c %s in.tar)
echo "archive $((size >> 20)) MiB uncompressed"

# peak RSS of a command, in bytes; -1 when it failed
peak() {
	python3 - "$@" <<'PY'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open("err.txt", "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 if r.returncode == 0 else -1)
PY
}
listing() {	# modes and names, as GNU tar or cpio sees them
	case $1 in
	*.cpio) cpio -itv --quiet <"$1" ;;
	*) tar -tvf "$1" ;;
	esac | awk '{ print $1, $NF }' | sort
}

for f in in.tar in.tar.gz in.tar.zst in.cpio; do
	o=out/s-${f#in.}
	case $f in *.cpio) plain=plain.cpio ;; *) plain=plain.tar ;; esac
	p=$(TMPDIR=$WORK/tmp peak "$FWSIGN" sign "$f" -o "$o" --key "$K.key" --cert "$K.crt" --jobs 2)
	check "$f: signed (stderr: $(head -c 300 err.txt))" [ "$p" -gt 0 ]
	echo "$f: peak RSS $((p >> 20)) MiB"
	if [ "$ASAN" = 0 ]; then
		check "$f: peak RSS $((p >> 20)) MiB for a $((size >> 20)) MiB archive, under $((BOUND >> 20)) MiB" \
			[ "$p" -gt 0 -a "$p" -lt "$BOUND" ]
	fi
	check "$f: nothing left in TMPDIR" [ -z "$(ls -A tmp)" ]
	check "$f: nothing beside the output" [ "$(ls -A out)" = "$(basename "$o")" ]
	case $f in
	*.gz) check "$f: gzip -t" gzip -t "$o"; gzip -dc "$o" >$plain ;;
	*.zst) check "$f: zstd -t" zstd -q -t "$o"
		check "$f: content size in the new frame" \
			sh -c "zstd -lv '$o' 2>/dev/null | grep -q 'Decompressed Size: .*B)'"
		zstd -q -dc "$o" >$plain ;;
	*) cp "$o" $plain ;;
	esac
	case $f in
	*.cpio) check "$f: same listing (cpio)" cmp -s <(listing in.cpio) <(listing $plain) ;;
	*) check "$f: same listing (tar)" cmp -s <(listing in.tar) <(listing $plain) ;;
	esac
	rm -rf x && mkdir x
	case $f in
	*.cpio) (cd x && cpio -idm --quiet <../$plain) ;;
	*) tar -xf $plain -C x ;;
	esac
	check "$f: data files unchanged" diff -r t/data x/data
	check "$f: libraries signed" sh -c "'$FWSIGN' verify x/lib --cert '$K.crt' --json | grep -o '\"result\":\"ok\"' | wc -l | grep -qx 8"
	rm -rf "$o" $plain x
done

# Killed while it decompresses into its temporary file: nothing is left
# in TMPDIR (the file never had a name) nor beside the output but what
# the next run on that output removes.
TMPDIR=$WORK/tmp "$FWSIGN" sign in.tar.gz -o out/k.tar.gz --key "$K.key" --cert "$K.crt" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do	# until it is under way: its temporary file is open
	ls -l /proc/$pid/fd 2>/dev/null | grep -q '(deleted)' && break
	sleep 0.05
done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
check "killed: nothing left in TMPDIR" [ -z "$(ls -A tmp)" ]
check "killed: beside the output, only a .fwsign- temporary" \
	[ -z "$(ls -A out | grep -v '\.fwsign-[A-Za-z0-9]\{6,8\}$')" ]
TMPDIR=$WORK/tmp expect_exit 0 "killed: the next run completes" \
	"$FWSIGN" sign in.tar.gz -o out/k.tar.gz --key "$K.key" --cert "$K.crt"
check "killed: and cleans up" [ "$(ls -A out)" = k.tar.gz ]
done_tests
