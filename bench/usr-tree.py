#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/usr-tree.py MIB: the list of files (paths without the leading
# slash) of a tree of about MIB MiB taken from the host's /usr: ELF files
# and data, regular files of at most 16 MiB, one name per inode, in an
# order fixed by a hash of the path, so that a smaller tree is a subset of
# a bigger one.  Used by bench/squashfs.sh and bench/tar.sh.
import hashlib, os, sys

limit, seen, total, out = int(sys.argv[1]) << 20, set(), 0, []
paths = []
for root in ('/usr/bin', '/usr/sbin', '/usr/lib', '/usr/libexec'):
    for d, dirs, files in os.walk(root):
        dirs.sort()
        paths += [os.path.join(d, f) for f in files]
paths.sort(key=lambda p: hashlib.sha256(p.encode('utf-8', 'surrogateescape')).digest())
for p in paths:
    try:
        st = os.lstat(p)
        if not os.path.isfile(p) or os.path.islink(p) or st.st_size > 16 << 20:
            continue
        if (st.st_dev, st.st_ino) in seen or not os.access(p, os.R_OK):
            continue
    except OSError:
        continue
    if total + st.st_size > limit:
        if total > limit * 0.98:
            break
        continue
    seen.add((st.st_dev, st.st_ino))
    total += st.st_size
    out.append(p[1:])
out.sort()
sys.stdout.write(''.join(x + '\n' for x in out))
