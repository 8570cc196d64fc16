#!/bin/bash
# cmake --install into a temporary prefix; build a program with pkg-config.
set -eu
B=$1
P=$(mktemp -d /tmp/fwsign-install.XXXXXX)
trap 'rm -rf "$P"' EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*" >&2; fi; }
cmake --install "$B" --prefix "$P" >/dev/null
lib=$(ls -d "$P"/lib*)
for f in bin/fwsign include/fwsign/fwsign.h share/man/man1/fwsign.1; do
	ok test -e "$P/$f"
done
ok test -e "$(find "$lib" -name 'libfwsign.so.0*' | head -1)"
pc=$(find "$lib" -name fwsign.pc | head -1)
ok test -n "$pc"
cat >"$P/t.c" <<'C'
#include <fwsign/fwsign.h>
#include <stdio.h>
int main(void) { puts(fw_kind_name(FW_KIND_MODULE)); return 0; }
C
export PKG_CONFIG_PATH=$(dirname "$pc")
sed -i "s|^prefix=.*|prefix=$P|; s|^libdir=.*|libdir=$(dirname "$(dirname "$pc")")|; s|^includedir=.*|includedir=$P/include|" "$pc"
san=
ldd "$(find "$lib" -name 'libfwsign.so.0*' | head -1)" | grep -q libasan && san=-fsanitize=address,undefined
ok cc $san "$P/t.c" -o "$P/t" $(pkg-config --cflags --libs fwsign)
ok test "$(LD_LIBRARY_PATH=$(dirname "$(dirname "$pc")") "$P/t")" = kernel-module
ok test "$("$P/bin/fwsign" --version)" = "fwsign 0.1.0"
# tar and cpio: the module installed beside the library is found there.
ok test -e "$lib/libfwsign/fwsign-archive.so"
mkdir "$P/tree" && echo x >"$P/tree/f" && tar -cf "$P/t.tar" -C "$P/tree" .
ok test "$("$P/bin/fwsign" info "$P/t.tar" | head -1)" = "$P/t.tar: tar"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
