#!/bin/bash
# The main job on a built-in sample: install, build, make a vendor key, build
# a small firmware-like tree from this machine's own binaries plus a real
# Debian kernel module, sign it, verify it and print the report; then the
# same as a squashfs firmware image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
FWSIGN=$PWD/build/fwsign
FIX=${FWSIGN_FIXTURES:-/var/cache/fwsign-fixtures}
FWSIGN_FIXTURE_ARCHES=amd64 tests/fixtures/fetch.sh "$FIX" >/dev/null

D=${DEMO_DIR:-$PWD/out/demo}
rm -rf "$D"
mkdir -p "$D"
R=$D/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,etc/init.d,lib/modules/6.1/kernel,dev,tmp}
cp /bin/busybox "$R/bin/busybox"
for a in sh ls cat mount; do ln -s busybox "$R/bin/$a"; done
for b in /usr/bin/env /usr/bin/id /usr/bin/stat; do
	cp "$b" "$R/usr/bin/"
	# and the shared libraries they load
	for l in $(ldd "$b" | grep -o '/[^ ]*'); do
		mkdir -p "$R$(dirname "$l")"; cp -n "$l" "$R$l"
	done
done
cp /usr/bin/passwd "$R/usr/bin/passwd" && chmod 4755 "$R/usr/bin/passwd"
cp "$(find "$FIX/amd64/modules" -name 'cast6_generic.ko')" "$R/lib/modules/6.1/kernel/"
printf '#!/bin/sh\nmount -t proc proc /proc\nexec /bin/sh\n' >"$R/etc/init.d/rcS"
chmod 755 "$R/etc/init.d/rcS"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"

"$FWSIGN" keygen -o "$D/vendor" --rsa 3072 --subject "Demo Vendor firmware signing" >/dev/null
echo "== fwsign info $R"
"$FWSIGN" info "$R"
echo "== fwsign sign $R -o $D/signed"
"$FWSIGN" sign "$R" -o "$D/signed" --key "$D/vendor.key" --cert "$D/vendor.crt" --json >"$D/report.json"
python3 - "$D/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for f in r["files"]:
    if f["kind"] != "not-elf":
        print(f"  {f['action']:8} {f['kind']:15} {f['machine'] or '':8} {f['class'] or ''}"
              f" {f['endian'] or '':6} {f['bytes_added']:+6d} {f['path']}")
s = r["summary"]
print(f"  {s['signed']} signed, {s['resigned']} re-signed, {s['skipped']} skipped,"
      f" {s['not_elf']} other files copied unchanged, {s['bytes_added']} bytes added"
      f" in {s['seconds']:.2f} s")
PY
echo "== fwsign verify $D/signed --cert $D/vendor.der"
"$FWSIGN" verify "$D/signed" --cert "$D/vendor.der"
echo "== the kernel's own view of the module"
modinfo -F signer "$D/signed/lib/modules/6.1/kernel/cast6_generic.ko" | sed 's/^/  signer: /'
echo "== the same tree as a squashfs firmware image (xz, 128K blocks)"
mksquashfs "$R" "$D/rootfs.sqfs" -comp xz -b 128K -noappend -quiet >/dev/null
"$FWSIGN" info "$D/rootfs.sqfs" | head -1
"$FWSIGN" sign "$D/rootfs.sqfs" -o "$D/rootfs.signed.sqfs" --key "$D/vendor.key" --cert "$D/vendor.crt"
"$FWSIGN" verify "$D/rootfs.signed.sqfs" --cert "$D/vendor.der"
unsquashfs -s "$D/rootfs.signed.sqfs" | grep -E "^(Compression|Block size|Filesystem size)" | sed 's/^/  /'
echo "report: $D/report.json"
