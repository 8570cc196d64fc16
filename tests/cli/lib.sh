# Shared by the command tests: sourced, not run.  Each test counts its
# checks and ends with "N passed, N failed"; a failed check fails the test.
set -u
: "${FWSIGN:?set FWSIGN to the fwsign binary}"
: "${FIXTURES:=/var/cache/fwsign-fixtures}"
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
SIGN_FILE=${SIGN_FILE:-/usr/lib/linux-kbuild-6.1/scripts/sign-file}
ARCHES="amd64 arm64 armhf mips64el s390x"

T_PASS=0
T_FAIL=0
WORK=$(mktemp -d /tmp/fwsign-cli.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

pass() { T_PASS=$((T_PASS + 1)); }
fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL: $*" >&2; }
check() {	# check "what" command...
	local what=$1; shift
	if "$@"; then pass; else fail "$what"; fi
}
done_tests() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}

# expect_exit CODE "what" command... : exit status and stderr in $ERR
expect_exit() {
	local want=$1 what=$2 got; shift 2
	"$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
	got=$?
	ERR=$(cat "$WORK/err.txt")
	if [ "$got" -eq "$want" ]; then pass; else
		fail "$what: exit $got, wanted $want; stderr: $ERR"; fi
}

# A fresh RSA key pair per name, cached for the test run.
key() {	# key NAME [keygen options] -> $WORK/keys/NAME.{key,crt,der}
	local name=$1; shift
	mkdir -p "$WORK/keys"
	[ -f "$WORK/keys/$name.key" ] ||
		"$FWSIGN" keygen -o "$WORK/keys/$name" --subject "$name" \
			${1+"$@"} >/dev/null
}

# Length of the PKCS#7 part of a signed file's trailer (0: no trailer).
sig_len() {
	local f=$1
	tail -c 28 "$f" | cmp -s - <(printf "~Module signature appended~\n") || { echo 0; return; }
	set -- $(tail -c 32 "$f" | head -c 4 | od -An -tu1)
	echo $(( ($1 << 24) | ($2 << 16) | ($3 << 8) | $4 ))
}

# The content of a signed file without its trailer.
strip_sig() {	# strip_sig IN OUT
	local n size
	n=$(sig_len "$1")
	size=$(stat -c %s "$1")
	if [ "$n" -eq 0 ]; then cp "$1" "$2"; else head -c $((size - 40 - n)) "$1" >"$2"; fi
}

# The PKCS#7 DER of a signed file.
extract_sig() {	# extract_sig IN OUT
	local n
	n=$(sig_len "$1")
	tail -c $((n + 40)) "$1" | head -c "$n" >"$2"
}

# A listing of a tree that covers everything but content: type, mode,
# owner, size (optional), mtime, xattrs, link target, hard-link groups.
tree_meta() {	# tree_meta DIR [nosize]
	(cd "$1" && find . -printf '%y %m %U:%G %T@ %n %l %p\n' | sort) |
		{ if [ "${2:-}" = nosize ]; then cat; else cat; fi; }
	(cd "$1" && getfattr -h -R -d -m - --absolute-names . 2>/dev/null |
		grep -v '^$' || true)
}

need_fixtures() {
	[ -f "$FIXTURES/amd64/.done" ] || { echo "no fixtures in $FIXTURES (run tests/fixtures/fetch.sh)" >&2; exit 1; }
}

# Regular files of two trees have the same bytes (diff -r chokes on fifos).
same_files() {	# same_files DIR1 DIR2
	local f
	[ "$(cd "$1" && find . -type f | sort)" = "$(cd "$2" && find . -type f | sort)" ] || return 1
	while IFS= read -r -d '' f; do
		cmp -s "$1/$f" "$2/$f" || { echo "differs: $f" >&2; return 1; }
	done < <(cd "$1" && find . -type f -print0)
}

# cached OUT KEY COMMAND...: OUT is what COMMAND writes on stdout, kept in
# FWSIGN_TEST_CACHE (default /var/cache/fwsign-test) under a hash of KEY
# (say, the input's sha256) and the command, so that the ASan+UBSan pass
# and later runs take what the first made instead of making it again
# (test data made by reference tools, costly and the same every time).
# Stored by a temporary and a rename; an unwritable cache is no error.
cached() {
	local out=$1 key=$2 dir=${FWSIGN_TEST_CACHE:-/var/cache/fwsign-test} h
	shift 2
	h=$(printf '%s\n' "$key" "$@" | sha256sum | cut -c1-40)
	if [ -s "$dir/$h" ] && cp "$dir/$h" "$out"; then
		return 0
	fi
	"$@" >"$out" || return
	mkdir -p "$dir" 2>/dev/null && cp "$out" "$dir/.$h.$$" 2>/dev/null &&
		mv "$dir/.$h.$$" "$dir/$h" || rm -f "$dir/.$h.$$"
	return 0
}
