#!/bin/bash
# Every file of five architectures is classified as binutils' readelf (an
# independent ELF parser) says it should be: kind, machine, class, byte order.
. "$(dirname "$0")/lib.sh"
need_fixtures
command -v readelf >/dev/null || { fail "readelf missing (binutils)"; done_tests; }

declare -A MACH=([amd64]=x86_64 [arm64]=aarch64 [armhf]=arm [mips64el]=mips [s390x]=s390)
declare -A CLASS=([amd64]=ELF64 [arm64]=ELF64 [armhf]=ELF32 [mips64el]=ELF64 [s390x]=ELF64)
declare -A ENDIAN=([amd64]=little [arm64]=little [armhf]=little [mips64el]=little [s390x]=big)

for arch in $ARCHES; do
	"$FWSIGN" info "$FIXTURES/$arch" --json >"$WORK/$arch.json" ||
		{ fail "info $arch"; continue; }
	python3 - "$FIXTURES/$arch" "$WORK/$arch.json" "${MACH[$arch]}" \
		"${CLASS[$arch]}" "${ENDIAN[$arch]}" <<'PY'
import json, subprocess, sys, os
root, report, mach, cls, endian = sys.argv[1:]
rep = json.load(open(report))
bad = 0
seen = {}
for f in rep["files"]:
    path = os.path.join(root, f["path"])
    with open(path, "rb") as fh:
        is_elf = fh.read(4) == b"\x7fELF"
    if not is_elf:
        want = "not-elf"
    else:
        out = subprocess.run(["readelf", "-hldSW", path], capture_output=True,
                             text=True).stdout
        typ = next(l.split(":")[1].split()[0] for l in out.splitlines()
                   if l.strip().startswith("Type:"))
        pie = "Flags: PIE" in out or ("FLAGS_1" in out and " PIE" in out)
        interp = "Requesting program interpreter" in out
        soname = "(SONAME)" in out
        dynamic = "(NEEDED)" in out or soname or "Dynamic section" in out
        if typ == "EXEC":
            want = "executable"
        elif typ == "DYN":
            want = "executable" if pie or (interp and not soname) else "shared-library"
        elif typ == "REL":
            want = ("kernel-module" if " .modinfo " in out and
                    ".gnu.linkonce.this_module" in out else "other-elf")
        else:
            want = "other-elf"
        if f["machine"] != mach or f["class"] != cls or f["endian"] != endian:
            print(f"FAIL {f['path']}: {f['machine']} {f['class']} {f['endian']}",
                  file=sys.stderr)
            bad += 1
    if f["kind"] != want:
        print(f"FAIL {f['path']}: fwsign says {f['kind']}, readelf {want}",
              file=sys.stderr)
        bad += 1
    seen[f["kind"]] = seen.get(f["kind"], 0) + 1
print(f"{os.path.basename(root)}: {seen}")
# Known answers, whatever the rule above says.
kinds = {f["path"]: f["kind"] for f in rep["files"]}
for p, k in [("bin/busybox", "executable"), ("lib/libc.so.6", "shared-library"),
             ("lib/libm.so.6", "shared-library")]:
    if kinds.get(p) != k:
        print(f"FAIL known answer {p}: {kinds.get(p)} != {k}", file=sys.stderr)
        bad += 1
if not all(k == "kernel-module" for p, k in kinds.items() if p.endswith(".ko")):
    print("FAIL a .ko is not a kernel-module", file=sys.stderr); bad += 1
if seen.get("kernel-module", 0) < 100 or seen.get("not-elf", 0) < 3:
    print(f"FAIL too few modules or data files: {seen}", file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
PY
	check "$arch classified like readelf" [ $? -eq 0 ]
done
done_tests
