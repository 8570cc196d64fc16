#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/batch.sh: how long does `fwsign batch DIR -o OUTDIR --jobs 2` take
# to sign a release of 20 images, against 20 `fwsign sign` runs one after
# the other (target: at most 0.6x the wall time), and does its peak memory
# stay independent of the number of images (5, 10, 20; see Memory below)?
#
#   bench/batch.sh [--release variants|distinct] [--runs N] [--jobs N]
#                  [--sample-ms N] [--rebuild]
#
# --release variants (the default) is what a vendor's release is: the
# firmware of 20 devices of one family, the same userland in each (a base
# tree of 24 MiB, 60% ELF files and 40% data) plus files of each device's
# own (2.4 MiB: drivers, board tools; in no other image), the kinds in the
# mix below, one after the other.  fwsign batch shares the squashfs blocks
# the images have in common between its children (--cache), and the
# sequential loop is fwsign sign run on each image as it stands today.
# --release distinct is the worst case for batch: no file in two images,
# described next (cached in $BENCH_DIR/batch/in).
#
# The release (built once, cached in $BENCH_DIR/batch/in, default
# /var/tmp/fwsign-bench/batch/in; --rebuild makes it again): 20 images in
# 4 groups of 5, every group the same mix of kinds and sizes:
#   squashfs xz  256K blocks, a tree of 48 MiB   (about 20 MB image)
#   ext4         a tree of 11 MiB, image 1.35x   (about 19 MB)
#   squashfs zstd 128K blocks, a tree of 24 MiB  (about 10 MB)
#   ext4         a tree of 4 MiB                 (about 9 MB)
#   squashfs gzip 128K blocks, a tree of 8 MiB   (about 3 MB)
# Each tree is 60% ELF executables and shared libraries (/usr/bin,
# /usr/sbin, /usr/libexec, /usr/lib/x86_64-linux-gnu; none over 8 MiB) and
# 40% data files of /usr/share (none over 4 MiB), both lists shuffled
# with a fixed seed and never reused, so no two images hold the same file.
# Images are mksquashfs -mkfs-time 1700000000 and mke2fs -t ext4 -d
# (E2FSPROGS_FAKE_TIME=1700000000).
#
# Timing (all images read once first, so the page cache is warm for both;
# every run writes a fresh output directory, synced and removed after it,
# outside the timing; the two contenders alternate, which goes first
# switching from run to run; --runs N, default 5, medians count):
#   sequential  for each image: fwsign sign IMG -o OUT/IMG --key K --cert C
#               (fwsign's default --jobs: all cores)
#   batch       fwsign batch DIR -o OUT --key K --cert C --jobs 2 (--jobs)
#   (for scale, not the target: the sequential loop with --jobs 1, as
#   batch's children run)
# Wall and user+sys CPU from /usr/bin/time around the whole loop / batch.
# The outputs of the first run are checked: fwsign verify on each, and
# batch's output compared byte for byte with the sequential one.  Where
# batch's time goes: the CPU time both need spread over all cores (the
# floor), batch's children back to back on --jobs slots (their median
# times from batch's report, in name order), and SHA-256 of every input
# (openssl dgst, one core), which batch did before its first child until
# session 9 and now does on a thread beside its children.
#
# Memory (separate runs, not timed): fwsign batch on the first 5, 10 and
# 20 images (hard links in a directory of their own), each run twice:
#   max process  GNU time's %M: the largest peak RSS of batch and of any
#                child it waited for (wait4 gives RUSAGE_BOTH)
#   tree RSS     the largest sum of RSS over batch and its live children,
#                sampled from /proc every --sample-ms (default 5) ms by a
#                python3 sampler; tree PSS the same for PSS
#                (smaps_rollup), which does not count shared pages twice;
#                parent and largest child: their own peaks (sampled)
# and each image signed alone by fwsign sign as batch's child runs it
# (--jobs NCPU/JOBS), for its own peak RSS.  The images differ, so a
# bigger set may hold a bigger image: the target is that (a) batch's own
# peak for 20 images is at most 10% above its peak for 5, and (b) for 5,
# 10 and 20 no process peaks more than 10% above the largest image of the
# set signed alone.  The tree's peak then depends on the --jobs largest
# images (shown as parent + 2 alone), not on their number.  For scale:
# GNU time's %M of the 20 sequential runs.
#
# Environment: BENCH_DIR (default /var/tmp/fwsign-bench), FWSIGN (default:
# build the Release tree build-bench).  Needs mksquashfs, mke2fs, python3.
set -euo pipefail
export LC_ALL=C

BENCH_NAME=batch-bench
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=5
JOBS=2
SAMPLE_MS=5
REBUILD=0
TARGET=0.6
RSS_SLACK=1.10
RELEASE=variants

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--sample-ms) SAMPLE_MS=$2; shift ;;
	--rebuild) REBUILD=1 ;;
	--release) RELEASE=$2; shift ;;
	-h|--help) usage 0 ;;
	*) unknown_option "$1" ;;
	esac
	shift
done
[[ $RELEASE = variants || $RELEASE = distinct ]] || die "bad --release '$RELEASE'"
[[ $RUNS =~ ^[1-9][0-9]*$ && $JOBS =~ ^[1-9][0-9]*$ && $SAMPLE_MS =~ ^[1-9][0-9]*$ ]] ||
	die "bad --runs/--jobs/--sample-ms"
needs mksquashfs mke2fs python3 cmp
[ -x /usr/bin/time ] || die "needs /usr/bin/time (package time)"
bench_fwsign

BASE=${BENCH_DIR:-/var/tmp/fwsign-bench}/batch
IN=$BASE/in
[ "$RELEASE" = variants ] && IN=$BASE/in-variants
W=$BASE/runs
mkdir -p "$IN"
rm -rf "$W" && mkdir -p "$W"

# ------------------------------------------------------------------ inputs
PARAMS="v2 groups=4 mix=xz48,ext11,zstd24,ext4,gzip8 elf=60"
[ "$RELEASE" = variants ] && PARAMS="v3 variants base=24 own=2.4 mix=xz,ext4,zstd,ext4,gzip elf=60"
if [ "$REBUILD" = 1 ] || [ "$(cat "$IN/params" 2>/dev/null)" != "$PARAMS" ] ||
   [ "$(ls "$IN/images" 2>/dev/null | wc -l)" != 20 ]; then
	rm -rf "${IN:?}"/* && mkdir -p "$IN/images" "$IN/lists"
	say "picking the files of 20 images"
	python3 - "$IN/lists" "$RELEASE" >"$IN/plan" <<'PY'
import os, random, sys
outdir, release = sys.argv[1], sys.argv[2]
def pool(roots, want_elf, maxsize):
    seen, out = set(), []
    paths = []
    for root in roots:
        for d, _, names in os.walk(root):
            paths += [os.path.join(d, n) for n in names]
    for p in sorted(paths):
        try:
            st = os.lstat(p)
            if not os.path.isfile(p) or os.path.islink(p) or st.st_size > maxsize or st.st_size == 0:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            with open(p, 'rb') as f:
                h = f.read(18)
            elf = h[:4] == b'\x7fELF' and int.from_bytes(h[16:18], 'little') in (2, 3)
            if elf != want_elf or (not want_elf and h[:4] == b'\x7fELF'):
                continue
        except OSError:
            continue
        seen.add((st.st_dev, st.st_ino))
        out.append((p[1:], st.st_size))
    random.Random(20251127).shuffle(out)
    return out
elf = pool(['/usr/bin', '/usr/sbin', '/usr/libexec', '/usr/lib/x86_64-linux-gnu'], True, 8 << 20)
data = pool(['/usr/share'], False, 4 << 20)
cur = {'elf': 0, 'data': 0}
def take(name, p, budget):
    got, total = [], 0
    while total < budget and cur[name] < len(p):
        path, size = p[cur[name]]
        cur[name] += 1
        if total + size > budget * 1.05:
            continue
        got.append(path)
        total += size
    if total < budget * 0.9:
        sys.exit('not enough %s files' % name)
    return got, total
mix = [('sqfs', 'xz', '256K', 48), ('ext4', '-', '-', 11), ('sqfs', 'zstd', '128K', 24),
       ('ext4', '-', '-', 4), ('sqfs', 'gzip', '128K', 8)]
if release == 'variants':
    base_e, ne = take('elf', elf, (24 << 20) * 60 // 100)
    base_d, nd = take('data', data, (24 << 20) * 40 // 100)
    for i in range(1, 21):
        kind, comp, block, _ = mix[(i - 1) % len(mix)]
        name = 'dev%02d-%s%s.%s' % (i, kind, '' if comp == '-' else '-' + comp, kind)
        a, na = take('elf', elf, (24 << 20) * 6 // 100)
        b, nb = take('data', data, (24 << 20) * 4 // 100)
        with open(os.path.join(outdir, name), 'w') as f:
            f.write('\n'.join(base_e + a + base_d + b) + '\n')
        print(name, kind, comp, block, ne + nd + na + nb, len(base_e) + len(a), len(base_d) + len(b))
    sys.exit(0)
for g in range(4):
    for k, (kind, comp, block, mb) in enumerate(mix):
        i = g * len(mix) + k + 1
        name = 'img%02d-%s%s.%s' % (i, kind, '' if comp == '-' else '-' + comp, kind)
        a, na = take('elf', elf, (mb << 20) * 60 // 100)
        b, nb = take('data', data, (mb << 20) * 40 // 100)
        with open(os.path.join(outdir, name), 'w') as f:
            f.write('\n'.join(a + b) + '\n')
        print(name, kind, comp, block, na + nb, len(a), len(b))
PY
	while read -r name kind comp block bytes nelf ndata; do
		say "making $name ($nelf ELF + $ndata data files, $((bytes >> 20)) MiB)"
		rm -rf "$IN/tree" && mkdir "$IN/tree"
		(cd / && tar cf - -T "$IN/lists/$name") | (cd "$IN/tree" && tar xf -)
		if [ "$kind" = sqfs ]; then
			mksquashfs "$IN/tree" "$IN/images/$name" -comp "$comp" -b "$block" \
				-mkfs-time 1700000000 -noappend -quiet -no-progress >/dev/null
		else
			kb=$(du -sk "$IN/tree" | cut -f1)
			E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -d "$IN/tree" \
				"$IN/images/$name" "$(( kb * 135 / 100 + 2048 ))k" >"$IN/mkfs.txt" 2>&1 ||
				{ cat "$IN/mkfs.txt" >&2; die "mke2fs $name failed"; }
		fi
	done <"$IN/plan"
	rm -rf "$IN/tree"
	echo "$PARAMS" >"$IN/params"
fi
[ -s "$IN/key.key" ] || "$FWSIGN" keygen -o "$IN/key" --rsa 2048 >/dev/null
mapfile -t IMAGES < <(ls "$IN/images")
[ "${#IMAGES[@]}" = 20 ] || die "expected 20 images in $IN/images"
for n in 5 10 20; do
	rm -rf "$W/set$n" && mkdir "$W/set$n"
	for f in "${IMAGES[@]:0:$n}"; do ln "$IN/images/$f" "$W/set$n/$f"; done
done
TOTAL_MB=$(du -smc --apparent-size "$IN/images"/* | tail -1 | cut -f1)

# ------------------------------------------------------------------ timing
KEYS=(--key "$IN/key.key" --cert "$IN/key.crt")
cat >"$W/seq.sh" <<'SH'
set -e
fw=$1 dir=$2 out=$3 times=$4; shift 4
mkdir "$out"
: >"$times"
for f in "$dir"/*; do
	t0=$EPOCHREALTIME
	"$fw" sign "$f" -o "$out/${f##*/}" "$@" >/dev/null
	echo "${f##*/} $t0 $EPOCHREALTIME" >>"$times"
done
SH
# timed NAME command...: "wall cpu rss_mib" into $W/NAME
timed() {
	local name=$1; shift
	/usr/bin/time -f '%e %U %S %M' -o "$W/$name.t" "$@" >"$W/$name.out" 2>"$W/$name.err" ||
		{ cat "$W/$name.err" >&2; die "$name failed: $*"; }
	awk '{ printf "%.3f %.3f %.0f\n", $1, $2 + $3, $4 / 1024 }' "$W/$name.t" >"$W/$name"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
settle() { sync; rm -rf "$1"; sync; }
run_seq() { timed "seq.$1" bash "$W/seq.sh" "$FWSIGN" "$W/set20" "$W/out.seq.$1" "$W/seq-times.$1" "${KEYS[@]}"; }
run_batch() { timed "batch.$1" "$FWSIGN" batch "$W/set20" -o "$W/out.batch.$1" "${KEYS[@]}" --jobs "$JOBS"; }
# for scale, not the target: the same loop with fwsign sign --jobs 1
run_seq1() { timed "seq1.$1" bash "$W/seq.sh" "$FWSIGN" "$W/set20" "$W/out.seq1.$1" "$W/seq1-times.$1" "${KEYS[@]}" --jobs 1; }

cat "$IN/images"/* >/dev/null
"$FWSIGN" --version >/dev/null
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average $LOAD0; $RUNS runs of each"
for r in $(seq "$RUNS"); do
	case $((r % 3)) in
	1) order="seq batch seq1" ;;
	2) order="batch seq1 seq" ;;
	0) order="seq1 seq batch" ;;
	esac
	for c in $order; do
		say "run $r: $c"
		"run_$c" "$r"
		[ "$c" = batch ] && cp "$W/out.batch.$r/fwsign-batch.json" "$W/batch-report.$r.json"
		[ "$r" = 1 ] || settle "$W/out.$c.$r"
	done
	if [ "$r" = 1 ]; then
		say "checking the outputs of run 1"
		same=0
		for f in "${IMAGES[@]}"; do
			"$FWSIGN" verify "$W/out.batch.1/$f" --cert "$IN/key.crt" >/dev/null ||
				die "batch output $f does not verify"
			"$FWSIGN" verify "$W/out.seq.1/$f" --cert "$IN/key.crt" >/dev/null ||
				die "sequential output $f does not verify"
			cmp -s "$W/out.batch.1/$f" "$W/out.seq.1/$f" && same=$((same + 1))
		done
		OUT_MB=$(du -smc --apparent-size "${IMAGES[@]/#/$W/out.seq.1/}" | tail -1 | cut -f1)
		settle "$W/out.seq.1"
		settle "$W/out.seq1.1"
		settle "$W/out.batch.1"
	fi
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
# what batch hashes beside its children (before its first child until
# session 9): SHA-256 of every input, in turn
timed hashin openssl dgst -sha256 "$IN/images"/*

# ------------------------------------------------------------------ memory
cat >"$W/sampler.py" <<'PY'
# sampler.py MS OUT command...: run the command, sample the RSS and PSS of
# it and its descendants every MS ms; print "tree_rss tree_pss parent_rss
# max_child_rss procs" (KiB) into OUT.  The command is GNU time, so its
# child is the measured process ("parent").
import os, subprocess, sys, time
ms, out, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
page = os.sysconf('SC_PAGE_SIZE') // 1024
p = subprocess.Popen(cmd)
tracked, other = {p.pid: 0}, set()
peak = {'rss': 0, 'pss': 0, 'parent': 0, 'child': 0}
seen = set()
def ppid(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[1])
while p.poll() is None:
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        pid = int(d)
        if pid in tracked or pid in other:
            continue
        try:
            pp = ppid(pid)
        except (OSError, IndexError, ValueError):
            continue
        if pp in tracked:
            tracked[pid] = tracked[pp] + 1
        else:
            other.add(pid)
    rss = pss = 0
    for pid, depth in list(tracked.items()):
        try:
            with open('/proc/%d/statm' % pid) as f:
                r = int(f.read().split()[1]) * page
            with open('/proc/%d/smaps_rollup' % pid) as f:
                s = next((int(l.split()[1]) for l in f if l.startswith('Pss:')), 0)
        except (OSError, ValueError):
            continue
        if depth == 0:
            continue	# GNU time itself
        seen.add(pid)
        rss += r
        pss += s
        if depth == 1:
            peak['parent'] = max(peak['parent'], r)
        else:
            peak['child'] = max(peak['child'], r)
    peak['rss'] = max(peak['rss'], rss)
    peak['pss'] = max(peak['pss'], pss)
    time.sleep(ms / 1000)
with open(out, 'w') as f:
    print(peak['rss'], peak['pss'], peak['parent'], peak['child'], len(seen), file=f)
sys.exit(p.returncode)
PY
for n in 5 10 20; do
	for r in 1 2; do
		say "memory: batch of $n, run $r"
		python3 "$W/sampler.py" "$SAMPLE_MS" "$W/mem.$n.$r.s" \
			/usr/bin/time -f '%e %U %S %M' -o "$W/mem.$n.$r.t" \
			"$FWSIGN" batch "$W/set$n" -o "$W/out.mem.$n.$r" "${KEYS[@]}" --jobs "$JOBS" \
			>/dev/null 2>"$W/mem.err" || { cat "$W/mem.err" >&2; die "batch of $n failed"; }
		settle "$W/out.mem.$n.$r"
	done
done
# each image alone, as batch's child signs it (--jobs NCPU / JOBS)
CHILD_JOBS=$(( NCPU > JOBS ? NCPU / JOBS : 1 ))
for f in "${IMAGES[@]}"; do
	say "memory: $f alone (--jobs $CHILD_JOBS)"
	timed "alone.$f" "$FWSIGN" sign "$IN/images/$f" -o "$W/alone.out" "${KEYS[@]}" --jobs "$CHILD_JOBS"
	rm -f "$W/alone.out"
done
LOAD2=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report
col() { for r in $(seq "$RUNS"); do awk -v c="$3" '{ print $c }' "$W/$1.$r"; done; }
S_W=$(col seq "$RUNS" 1 | median); S_C=$(col seq "$RUNS" 2 | median); S_M=$(col seq "$RUNS" 3 | sort -n | tail -1)
B_W=$(col batch "$RUNS" 1 | median); B_C=$(col batch "$RUNS" 2 | median); B_M=$(col batch "$RUNS" 3 | sort -n | tail -1)
S1_W=$(col seq1 "$RUNS" 1 | median); S1_C=$(col seq1 "$RUNS" 2 | median); S1_M=$(col seq1 "$RUNS" 3 | sort -n | tail -1)
RATIO=$(calc "$B_W / $S_W" 3)
OK_T=$(awk -v x="$RATIO" -v t="$TARGET" 'BEGIN { print (x <= t) ? "PASS" : "FAIL" }')
printf '\nfwsign batch vs sequential fwsign sign: %d CPUs, %s\n' "$NCPU" "$("$FWSIGN" --version 2>/dev/null | head -1)"
printf 'release (%s): 20 images, %d MiB in, %d MiB out; %d of 20 batch outputs byte-identical to the sequential ones\n' \
	"$RELEASE" "$TOTAL_MB" "$OUT_MB" "$same"
printf 'load average: %s at the start, %s after the timings, %s after the memory runs\n' "$LOAD0" "$LOAD1" "$LOAD2"
python3 - "$W" "$IN/images" "$RUNS" "$JOBS" <<'PY'
import json, os, statistics, sys
w, imgdir, runs, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
seq, bat = {}, {}
for r in range(1, runs + 1):
    for l in open('%s/seq-times.%d' % (w, r)):
        n, t0, t1 = l.split()
        seq.setdefault(n, []).append(float(t1) - float(t0))
    for im in json.load(open('%s/batch-report.%d.json' % (w, r)))['images']:
        bat.setdefault(im['name'], []).append(im['seconds'])
print('\n  per image, medians: "sign" = one fwsign sign (all cores), "in batch" = its child (--jobs 1)')
print('  %-24s %7s %8s %9s' % ('image', 'MB', 'sign s', 'in batch'))
for n in sorted(seq):
    mb = os.path.getsize(os.path.join(imgdir, n)) / 1e6
    print('  %-24s %7.1f %8.3f %9.3f' % (n, mb, statistics.median(seq[n]), statistics.median(bat[n])))
print('  %-24s %7s %8.3f %9.3f' % ('sum', '', sum(statistics.median(v) for v in seq.values()),
                                   sum(statistics.median(v) for v in bat.values())))
# the children back to back, in name order, on JOBS slots: batch's wall
# time if it had no work of its own and nothing waited
slots = [0.0] * jobs
for n in sorted(bat):
    i = slots.index(min(slots))
    slots[i] += statistics.median(bat[n])
with open('%s/makespan' % w, 'w') as f:
    print('%.3f' % max(slots), file=f)
PY
printf '\n  %-44s %8s %8s %8s   %s\n' "" "wall s" "CPU s" "RSS MiB" "all runs (wall s)"
printf '  %-44s %8s %8s %8s   %s\n' "20 x fwsign sign, one after the other" "$S_W" "$S_C" "$S_M" "$(col seq "$RUNS" 1 | tr '\n' ' ')"
printf '  %-44s %8s %8s %8s   %s\n' "fwsign batch --jobs $JOBS" "$B_W" "$B_C" "$B_M" "$(col batch "$RUNS" 1 | tr '\n' ' ')"
printf '  %-44s %8s %8s %8s   %s\n' "(20 x fwsign sign --jobs 1, for scale)" "$S1_W" "$S1_C" "$S1_M" "$(col seq1 "$RUNS" 1 | tr '\n' ' ')"
printf '  batch / sequential: %sx (target <= %sx)   %s\n' "$RATIO" "$TARGET" "$OK_T"
printf '  (batch / sequential --jobs 1: %sx)\n' "$(calc "$B_W / $S1_W" 3)"
printf '  where the time goes: the CPU both need, spread over %d cores: sequential %s s, batch %s s\n' \
	"$NCPU" "$(calc "$S_C / $NCPU" 2)" "$(calc "$B_C / $NCPU" 2)"
printf '    sequential: %s s of wall is %.0f%% of %d cores busy\n' "$S_W" "$(calc "100 * $S_C / $S_W / $NCPU" 1)" "$NCPU"
printf '    batch: children back to back on %d slots %s s; SHA-256 of all inputs (beside the children) %s s (openssl, one core)\n' \
	"$JOBS" "$(cat "$W/makespan")" "$(awk '{ print $1 }' "$W/hashin")"
printf '    target %sx of sequential = %s s, under the CPU floor of %s s unless batch needs %.0f%% less CPU\n' \
	"$TARGET" "$(calc "$TARGET * $S_W" 2)" "$(calc "$B_C / $NCPU" 2)" \
	"$(calc "100 * (1 - $TARGET * $S_W * $NCPU / $B_C)" 1)"

# KiB: the largest over the two runs of field F of the sampler (1 tree RSS,
# 2 tree PSS, 3 parent, 4 largest child) or of GNU time (M)
mem() {
	local n=$1 f=$2 r
	for r in 1 2; do
		if [ "$f" = M ]; then tail -1 "$W/mem.$n.$r.t" | awk '{ print $4 }'
		else awk -v c="$f" '{ print $c }' "$W/mem.$n.$r.s"; fi
	done | sort -n | tail -1
}
# KiB: the largest (or the two largest, summed) RSS of the first N images alone
alone() { for f in "${IMAGES[@]:0:$1}"; do awk '{ print $3 * 1024 }' "$W/alone.$f"; done | sort -rn | head -"$2" | awk '{ s += $1 } END { print s }'; }
mib() { calc "$1 / 1024" 1; }
printf '\n  peak memory of fwsign batch --jobs %s (MiB; the larger of 2 runs)\n' "$JOBS"
printf '  %-7s %13s %12s %12s %10s %10s %10s %14s\n' images "largest alone" "max process" "largest child" parent "tree RSS" "tree PSS" "parent+2 alone"
for n in 5 10 20; do
	printf '  %-7s %13s %12s %12s %10s %10s %10s %14s\n' "$n" "$(mib "$(alone "$n" 1)")" \
		"$(mib "$(mem "$n" M)")" "$(mib "$(mem "$n" 4)")" "$(mib "$(mem "$n" 3)")" \
		"$(mib "$(mem "$n" 1)")" "$(mib "$(mem "$n" 2)")" \
		"$(mib "$(( $(mem "$n" 3) + $(alone "$n" 2) ))")"
done
P5=$(mem 5 3); P20=$(mem 20 3)
OK_P=$(awk -v a="$P5" -v b="$P20" -v s="$RSS_SLACK" 'BEGIN { print (b <= a * s) ? "PASS" : "FAIL" }')
OK_C=PASS
for n in 5 10 20; do
	a=$(alone "$n" 1); p=$(mem "$n" 3); m=$(mem "$n" M)
	awk -v m="$m" -v a="$a" -v p="$p" -v s="$RSS_SLACK" \
		'BEGIN { exit !(m <= (a > p ? a : p) * s) }' || OK_C=FAIL
done
OK_M=$([ "$OK_P" = PASS ] && [ "$OK_C" = PASS ] && echo PASS || echo FAIL)
printf '  batch itself: %s MiB for 5 images, %s MiB for 20 (target: at most %sx)   %s\n' \
	"$(mib "$P5")" "$(mib "$P20")" "$RSS_SLACK" "$OK_P"
printf '  no process above the largest image signed alone (x%s), for 5, 10 and 20   %s\n' "$RSS_SLACK" "$OK_C"
printf '  tree RSS for 20 / for 5: %sx (it follows the two largest images run together, not their count)\n' \
	"$(calc "$(mem 20 1) / $(mem 5 1)" 2)"
printf '  peak RSS independent of the number of images: %s\n' "$OK_M"
printf '  (20 sequential fwsign sign: max process %s MiB)\n' "$S_M"

printf 'BENCH {"bench":"batch","release":"%s","images":20,' "$RELEASE"
printf '"mib_in":%d,"jobs":%d,"cpus":%d,"runs":%d,' \
	"$TOTAL_MB" "$JOBS" "$NCPU" "$RUNS"
printf '"sequential":{"wall":%s,"cpu":%s,"rss_mib":%s},"batch":{"wall":%s,"cpu":%s,"rss_mib":%s},' \
	"$S_W" "$S_C" "$S_M" "$B_W" "$B_C" "$B_M"
printf '"sequential_jobs1":{"wall":%s,"cpu":%s},"input_sha256_s":%s,"children_makespan_s":%s,' \
	"$S1_W" "$S1_C" "$(awk '{ print $1 }' "$W/hashin")" "$(cat "$W/makespan")"
printf '"ratio":%s,"target_time":"%s",' "$RATIO" "$OK_T"
printf '"tree_rss_kib":{"5":%d,"10":%d,"20":%d},' "$(mem 5 1)" "$(mem 10 1)" "$(mem 20 1)"
printf '"max_process_kib":{"5":%d,"10":%d,"20":%d},' "$(mem 5 M)" "$(mem 10 M)" "$(mem 20 M)"
printf '"parent_kib":{"5":%d,"10":%d,"20":%d},' "$P5" "$(mem 10 3)" "$P20"
printf '"largest_alone_kib":{"5":%d,"10":%d,"20":%d},"target_rss":"%s",' "$(alone 5 1)" "$(alone 10 1)" "$(alone 20 1)" "$OK_M"
printf '"load":["%s","%s","%s"]}\n' "$LOAD0" "$LOAD1" "$LOAD2"
