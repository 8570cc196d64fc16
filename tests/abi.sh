#!/bin/bash
# The library exports exactly the functions include/fwsign/*.h marks
# FW_API and formats/module.h and src/hmap.h (the hash map) mark
# FW_MODULE_API; the tar/cpio module exactly what module.h marks FW_API
# (its list of formats).  Any symbol
# exported but not declared so, or declared but not exported, fails.
# Usage: abi.sh LIBFWSIGN.so FWSIGN-ARCHIVE.so SRCDIR
set -eu
lib=$1 mod=$2 src=$3
T=$(mktemp -d /tmp/fwsign-abi.XXXXXX)
trap 'rm -rf "$T"' EXIT

# The names a header declares after MACRO (comments and preprocessor
# lines dropped; a declaration runs from MACRO to its ';').
declared() {
	local macro=$1
	shift
	cat "$@" | perl -0777 -ne '
		s{/\*.*?\*/}{}gs;
		s{^[ \t]*#.*$}{}mg;
		while (/\b\Q'"$macro"'\E\b([^;]*);/g) {
			my $rest = $1;
			if ($rest =~ /(\w+)\s*\(/) { print "$1\n" }
			elsif ($rest =~ /(\w+)\s*(\[[^\]]*\])?\s*$/) { print "$1\n" }
		}' | sort -u
}

# Defined, global dynamic symbols (functions and data), but for what
# AddressSanitizer adds beside exported data (__odr_asan.NAME).
exported() {
	nm -D --defined-only "$1" | awk '$2 ~ /^[TDBRVWiu]$/ { print $3 }' |
		sed 's/@.*//' | grep -v '^__odr_asan' | sort -u
}

{
	declared FW_API "$src"/include/fwsign/*.h
	declared FW_MODULE_API "$src"/formats/module.h "$src"/src/hmap.h
} | sort -u >"$T/lib.want"
declared FW_API "$src"/formats/module.h >"$T/mod.want"
exported "$lib" >"$T/lib.got"
exported "$mod" >"$T/mod.got"

fail=0
check() {
	local what=$1 want=$2 got=$3
	if [ ! -s "$want" ]; then
		echo "FAIL: $what: no declaration found (the parser is broken)"
		fail=1
		return
	fi
	if ! cmp -s "$want" "$got"; then
		echo "FAIL: $what: exported (+) and declared (-) differ:"
		comm -3 "$want" "$got" | sed 's/^\t/  + /; t; s/^/  - /'
		fail=1
	else
		echo "ok: $what: $(wc -l <"$got") symbols, as declared"
	fi
}
check "$(basename "$lib")" "$T/lib.want" "$T/lib.got"
check "$(basename "$mod")" "$T/mod.want" "$T/mod.got"
exit $fail
