#!/usr/bin/env python3
# ubifs-xattr.py IMG PATH NAME HEXVALUE [PATH NAME HEXVALUE ...]
# (HEXVALUE '-': the xattr is removed, as the kernel's removexattr writes)
#
# Test data: gives the inodes of a volume fresh from mkfs.ubifs (which
# writes no xattr but security.selinux) more xattrs, the way the kernel
# would after a mount: an xattr entry, an xattr inode and a new version of
# the host inode per xattr, in a new LEB after the volume's (a bud of the
# base journal head), named by a reference node after the log's commit
# start node; the superblock counts the new LEB.  Written apart from
# fwsign's C code (from the kernel's fs/ubifs/ubifs-media.h), so that
# fwsign's reader is tested on a journal it did not write.
import struct, sys, zlib

MAGIC = 0x06101831
img = sys.argv[1]
b = bytearray(open(img, "rb").read())
leb = struct.unpack_from("<I", b, 36)[0]
min_io = struct.unpack_from("<I", b, 32)[0]
leb_cnt = struct.unpack_from("<I", b, 40)[0]
key_hash = b[26]
compr = struct.unpack_from("<H", b, 84)[0]
assert len(b) == leb * leb_cnt


def crc_ok(o, ln):
    return struct.unpack_from("<I", b, o + 4)[0] == \
        zlib.crc32(bytes(b[o + 8:o + ln])) ^ 0xffffffff


def seal(n):
    struct.pack_into("<I", n, 4, zlib.crc32(bytes(n[8:])) ^ 0xffffffff)
    return n


def ch(sqnum, ln, typ, group):
    return bytearray(struct.pack("<IIQIBBH", MAGIC, 0, sqnum, ln, typ, group, 0))


def r5(name):
    a = 0
    for c in name:
        c = c - 256 if c > 127 else c
        a = (a + (c << 4)) & 0xffffffff
        a = (a + (c >> 4)) & 0xffffffff
        a = (a * 11) & 0xffffffff
    return a


def khash(name):
    a = r5(name) if key_hash == 0 else int.from_bytes(name[:4].ljust(4, b"\0"), "little")
    a &= 0x1fffffff
    return a + 3 if a <= 2 else a


# every node of the fresh volume: inodes, entries, the highest sqnum
ino, dent, xent, sq_max, mst = {}, {}, {}, 0, None
for o in range(0, len(b) - 24, 8):
    if struct.unpack_from("<I", b, o)[0] != MAGIC:
        continue
    sq, ln, typ = struct.unpack_from("<QIB", b, o + 8)
    if ln < 24 or o % leb + ln > leb or not crc_ok(o, ln):
        continue
    sq_max = max(sq_max, sq)
    inum = struct.unpack_from("<I", b, o + 24)[0]
    if typ == 0:
        ino[inum] = bytes(b[o:o + ln])
    elif typ in (2, 3):
        nlen = struct.unpack_from("<H", b, o + 50)[0]
        (dent if typ == 2 else xent)[(inum, bytes(b[o + 56:o + 56 + nlen]))] = \
            struct.unpack_from("<Q", b, o + 40)[0]
    elif typ == 7 and (mst is None or sq > struct.unpack_from("<Q", mst, 8)[0]):
        mst = bytes(b[o:o + ln])
log_lnum = struct.unpack_from("<I", mst, 44)[0]


def inum_of(path):
    n = 1
    for part in [p for p in path.split("/") if p]:
        n = dent[(n, part.encode())]
    return n


# xattrs per host, in the order given
want = {}
args = sys.argv[2:]
for i in range(0, len(args), 3):
    v = None if args[i + 2] == "-" else bytes.fromhex(args[i + 2])
    want.setdefault(inum_of(args[i]), []).append((args[i + 1].encode(), v))

A8 = lambda n: (n + 7) // 8 * 8


def pad(buf):
    # padding to the min. I/O unit: a padding node, or padding bytes
    gap = -len(buf) % min_io
    if gap >= 28:
        buf += seal(ch(0, 28, 5, 0) + struct.pack("<I", gap - 28)) + bytes(gap - 28)
    else:
        buf += b"\xce" * gap
    return buf


sq = sq_max
next_inum = max(ino) + 1
buds, refs, bud = [], [], None
for host, xs in sorted(want.items()):
    h = bytearray(ino[host])
    group = A8(len(h)) + sum(A8(56 + len(nm) + 1) + (A8(160 + len(v)) if v is not None else 0)
                             for nm, v in xs)
    assert group <= leb
    if bud is None or len(bud) + group > leb:
        # a new bud (one LEB), its reference node's sqnum first
        if bud is not None:
            buds.append(pad(bud))
        sq += 1
        refs.append(sq)
        bud = bytearray()
    cnt, size, names = 0, 0, 0
    for name, value in xs:
        if value is None:
            # an entry naming inode 0 deletes; the host loses its share
            old = ino[xent[(host, name)]]
            sq += 1
            n = ch(sq, 56 + len(name) + 1, 3, 1)
            n += struct.pack("<II8xQBBHI", host, khash(name) | 3 << 29, 0, 0, 0, len(name), 0)
            n += name + b"\0"
            bud += seal(n) + bytes(-len(n) % 8)
            cnt -= 1
            names -= len(name)
            size -= (56 + len(name) + 1 + 7) // 8 * 8 + \
                (160 + struct.unpack_from("<I", old, 112)[0] + 1 + 7) // 8 * 8
            continue
        xi = next_inum
        next_inum += 1
        sq += 1
        n = ch(sq, 56 + len(name) + 1, 3, 1)
        n += struct.pack("<II8xQBBHI", host, khash(name) | 3 << 29, xi, 0, 0, len(name), 0)
        n += name + b"\0"
        bud += seal(n) + bytes(-len(n) % 8)
        sq += 1
        n = ch(sq, 160 + len(value), 0, 1)
        n += struct.pack("<II8xQQ", xi, 0, sq, len(value))
        n += h[56:92]                                   # the host's times
        n += struct.pack("<I", 1) + h[96:104]           # nlink, uid, gid
        n += struct.pack("<IIIIII", 0o100777, 0x20, len(value), 0, 0, 0)
        n += struct.pack("<IH26x", 0, compr)
        n += value
        assert len(n) == 160 + len(value)
        bud += seal(n) + bytes(-len(n) % 8)
        cnt += 1
        names += len(name)
        size += (56 + len(name) + 1 + 7) // 8 * 8 + (160 + len(value) + 1 + 7) // 8 * 8
    sq += 1
    h[8:16] = struct.pack("<Q", sq)
    h[21] = 2
    c, s, nm = struct.unpack_from("<II", h, 116) + struct.unpack_from("<I", h, 128)
    struct.pack_into("<II", h, 116, (c + cnt) & 0xffffffff, (s + size) & 0xffffffff)
    struct.pack_into("<I", h, 128, nm + names)
    bud += seal(h) + bytes(-len(h) % 8)
buds.append(pad(bud))
# the log: reference nodes after the commit start node, then padding
log = pad(bytearray(b[log_lnum * leb:log_lnum * leb + 32]) +
          b"".join(seal(ch(r, 64, 8, 0) + struct.pack("<III28x", leb_cnt + i, 0, 1))
                   for i, r in enumerate(refs)))
b[log_lnum * leb:(log_lnum + 1) * leb] = log + b"\xff" * (leb - len(log))
struct.pack_into("<I", b, 40, leb_cnt + len(buds))
struct.pack_into("<I", b, 4, zlib.crc32(bytes(b[8:4096])) ^ 0xffffffff)
open(img, "wb").write(bytes(b) + b"".join(bytes(x) + b"\xff" * (leb - len(x)) for x in buds))
