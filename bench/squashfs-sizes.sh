# SPDX-License-Identifier: GPL-2.0-or-later
# bench/squashfs-sizes.sh: bench/squashfs.sh --sizes, sourced from it
# (which sets FWSIGN, W, JOBS, SIZES, CACHE, timed and signloop).
# shellcheck shell=bash

needs openssl flock
mkdir -p "$CACHE"
R=$CACHE/run.$$
mkdir -p "$R"
if [ "$KEEP" = 1 ]; then trap 'rm -rf "$W"' EXIT; else trap 'rm -rf "$W" "$R"' EXIT; fi
opts=(-comp xz -b 256K -mkfs-time 1700000000 -noappend -quiet -no-progress)

say "openssl speed (RSA-2048 sign, SHA-256), one core"
SSL_RSA=$(cd "$W" && openssl speed -seconds 1 rsa2048 2>/dev/null |
	awk '$1 == "rsa" && $2 == 2048 && $3 == "bits" { v = $6 } END { print v }')
SSL_SHA=$(cd "$W" && openssl speed -seconds 1 -bytes 1048576 -evp sha256 2>/dev/null |
	awk '$1 == "sha256" { v = $2 } END { sub(/k$/, "", v); print v * 1000 }')
[ -n "$SSL_RSA" ] && [ -n "$SSL_SHA" ] || die "cannot parse openssl speed"

# the cached tree and image of about $1 MiB
image_of() {
	local mb=$1 d=$CACHE/$1
	if [ ! -s "$d/in.sqfs" ]; then
		say "$mb MiB: tree from /usr and its image (once, kept in $d)"
		rm -rf "$d"
		mkdir -p "$d/tree"
		python3 "$HERE/usr-tree.py" "$mb" >"$d/list"
		(cd / && tar cf - --verbatim-files-from -T "$d/list" 2>/dev/null) |
			(cd "$d/tree" && tar xf -)
		nice mksquashfs "$d/tree" "$d/in.sqfs.tmp" "${opts[@]}" >/dev/null
		mv "$d/in.sqfs.tmp" "$d/in.sqfs"
	fi
}

declare -A RSS XRT
printf '\nfwsign squashfs sizes: xz, 256 KiB blocks, --jobs %s, %d CPUs; openssl: RSA-2048 %s signs/s, SHA-256 %s MB/s (one core)\n' \
	"$JOBS" "$NCPU" "$SSL_RSA" "$(calc "$SSL_SHA / 1e6" 0)"
for mb in $SIZES; do
	image_of "$mb"
	d=$CACHE/$mb
	img=$d/in.sqfs
	tree_b=$(du -sb --apparent-size "$d/tree" | cut -f1)
	nfiles=$(wc -l <"$d/list")
	cat "$img" >/dev/null

	say "$mb MiB: fwsign sign --jobs $JOBS"
	rm -f "$R/out.sqfs"
	FWSIGN_SQFS_PROFILE=1 timed "$R/fw" "$FWSIGN" sign "$img" -o "$R/out.sqfs" \
		--key "$W/key.key" --cert "$W/key.crt" --jobs "$JOBS" --json
	"$FWSIGN" verify "$R/out.sqfs" --cert "$W/key.crt" >/dev/null || die "$mb: verify failed"
	read -r n_signed signed_b < <(python3 - "$R/fw.out" <<'PY'
import json, sys
files = json.load(open(sys.argv[1]))["files"]
s = [f for f in files if f["action"] in ("sign", "re-sign")]
print(len(s), sum(f.get("size", 0) for f in s))
PY
)
	prof=$(grep 'squashfs profile' "$R/fw.err")
	p_dec=$(sed 's/.*decompress \([0-9.]*\) s.*/\1/' <<<"$prof")
	p_zip=$(sed 's/.*compress \([0-9.]*\) s (\([0-9]*\) blocks, \([0-9]*\) bytes), write.*/\1/' <<<"$prof")
	z_blk=$(sed 's/.*compress [0-9.]* s (\([0-9]*\) blocks.*/\1/' <<<"$prof")
	z_b=$(sed 's/.*compress [0-9.]* s ([0-9]* blocks, \([0-9]*\) bytes).*/\1/' <<<"$prof")
	p_out=$(sed 's/.*write \([0-9.]*\) s.*/\1/' <<<"$prof")
	read -r fw_w fw_c fw_m <"$R/fw"
	fw_l=$(cat "$R/fw.load")

	say "$mb MiB: round trip: unsquashfs"
	rm -rf "$R/x" "$R/b.sqfs" "$R/a.sqfs"
	timed "$R/un" unsquashfs -d "$R/x" "$img"
	say "$mb MiB: round trip: mksquashfs"
	timed "$R/mb" mksquashfs "$R/x" "$R/b.sqfs" "${opts[@]}"
	read -r un_w un_c un_m <"$R/un"
	read -r mb_w mb_c mb_m <"$R/mb"
	rt_l="$(cat "$R/un.load")/$(cat "$R/mb.load")"
	rt_w=$(calc "$un_w + $mb_w" 2)
	rt_c=$(calc "$un_c + $mb_c" 2)
	pipe=""
	if [ "$mb" -le "$NOPIPE_OVER" ]; then
		"$FWSIGN" sign "$R/x" --dry-run --json >"$R/plan.json" 2>/dev/null ||
			die "$mb: fwsign --dry-run of the unpacked tree"
		python3 - "$R/plan.json" >"$R/sign.lst" <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["files"]:
    if f["action"] in ("sign", "re-sign"):
        print(f["path"])
PY
		say "$mb MiB: pipeline: sign-file on $(wc -l <"$R/sign.lst") files"
		signloop "$R/x" "$R/sign.lst" "$R/sf"
		say "$mb MiB: pipeline: mksquashfs"
		timed "$R/ma" mksquashfs "$R/x" "$R/a.sqfs" "${opts[@]}"
		read -r sf_w sf_c sf_m <"$R/sf"
		read -r ma_w ma_c ma_m <"$R/ma"
		pipe="$(calc "$un_w + $sf_w + $ma_w" 2) $(calc "$un_c + $sf_c + $ma_c" 2) $(cat "$R/ma.load")"
	fi
	rm -rf "$R/x" "$R/a.sqfs" "$R/b.sqfs"

	# the floor: what fwsign compressed again, at mksquashfs's rate
	mk_rate=$(calc "$tree_b / $mb_c" 0)
	floor_c=$(calc "$z_b / $mk_rate" 2)
	rest=$(calc "$fw_c - $p_dec - $p_zip - $p_out" 2)
	est_sha=$(calc "$signed_b / $SSL_SHA" 2)
	est_rsa=$(calc "$n_signed / $SSL_RSA" 2)
	x_rt=$(calc "$rt_w / $fw_w" 1)
	RSS[$mb]=$fw_m
	XRT[$mb]=$x_rt

	printf '\n%s MiB tree: %d files, %d bytes; image %d bytes; fwsign signs %d ELF files (%d bytes)\n' \
		"$mb" "$nfiles" "$tree_b" "$(stat -c %s "$img")" "$n_signed" "$signed_b"
	printf '  %-46s %8s %8s %8s %6s\n' "" "wall s" "CPU s" "RSS MiB" "load"
	printf '  %-46s %8s %8s %8s %6s\n' "fwsign sign --jobs $JOBS" "$fw_w" "$fw_c" "$fw_m" "$fw_l"
	printf '  %-46s %8s %8s %8s %6s\n' "round trip: unsquashfs + mksquashfs" "$rt_w" "$rt_c" \
		"$(( un_m > mb_m ? un_m : mb_m ))" "$rt_l"
	if [ -n "$pipe" ]; then
		read -r p_w p_c p_l <<<"$pipe"
		printf '  %-46s %8s %8s %8s %6s\n' "pipeline: unsquashfs + sign-file + mksquashfs" "$p_w" "$p_c" \
			"$(printf '%s\n' "$un_m" "$sf_m" "$ma_m" | sort -n | tail -1)" "$p_l"
		[ "$SF_SCALED" = true ] && printf '    SCALED: %s\n' "$SF_NOTE"
	else
		printf '  %-46s %8s\n' "pipeline: unsquashfs + sign-file + mksquashfs" "skipped"
	fi
	printf '  fwsign CPU: decompressing %s s, compressing %s s (%d blocks, %d bytes), writing %s s,\n' \
		"$p_dec" "$p_zip" "$z_blk" "$z_b" "$p_out"
	printf '    the rest %s s (hashing ~%s s and RSA ~%s s at openssl speed, the ELF walk, the tree)\n' \
		"$rest" "$est_sha" "$est_rsa"
	printf '  floor: %d bytes compressed again at mksquashfs'"'"'s %s MB/s per CPU s = %s CPU s (%s s on %d CPUs)\n' \
		"$z_b" "$(calc "$mk_rate / 1e6" 2)" "$floor_c" "$(calc "$floor_c / $NCPU" 2)" "$NCPU"
	printf '  fwsign vs round trip: %sx faster\n' "$x_rt"
	printf 'BENCH {"format":"squashfs","sizes_mib":%d,"files":%d,"signed":%d,"jobs":%s,"fwsign":{"wall":%s,"cpu":%s,"rss_mib":%s,"load":%s},' \
		"$mb" "$nfiles" "$n_signed" "$JOBS" "$fw_w" "$fw_c" "$fw_m" "$fw_l"
	printf '"roundtrip":{"wall":%s,"cpu":%s},"cpu_s":{"decompress":%s,"compress":%s,"write":%s,"rest":%s,"est_sha256":%s,"est_rsa":%s},' \
		"$rt_w" "$rt_c" "$p_dec" "$p_zip" "$p_out" "$rest" "$est_sha" "$est_rsa"
	printf '"recompressed_bytes":%d,"floor_cpu_s":%s,"x_roundtrip":%s}\n' "$z_b" "$floor_c" "$x_rt"
done

lo=$(printf '%s\n' "${RSS[@]}" | sort -n | head -1)
hi=$(printf '%s\n' "${RSS[@]}" | sort -n | tail -1)
spread=$(calc "100 * ($hi - $lo) / $lo" 1)
printf '\nsummary: peak RSS %s MiB (sizes %s)\n' "$(for mb in $SIZES; do printf '%s ' "${RSS[$mb]}"; done)" "$SIZES"
printf '  RSS spread %s%% (target <= 10%%): %s\n' "$spread" \
	"$(awk -v s="$spread" 'BEGIN { print (s <= 10) ? "PASS" : "MISS" }')"
printf '  RSS at most %s MiB at --jobs %s (target <= 128): %s\n' "$hi" "$JOBS" \
	"$(awk -v m="$hi" 'BEGIN { print (m <= 128) ? "PASS" : "MISS" }')"
if [ -n "${XRT[500]:-}" ]; then
	printf '  500 MiB: %sx the round trip (target >= 3x): %s\n' "${XRT[500]}" \
		"$(awk -v x="${XRT[500]}" 'BEGIN { print (x >= 3) ? "PASS" : "MISS" }')"
fi
