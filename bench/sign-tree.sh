#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/sign-tree.sh: how fast does fwsign sign a real tree of ELF files,
# compared with the sign-file loop people write today and with what
# OpenSSL's RSA can do on this machine?  One run, one table, one BENCH line.
#
#   bench/sign-tree.sh [--bits 2048|3072|4096] [--count N] [--runs N]
#                      [--jobs N] [--baseline-files N] [--baseline-budget S]
#                      [--src DIR] [--max-kb N] [--keep]
#
# Environment: BENCH_DIR (where the work directory is made; default /tmp),
# FWSIGN (a fwsign binary; default: build the Release tree build-bench),
# SIGN_FILE (default /usr/lib/linux-kbuild-6.1/scripts/sign-file).
# See bench/README.md.
set -euo pipefail
export LC_ALL=C

BENCH_NAME=sign-tree
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BITS=2048
COUNT=2500
RUNS=3
JOBS=""			# empty: fwsign's default (all cores)
BASE_FILES=""		# empty: all, unless the probe says it is too slow
BASE_BUDGET=300		# seconds the sign-file loop may take before sampling
BASE_SAMPLE=500		# the deterministic subset used then
SRC_ROOT=/usr/lib
KEEP=0
MAX_KB=0		# >0: only files of at most this many KiB (small-file tree)
SIGN_FILE=${SIGN_FILE:-/usr/lib/linux-kbuild-6.1/scripts/sign-file}


while [ $# -gt 0 ]; do
	case $1 in
	--bits) BITS=$2; shift ;;
	--count) COUNT=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--baseline-files) BASE_FILES=$2; shift ;;
	--baseline-budget) BASE_BUDGET=$2; shift ;;
	--src) SRC_ROOT=$2; shift ;;
	--max-kb) MAX_KB=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage 0 ;;
	*) unknown_option "$1" ;;
	esac
	shift
done
case $BITS in 2048|3072|4096) ;; *) die "--bits must be 2048, 3072 or 4096" ;; esac
[[ $COUNT =~ ^[0-9]+$ && $RUNS =~ ^[1-9][0-9]*$ && $MAX_KB =~ ^[0-9]+$ ]] ||
	die "bad --count/--runs/--max-kb"
[ -x "$SIGN_FILE" ] || die "no sign-file at $SIGN_FILE (set SIGN_FILE)"
needs perl openssl awk
JSONTOOL=""
if command -v jq >/dev/null; then JSONTOOL=jq
elif command -v python3 >/dev/null; then JSONTOOL=python3
else die "needs jq or python3 to read fwsign --json"; fi

# ------------------------------------------------------------------ helpers
now() { echo "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
# "summary" number from fwsign --json output: jget FILE KEY
jget() { grep -o -m1 "\"$2\":[0-9.]*" "$1" | sed -n '1s/.*://p'; }
# paths fwsign plans to sign (one a line), from a --dry-run --json report
sign_paths() {
	if [ "$JSONTOOL" = jq ]; then
		jq -r '.files[] | select(.action == "sign" or .action == "re-sign")
			| .path' "$1"
	else
		python3 -c 'import json,sys
for f in json.load(open(sys.argv[1]))["files"]:
    if f["action"] in ("sign", "re-sign"): print(f["path"])' "$1"
	fi
}
# time a command: wall user sys (seconds) to $1, the command's own stderr
# and stdout go to $2.err and $2.out
timed() {
	local tf=$1 base=$2; shift 2
	local TIMEFORMAT='%R %U %S'
	{ time "$@" >"$base.out" 2>"$base.err"; } 2>"$tf"
}

# Each timed run writes a new directory, kept until the end: ext4 skips
# inodes freed in the last minute when it allocates (fs/ext4/ialloc.c,
# recently_deleted), so on a filesystem where the previous run's output
# was just deleted every new file scans past thousands of them, and that
# scan would be timed too.  Kept outputs are flushed and dropped from the
# page cache (posix_fadvise DONTNEED) so that they do not crowd it.
# next_out: sets D, the next output directory.
N_OUT=0
next_out() {
	N_OUT=$((N_OUT + 1))
	D=$W/run.$N_OUT
	mkdir "$D"
}
# evict DIR: its files written to disk and dropped from the page cache
evict() {
	sync
	python3 - "$1" <<'PY'
import os, sys
for top, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(top, f)
        if os.path.islink(p):
            continue
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}

# ------------------------------------------------------------------ fwsign
bench_fwsign

BENCH_DIR=${BENCH_DIR:-/tmp}
mkdir -p "$BENCH_DIR"
W=$(mktemp -d "$BENCH_DIR/fwsign-bench.XXXXXX")
cleanup() {
	if [ "$KEEP" = 1 ]; then say "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
chmod 755 "$W"

# ------------------------------------------------------------------ 1. tree
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
say "listing ELF files of $SRC_ROOT"
(cd "$SRC_ROOT" && find . -type f -print0 | sort -z |
	perl -0 -ne 'chomp; open(my $f, "<", $_) or next;
		next if '"$MAX_KB"' && -s $f > '"$MAX_KB"' * 1024;
		(read($f, my $m, 4) // 0) == 4 or next;
		print "$_\0" if $m eq "\x7fELF"') > "$W/elf-all.lst"
perl -0 -ne "print if \$. <= $COUNT" < "$W/elf-all.lst" > "$W/elf.lst"
mkdir "$W/tree"
(cd "$SRC_ROOT" && xargs -0 cp -a --parents -t "$W/tree" < "$W/elf.lst")
TREE_FILES=$(find "$W/tree" -type f | wc -l)
TREE_BYTES=$(find "$W/tree" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
TREE_MB=$(calc "$TREE_BYTES / 1048576" 1)
AVAIL=$(df -Pk "$W" | awk 'NR == 2 { print $4 * 1024 }')
SIZE_NOTE=""
[ "$MAX_KB" -gt 0 ] && SIZE_NOTE=" of at most $MAX_KB KiB"
say "tree: $TREE_FILES ELF files$SIZE_NOTE, $TREE_MB MiB (of $(tr -cd '\0' < "$W/elf-all.lst" | wc -c) in $SRC_ROOT)"
[ "$TREE_FILES" -ge 2000 ] || say "warning: fewer than 2000 ELF files"
NCOPIES=$((2 * RUNS + 2))
awk -v a="$AVAIL" -v b="$TREE_BYTES" -v n="$NCOPIES" 'BEGIN { exit !(a < (n + 0.2) * b) }' &&
	say "warning: $W may run out of space ($NCOPIES more copies of the tree)"

# ------------------------------------------------------------------ 2. key
"$FWSIGN" keygen -o "$W/key" --rsa "$BITS" >/dev/null
KEY=$W/key.key
CRT=$W/key.crt		# sign-file reads a PEM certificate as well as DER

# ------------------------------------------------------------------ 5. openssl
# Run twice, before fwsign and at the end: on a shared VM the rates move by
# tens of percent from minute to minute.  The higher one is the reference
# (the conservative choice for fwsign's percentage and the estimates).
# A busy machine shows here first: two runs far apart mean noisy figures.
ssl_rsa() {
	say "openssl speed -seconds 3 -multi $NCPU rsa$BITS"
	(cd "$W" && openssl speed -seconds 3 -multi "$NCPU" "rsa$BITS" 2>/dev/null |
		awk -v b="$BITS" '$1 == "rsa" && $2 == b && $3 == "bits" { v = $6 }
			END { print v }')
}
ssl_sha() {
	say "openssl speed -seconds 2 -multi $NCPU -bytes 1048576 -evp sha256"
	(cd "$W" && openssl speed -seconds 2 -multi "$NCPU" -bytes 1048576 -evp sha256 2>/dev/null |
		awk '$1 == "sha256" { v = $2 } END { sub(/k$/, "", v); print v * 1000 }')
}
ssl_end() {
	SSL_RSA2=$(ssl_rsa)
	[ -n "$SSL_RSA1" ] && [ -n "$SSL_RSA2" ] || die "cannot parse openssl speed rsa$BITS"
	SSL_RSA=$(printf '%s\n' "$SSL_RSA1" "$SSL_RSA2" | sort -g | tail -1)
	SSL_SHA2=$(ssl_sha)
	SSL_SHA=$(printf '%s\n' "$SSL_SHA1" "$SSL_SHA2" | sort -g | tail -1)
}

# ------------------------------------------------------------------ 3. fwsign
SSL_RSA1=$(ssl_rsa)
SSL_SHA1=$(ssl_sha)

say "warming the page cache"
find "$W/tree" -type f -exec cat {} + > /dev/null

# the plan: what fwsign will sign; also the walk+read+classify cost
JOBARG=()
[ -n "$JOBS" ] && JOBARG=(--jobs "$JOBS")
DRY=()
for i in 1 2 3; do
	timed "$W/t" "$W/dry" "$FWSIGN" sign "$W/tree" --dry-run --json "${JOBARG[@]}"
	DRY+=("$(cut -d' ' -f1 "$W/t")")
done
DRY_S=$(printf '%s\n' "${DRY[@]}" | minof)
sign_paths "$W/dry.out" > "$W/sign.lst"
N_SIGN=$(wc -l < "$W/sign.lst")
SIGN_BYTES=$(cd "$W/tree" && tr '\n' '\0' < "$W/sign.lst" |
	xargs -0 stat -c %s | awk '{ s += $1 } END { print s + 0 }')

say "fwsign: best of $RUNS (jobs ${JOBS:-all = $NCPU}), each after a cp -a of the tree"
BEST=""
CPS=()
for i in $(seq "$RUNS"); do
	next_out
	timed "$W/t" "$W/cp" cp -a "$W/tree" "$D/cpfloor"
	CPS+=("$(cut -d' ' -f1 "$W/t")")
	evict "$D"
	next_out
	timed "$W/t" "$W/fw" "$FWSIGN" sign "$W/tree" -o "$D/out" --key "$KEY" \
		--cert "$CRT" --json "${JOBARG[@]}" ||
		{ cat "$W/fw.err" >&2; die "fwsign sign failed"; }
	evict "$D"
	read -r wall user sys < "$W/t"
	say "  run $i: $wall s wall, $user s user, $sys s sys (fwsign says $(jget "$W/fw.out" seconds) s); cp -a ${CPS[-1]} s"
	if [ -z "$BEST" ] || awk -v a="$wall" -v b="$BEST" 'BEGIN { exit !(a < b) }'; then
		BEST=$wall; BEST_U=$user; BEST_S=$sys
		cp "$W/fw.out" "$W/fw-best.json"
	fi
done
FW_SIGNED=$(( $(jget "$W/fw-best.json" signed) + $(jget "$W/fw-best.json" resigned) ))
FW_ERRORS=$(jget "$W/fw-best.json" errors)
[ "$FW_ERRORS" = 0 ] || die "fwsign reported $FW_ERRORS errors"

CPFLOOR=$(printf '%s\n' "${CPS[@]}" | minof)
# one thread, once: how well the work spreads over the cores
next_out
timed "$W/t" "$W/fw1" "$FWSIGN" sign "$W/tree" -o "$D/out" --key "$KEY" \
	--cert "$CRT" --json --jobs 1
read -r J1_S J1_U J1_SYS < "$W/t"

# ------------------------------------------------------------------ 4. sign-file
say "sign-file loop: cp -a, then sign-file on each of $N_SIGN files"
# beside the --jobs 1 run's output, which is compared below
t0=$(now)
cp -a "$W/tree" "$D/base"
t1=$(now)
CP_S=$(sub "$t1" "$t0")
LIMIT=${BASE_FILES:-$N_SIGN}
[ "$LIMIT" -gt "$N_SIGN" ] && LIMIT=$N_SIGN
PROBE=50
n=0

while IFS= read -r f; do
	[ "$n" -ge "$LIMIT" ] && break
	"$SIGN_FILE" sha256 "$KEY" "$CRT" "$D/base/$f" ||
		die "sign-file failed on $f"
	n=$((n + 1))
	if [ "$n" -eq "$PROBE" ] && [ -z "$BASE_FILES" ]; then
		proj=$(calc "($(now) - $t1) / $n * $N_SIGN" 1)
		if awk -v p="$proj" -v b="$BASE_BUDGET" 'BEGIN { exit !(p > b) }'; then
			say "  full loop would take ~$proj s > $BASE_BUDGET s: signing the first $BASE_SAMPLE files only"
			LIMIT=$BASE_SAMPLE
		fi
	fi
done < "$W/sign.lst"
t2=$(now)
LOOP_S=$(sub "$t2" "$t1")
BASE_N=$n
if [ "$BASE_N" -lt "$N_SIGN" ]; then
	SCALED=true
	SF_S=$(calc "$CP_S + $LOOP_S / $BASE_N * $N_SIGN")
	SCALE_NOTE="SCALED: sign-file ran on the first $BASE_N of $N_SIGN files (list order); loop time scaled by file count"
else
	SCALED=false
	SF_S=$(calc "$CP_S + $LOOP_S")
	SCALE_NOTE="full loop: sign-file ran on all $N_SIGN files"
fi
say "  cp -a $CP_S s, $BASE_N sign-file calls $LOOP_S s"
# the fixed cost of one sign-file call: 20 calls on a 4 KiB file
head -c 4096 /dev/zero > "$W/tiny"
t0=$(now)
for i in $(seq 20); do
	"$SIGN_FILE" sha256 "$KEY" "$CRT" "$W/tiny" "$W/tiny.signed"
done
SF_FIXED_MS=$(calc "($(now) - $t0) / 20 * 1000" 2)
SF_PER_MS=$(calc "$LOOP_S / $BASE_N * 1000" 2)

# same bytes as sign-file?  (the --jobs 1 output, the files both signed)
IDENT=0
while IFS= read -r f; do
	cmp -s "$D/out/$f" "$D/base/$f" && IDENT=$((IDENT + 1))
done < <(head -n "$BASE_N" "$W/sign.lst")
rm -rf "$W"/run.*

ssl_end

# ------------------------------------------------------------------ 6. report
FW_FPS=$(calc "$TREE_FILES / $BEST" 1)
FW_MBPS=$(calc "$TREE_BYTES / 1048576 / $BEST" 1)
FW_SPS=$(calc "$FW_SIGNED / $BEST" 1)
SF_FPS=$(calc "$TREE_FILES / $SF_S" 1)
SF_MBPS=$(calc "$TREE_BYTES / 1048576 / $SF_S" 1)
SF_SPS=$(calc "$N_SIGN / $SF_S" 1)
RATIO=$(calc "$SF_S / $BEST" 1)
PCT=$(calc "100 * $FW_FPS / $SSL_RSA" 1)
PCT_SIG=$(calc "100 * $FW_SPS / $SSL_RSA" 1)
EST_RSA=$(calc "$FW_SIGNED / $SSL_RSA")
EST_SHA=$(calc "$SIGN_BYTES / $SSL_SHA")
CEIL=$(calc "$TREE_FILES / ($EST_RSA + $EST_SHA)" 1)
CEIL_PCT=$(calc "100 * $CEIL / $SSL_RSA" 1)
COPY_CEIL=$(calc "$SF_S / $CPFLOOR" 1)
SPEEDUP=$(calc "$J1_S / $BEST" 2)
CPU_S=$(calc "$BEST_U + $BEST_S")
PASS_RATIO=$(awk -v r="$RATIO" 'BEGIN { print (r >= 20) ? "PASS" : "MISS" }')
PASS_PCT=$(awk -v p="$PCT" 'BEGIN { print (p >= 70) ? "PASS" : "MISS" }')
SIGN_MB=$(calc "$SIGN_BYTES / 1048576" 1)

cat <<EOF

fwsign sign-tree benchmark: $(uname -m), $NCPU cores, $(openssl version | cut -d' ' -f1-2), RSA-$BITS/SHA-256
load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
tree: $TREE_FILES ELF files$SIZE_NOTE from $SRC_ROOT, $TREE_MB MiB; fwsign signs $FW_SIGNED ($N_SIGN names, $SIGN_MB MiB), copies the rest
page cache warm; output written to $(df -PT "$W" | awk 'NR == 2 { print $1 " (" $2 ")" }'); sync before each timed run;
each run writes a new directory, kept until the end and dropped from the page cache;
fwsign runs interleaved with cp -a runs of the same tree (copy floor)

                          seconds    files/s     MiB/s   signatures/s
fwsign (best of $RUNS, j=${JOBS:-$NCPU})  $(printf '%9.3f %10.1f %9.1f %14.1f' "$BEST" "$FW_FPS" "$FW_MBPS" "$FW_SPS")
cp -a + sign-file loop  $(printf '%9.3f %10.1f %9.1f %14.1f' "$SF_S" "$SF_FPS" "$SF_MBPS" "$SF_SPS")
  ($SCALE_NOTE; cp -a alone $CP_S s;
   $SF_PER_MS ms per sign-file call, of which $SF_FIXED_MS ms is the fixed cost of a call on a 4 KiB file)
openssl speed rsa$BITS -multi $NCPU                            $(printf '%14.1f' "$SSL_RSA") sign/s
  (higher of two runs, before and after the timings: $SSL_RSA1 and $SSL_RSA2$(awk -v a="$SSL_RSA1" -v b="$SSL_RSA2" 'BEGIN { if (a > 1.25 * b || b > 1.25 * a) printf "; they differ by more than 25%%: the machine was busy, figures are noisy" }'))

fwsign / sign-file loop:            ${RATIO}x        (target >= 20x)   $PASS_RATIO
fwsign files/s / openssl sign/s:    ${PCT}%        (target >= 70%)   $PASS_PCT
fwsign signatures/s / openssl:      ${PCT_SIG}%
byte-identical to sign-file:        $IDENT of $BASE_N files compared

where fwsign's time goes (estimates, no profiler):
  wall $BEST s; CPU $CPU_S s ($BEST_U user + $BEST_S sys) on $NCPU cores; --jobs 1: $J1_S s (speed-up ${SPEEDUP}x)
  walk+read+classify (--dry-run, best of 3):  $DRY_S s
  RSA, $FW_SIGNED signatures at openssl's rate:  $EST_RSA s
  SHA-256 of $SIGN_MB MiB at $(calc "$SSL_SHA / 1048576" 0) MiB/s (openssl, $NCPU cores): $EST_SHA s
  copy floor (cp -a of the tree, best of $RUNS interleaved): $CPFLOOR s  => signing above copy: $(calc "$BEST - $CPFLOOR") s
  CPU-bound ceiling (RSA + SHA-256 only):   $CEIL files/s = ${CEIL_PCT}% of openssl sign/s
  copy-bound ceiling (a tool that only copied the tree): ${COPY_CEIL}x the sign-file loop
EOF

printf 'BENCH {"load_start":"%s","files":%s,"mib":%s,"signed":%s,"sign_mib":%s,"rsa_bits":%s,"cores":%s,"jobs":%s,' \
	"$LOAD0" "$TREE_FILES" "$TREE_MB" "$FW_SIGNED" "$SIGN_MB" "$BITS" "$NCPU" "${JOBS:-$NCPU}"
printf '"fwsign_s":%s,"fwsign_user_s":%s,"fwsign_sys_s":%s,"fwsign_files_per_s":%s,"fwsign_mib_per_s":%s,"fwsign_sigs_per_s":%s,"fwsign_jobs1_s":%s,' \
	"$BEST" "$BEST_U" "$BEST_S" "$FW_FPS" "$FW_MBPS" "$FW_SPS" "$J1_S"
printf '"signfile_s":%s,"signfile_scaled":%s,"signfile_files_run":%s,"cp_s":%s,"cp_floor_s":%s,"signfile_files_per_s":%s,"signfile_mib_per_s":%s,' \
	"$SF_S" "$SCALED" "$BASE_N" "$CP_S" "$CPFLOOR" "$SF_FPS" "$SF_MBPS"
printf '"signfile_ms_per_call":%s,"signfile_fixed_ms":%s,"ratio":%s,"openssl_sign_per_s":%s,"openssl_runs":[%s,%s],"pct_of_openssl":%s,"pct_sigs_of_openssl":%s,"sha256_mib_per_s":%s,' \
	"$SF_PER_MS" "$SF_FIXED_MS" "$RATIO" "$SSL_RSA" "$SSL_RSA1" "$SSL_RSA2" "$PCT" "$PCT_SIG" "$(calc "$SSL_SHA / 1048576" 0)"
printf '"dry_run_s":%s,"est_rsa_s":%s,"est_sha256_s":%s,"ceiling_files_per_s":%s,"copy_ceiling_ratio":%s,"identical":%s,"target_ratio":"%s","target_openssl":"%s"}\n' \
	"$DRY_S" "$EST_RSA" "$EST_SHA" "$CEIL" "$COPY_CEIL" "$IDENT" "$PASS_RATIO" "$PASS_PCT"
