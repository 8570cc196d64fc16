#!/usr/bin/env python3
# ubifs-lpt.py IMG: the LPT (small model) and master node of a UBIFS volume
# agree: every node CRC right, the free and dirty space of the LEBs the
# superblock counts summing to the master node's totals, its LEB count the
# superblock's, the LPT head in the LPT's own table.  Written apart from
# fwsign's C code, from the kernel's fs/ubifs/lpt.c.  Prints the LEB
# properties of the LEBs after mkfs.ubifs's (argument 2: their count).
import struct, sys
b = open(sys.argv[1], "rb").read()
leb = struct.unpack_from("<I", b, 36)[0]; min_io = struct.unpack_from("<I", b, 32)[0]
leb_cnt, max_leb = struct.unpack_from("<II", b, 40)
log_lebs, lpt_lebs, orph = struct.unpack_from("<III", b, 56)
m = leb
fls = lambda x: x.bit_length()
first = 3 + log_lebs; main_first = first + lpt_lebs + orph
sb_ = fls(leb) - 3; lb = fls(lpt_lebs); ob = fls(leb - 1); spc = fls(leb)
psz = (20 + (2 * sb_ + 1) * 4 + 7) // 8; nsz = (20 + (lb + ob) * 4 + 7) // 8
mp = (max_leb - main_first + 3) // 4; h = 1; n = 4
while n < mp: h += 1; n <<= 2
def bits(buf, pos, nb):
    v = 0
    for i in range(nb):
        v |= ((buf[(pos + i) >> 3] >> ((pos + i) & 7)) & 1) << i
    return v, pos + nb
def crc16(d):
    c = 0xffff
    for x in d:
        c ^= x
        for _ in range(8): c = (c >> 1) ^ 0xa001 if c & 1 else c >> 1
    return c
def node(lnum, offs, sz):
    d = b[lnum * leb + offs: lnum * leb + offs + sz]
    assert crc16(d[2:]) == struct.unpack_from("<H", d)[0], ("crc", lnum, offs)
    return d
mst = b[m:m + 512]
root = struct.unpack_from("<II", mst, 120)
props = {}
def walk(lnum, offs, level, base):
    if level == 0:
        d = node(lnum, offs, psz); pos = 16
        t, pos = bits(d, pos, 4); assert t == 0
        for i in range(4):
            f, pos = bits(d, pos, sb_); dd, pos = bits(d, pos, sb_); ix, pos = bits(d, pos, 1)
            props[main_first + base * 4 + i] = (f << 3, dd << 3, ix)
        return
    d = node(lnum, offs, nsz); pos = 16
    t, pos = bits(d, pos, 4); assert t == 1, t
    for i in range(4):
        l, pos = bits(d, pos, lb); o, pos = bits(d, pos, ob)
        if l != lpt_lebs:
            walk(l + first, o, level - 1, base * 4 + i)
walk(root[0], root[1], h, 0)
tot = [0, 0]
for l in sorted(props):
    if l < leb_cnt:
        tot[0] += props[l][0]
        tot[1] += props[l][1]
lt = struct.unpack_from("<II", mst, 136)
d = node(lt[0], lt[1], (20 + lpt_lebs * spc * 2 + 7) // 8)
ltab = [bits(d, 20 + i * spc, spc)[0] for i in range(lpt_lebs * 2)]
nh = struct.unpack_from("<II", mst, 128)
bad = []
if struct.unpack_from("<I", mst, 164)[0] != leb_cnt:
    bad.append("master LEB count")
if tuple(tot) != struct.unpack_from("<2Q", mst, 80):
    bad.append("free/dirty totals %s, master %s" % (tot, struct.unpack_from("<2Q", mst, 80)))
if ltab[2 * (nh[0] - first)] != leb - nh[1]:
    bad.append("LPT head")
mkfs = int(sys.argv[2]) if len(sys.argv) > 2 else leb_cnt
for l in range(mkfs, leb_cnt):
    print(l, *props.get(l, (leb, 0, 0)))
print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
