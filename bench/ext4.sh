#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/ext4.sh: how long does fwsign take to sign an ext4 image, against
# cp of the same image (the target: at most 1.5x)?  One table, one BENCH
# line per kind of image.
#
#   bench/ext4.sh [--mb N] [--kinds "rootfs elf"] [--elf-pct P] [--runs N]
#                 [--bits 2048|3072|4096] [--jobs N] [--keep]
#
# Images (mke2fs -t ext4 -d, --mb MiB, default 256, about 75% full):
#   rootfs  like a firmware root filesystem: P% (default 40) of the file
#           bytes are ELF files of /usr/bin and /usr/lib/x86_64-linux-gnu,
#           the rest data files of /usr/share (sorted paths, one name per
#           inode, none over 16 MiB)
#   elf     the worst case: nothing but ELF files
# Timings: the image is in the page cache; before each timed command the
# last output is deleted and the machine synced, and cp and fwsign runs
# alternate; the best of --runs (default 5) counts (wall, and CPU apart).  "cp" is coreutils cp
# (copy_file_range, as fwsign).  Two columns: returning (data in the page
# cache, as cp leaves it) and durable (then fsync of the output, for both).
# The output is checked: e2fsck -fn clean, fwsign verify finds every ELF
# file signed.  openssl speed gives the crypto floor: RSA for the
# signatures and SHA-256 for the signed bytes, on all cores.
#
# Environment: BENCH_DIR (default /tmp), FWSIGN (a fwsign binary; default:
# build the Release tree build-bench).
set -euo pipefail
export LC_ALL=C

BENCH_NAME=ext4-bench
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MB=256
KINDS="rootfs elf"
ELF_PCT=40
RUNS=5
BITS=2048
JOBS=""
KEEP=0


while [ $# -gt 0 ]; do
	case $1 in
	--mb) MB=$2; shift ;;
	--kinds) KINDS=$2; shift ;;
	--elf-pct) ELF_PCT=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--bits) BITS=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage 0 ;;
	*) unknown_option "$1" ;;
	esac
	shift
done
[[ $MB =~ ^[0-9]+$ && $MB -ge 16 && $RUNS =~ ^[1-9][0-9]*$ &&
   $ELF_PCT =~ ^[0-9]+$ && $ELF_PCT -le 100 ]] || die "bad --mb/--runs/--elf-pct"
case $BITS in 2048|3072|4096) ;; *) die "--bits must be 2048, 3072 or 4096" ;; esac
for k in $KINDS; do
	case $k in rootfs|elf) ;; *) die "--kinds: rootfs and/or elf" ;; esac
done
needs mke2fs e2fsck python3 openssl awk

bench_fwsign

W=$(mktemp -d "${BENCH_DIR:-/tmp}/ext4-bench.XXXXXX")
cleanup() { if [ "$KEEP" = 1 ]; then say "kept $W"; else rm -rf "$W"; fi; }
trap cleanup EXIT
chmod 755 "$W"
"$FWSIGN" keygen -o "$W/key" --rsa "$BITS" >/dev/null
JOBARG=()
[ -n "$JOBS" ] && JOBARG=(--jobs "$JOBS")

# "wall cpu" seconds of a command (cpu: user + sys), its output thrown away
wall() {
	local TIMEFORMAT='%R %U %S' t
	t=$( { time "$@" >/dev/null 2>"$W/cmd.err"; } 2>&1 ) ||
		{ cat "$W/cmd.err" >&2; die "failed: $*"; }
	awk '{ printf "%s %.3f\n", $1, $2 + $3 }' <<<"$t"
}
cp_out() { cp "$1" "$2"; }
cp_sync() { cp "$1" "$2" && sync "$2"; }
fw_out() { "$FWSIGN" sign "$1" -o "$2" --key "$W/key.key" --cert "$W/key.crt" "${JOBARG[@]}" "${@:3}"; }
fw_sync() { fw_out "$1" "$2" && sync "$2"; }

# the files of a kind of image, "path" lines, into $W/KIND.list
pick() {	# pick KIND BUDGET_BYTES
	python3 - "$1" "$2" "$ELF_PCT" >"$W/$1.list" <<'PY'
import os, sys
kind, budget, pct = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def files(roots):
    out = []
    for root in roots:
        for d, _, names in os.walk(root):
            out += [os.path.join(d, n) for n in names]
    return sorted(out)
seen = set()
def take(paths, want_elf, limit):
    got, total = [], 0
    for p in paths:
        try:
            st = os.lstat(p)
            if not os.path.isfile(p) or os.path.islink(p) or st.st_size > 16 << 20:
                continue
            size = (st.st_size + 4095) & ~4095	# in 4 KiB blocks
            if (st.st_dev, st.st_ino) in seen or total + size > limit:
                continue
            with open(p, 'rb') as f:
                if (f.read(4) == b'\x7fELF') != want_elf:
                    continue
        except OSError:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += size
        got.append(p[1:])
        if total > limit - 4096:
            break
    return got, total
elf_budget = budget if kind == 'elf' else budget * pct // 100
elf, n = take(files(['/usr/bin', '/usr/lib/x86_64-linux-gnu']), True, elf_budget)
data = []
if kind == 'rootfs':
    data, _ = take(files(['/usr/share']), False, budget - n)
print('\n'.join(elf + data))
PY
}

# ------------------------------------------------------------------ crypto
say "openssl speed (RSA-$BITS sign, SHA-256) on $NCPU cores"
SSL_RSA=$(cd "$W" && openssl speed -seconds 2 -multi "$NCPU" "rsa$BITS" 2>/dev/null |
	awk -v b="$BITS" '$1 == "rsa" && $2 == b && $3 == "bits" { v = $6 } END { print v }')
SSL_SHA=$(cd "$W" && openssl speed -seconds 1 -multi "$NCPU" -bytes 1048576 -evp sha256 2>/dev/null |
	awk '$1 == "sha256" { v = $2 } END { sub(/k$/, "", v); print v * 1000 }')
if [ -z "$SSL_RSA" ] || [ -z "$SSL_SHA" ]; then die "cannot parse openssl speed"; fi

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
printf '\nfwsign ext4 benchmark: %s, %d cores, RSA-%d, %s; load average %s\n' \
	"$(uname -m)" "$NCPU" "$BITS" "$("$FWSIGN" --version 2>/dev/null | head -1)" "$LOAD0"
printf 'image: %d MiB ext4 (mke2fs -d), in the page cache; best of %d runs; cp and fwsign alternate\n' \
	"$MB" "$RUNS"
for kind in $KINDS; do
	say "$kind: picking files"
	pick "$kind" $(( MB * 1048576 * 75 / 100 ))
	rm -rf "$W/tree" && mkdir "$W/tree"
	(cd / && tar cf - -T "$W/$kind.list") | (cd "$W/tree" && tar xf -)
	NFILES=$(wc -l <"$W/$kind.list")
	say "$kind: mke2fs -d ($NFILES files)"
	rm -f "$W/img"
	E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -d "$W/tree" "$W/img" "${MB}M" \
		>"$W/mkfs.txt" 2>&1 || { cat "$W/mkfs.txt" >&2; die "$kind: mke2fs failed"; }
	rm -rf "$W/tree"
	USED_MB=$(calc "$(dumpe2fs -h "$W/img" 2>/dev/null | awk -F: '
		/^Block count/ { n = $2 } /^Free blocks/ { f = $2 } /^Block size/ { b = $2 }
		END { print (n - f) * b }') / 1048576" 1)
	cat "$W/img" >/dev/null

	# what fwsign signs, and the output checked once
	rm -f "$W/out"
	fw_out "$W/img" "$W/out" --json >"$W/fw.json" 2>"$W/cmd.err" ||
		{ cat "$W/cmd.err" >&2; die "$kind: fwsign sign failed"; }
	e2fsck -fn "$W/out" >"$W/fsck.txt" 2>&1 || { cat "$W/fsck.txt" >&2; die "$kind: e2fsck -fn of the output"; }
	"$FWSIGN" verify "$W/out" --cert "$W/key.crt" >/dev/null 2>&1 || die "$kind: fwsign verify of the output"
	jget() { grep -o -m1 "\"$1\":[0-9.]*" "$W/fw.json" | sed -n '1s/.*://p'; }
	SIGNED=$(( $(jget signed) + $(jget resigned) ))
	SIGN_BYTES=$(python3 -c 'import json,sys
print(sum(f.get("size", 0) for f in json.load(open(sys.argv[1]))["files"]
          if f.get("action") in ("sign", "re-sign")))' "$W/fw.json" 2>/dev/null || echo 0)
	ELF_MB=$(calc "$SIGN_BYTES / 1048576" 1)

	CP=(); FW=(); CPS=(); FWS=()
	for i in $(seq "$RUNS"); do
		say "$kind: run $i of $RUNS"
		for how in out sync; do
			for what in cp fw; do
				rm -f "$W/out"
				sync
				t=$(wall "${what}_$how" "$W/img" "$W/out")
				case $what-$how in
				cp-out) CP+=("$t") ;;
				fw-out) FW+=("$t") ;;
				cp-sync) CPS+=("$t") ;;
				fw-sync) FWS+=("$t") ;;
				esac
			done
		done
	done
	rm -f "$W/out"
	cp_s=$(printf '%s\n' "${CP[@]}" | cut -d' ' -f1 | minof)
	fw_s=$(printf '%s\n' "${FW[@]}" | cut -d' ' -f1 | minof)
	cps_s=$(printf '%s\n' "${CPS[@]}" | cut -d' ' -f1 | minof)
	fws_s=$(printf '%s\n' "${FWS[@]}" | cut -d' ' -f1 | minof)
	cp_c=$(printf '%s\n' "${CP[@]}" | cut -d' ' -f2 | minof)
	fw_c=$(printf '%s\n' "${FW[@]}" | cut -d' ' -f2 | minof)
	ratio=$(calc "$fw_s / $cp_s" 2)
	ratio_s=$(calc "$fws_s / $cps_s" 2)
	est_rsa=$(calc "$SIGNED / $SSL_RSA")
	est_sha=$(calc "$SIGN_BYTES / $SSL_SHA")
	floor=$(calc "$cp_s + $est_rsa + $est_sha")
	# all of it spread over the cores: cp's CPU and the crypto's
	# (est_* are already per NCPU cores)
	ofloor=$(calc "$cp_c / $NCPU + $est_rsa + $est_sha")
	verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.5) ? "PASS" : "MISS" }')
	verdict_s=$(awk -v r="$ratio_s" 'BEGIN { print (r <= 1.5) ? "PASS" : "MISS" }')

	printf '\n%s: %d files, %s MiB used of %d MiB; fwsign signs %d ELF files, %s MiB\n' \
		"$kind" "$NFILES" "$USED_MB" "$MB" "$SIGNED" "$ELF_MB"
	printf '  %-40s %10s %10s\n' "" "returning" "durable"
	printf '  %-40s %10s %10s\n' "cp IMG COPY (s)" "$cp_s" "$cps_s"
	printf '  %-40s %10s %10s\n' "fwsign sign IMG -o OUT (s)" "$fw_s" "$fws_s"
	printf '  %-40s %9sx %9sx   (target <= 1.5x: %s, %s)\n' "fwsign / cp" "$ratio" "$ratio_s" "$verdict" "$verdict_s"
	printf '  CPU (user + sys, best run): cp %s s, fwsign %s s; load average now %s\n' \
		"$cp_c" "$fw_c" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '  crypto alone, at openssl speed on %d cores: RSA %s s + SHA-256 %s s;\n' "$NCPU" "$est_rsa" "$est_sha"
	printf '  so cp + crypto = %s s = %sx cp (what no copy-then-sign tool can beat without overlap)\n' \
		"$floor" "$(calc "$floor / $cp_s" 2)"
	printf '  all of that CPU spread over %d cores = %s s = %sx cp (the floor with overlap)\n' \
		"$NCPU" "$ofloor" "$(calc "$ofloor / $cp_s" 2)"
	printf 'BENCH {"format":"ext4","kind":"%s","image_mib":%d,"used_mib":%s,"files":%d,"signed":%d,"signed_mib":%s,' \
		"$kind" "$MB" "$USED_MB" "$NFILES" "$SIGNED" "$ELF_MB"
	printf '"cores":%d,"jobs":"%s","rsa_bits":%d,"runs":%d,"cp_s":%s,"fwsign_s":%s,"ratio":%s,' \
		"$NCPU" "${JOBS:-all}" "$BITS" "$RUNS" "$cp_s" "$fw_s" "$ratio"
	printf '"cp_fsync_s":%s,"fwsign_fsync_s":%s,"ratio_fsync":%s,"cp_cpu_s":%s,"fwsign_cpu_s":%s,' \
		"$cps_s" "$fws_s" "$ratio_s" "$cp_c" "$fw_c"
	printf '"est_rsa_s":%s,"est_sha256_s":%s,"overlap_floor_s":%s,' "$est_rsa" "$est_sha" "$ofloor"
	printf '"target":"%s","target_fsync":"%s","load_start":"%s"}\n' "$verdict" "$verdict_s" "$LOAD0"
done
