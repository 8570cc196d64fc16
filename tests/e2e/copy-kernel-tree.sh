#!/bin/bash
# copy-kernel-tree.sh TREE DEST: a private copy of a build tree from
# build-kernel.sh in which `make` (e.g. `make bzImage` after replacing
# vmlinux) rebuilds only what changed.
#
# objtool's build records absolute paths in its .cmd files; in a copy its
# commands no longer match, objtool is rebuilt, and every object (they all
# depend on it) is compiled again: 15 minutes instead of seconds.  The copy
# gets those paths rewritten to its own.  Timestamps are kept (cp -a).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 TREE DEST" >&2; exit 2; }
src=$(cd "$1" && pwd)
[ -f "$src/.fwsign-built" ] || { echo "$src: not a complete build-kernel.sh tree" >&2; exit 1; }
[ ! -e "$2" ] || { echo "$2 exists" >&2; exit 1; }
cp -a "$src" "$2"
dest=$(cd "$2" && pwd)
grep -rlZ --include='*.cmd' --include='*.d' -F "$src" "$dest/tools" 2>/dev/null |
	xargs -0 -r sed -i "s|$src|$dest|g"
