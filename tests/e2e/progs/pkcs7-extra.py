#!/usr/bin/env python3
"""pkcs7-extra.py unauth|certs IN OUT [CERT.der]

IN is a file signed as sign-file signs (content, PKCS#7, struct
module_signature, "~Module signature appended~\\n").  OUT is the same file
whose PKCS#7 carries bytes the signature does not cover: an
unauthenticated attribute of 2 KiB of x86 code (unauth), or a
certificates field holding CERT (certs).  The signature over the content
still verifies; only a check of the message's form can tell.
"""
import struct
import sys

MARKER = b"~Module signature appended~\n"


def tlv(b, i):
    """(tag, start of value, end of value) of the element at i."""
    tag, n = b[i], b[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[j:j + k], "big")
        j += k
    return tag, j, j + n


def enc(tag, value):
    n = len(value)
    if n < 0x80:
        hdr = bytes([n])
    else:
        k = (n.bit_length() + 7) // 8
        hdr = bytes([0x80 | k]) + n.to_bytes(k, "big")
    return bytes([tag]) + hdr + value


def children(b, start, end):
    out, i = [], start
    while i < end:
        t, s, e = tlv(b, i)
        out.append(b[i:e])
        i = e
    return out


def main():
    mode, src, dst = sys.argv[1:4]
    data = open(src, "rb").read()
    assert data.endswith(MARKER), "not signed"
    ms = data[-len(MARKER) - 12:-len(MARKER)]
    sig_len = struct.unpack(">I", ms[8:12])[0]
    end = len(data) - len(MARKER) - 12
    content, p7 = data[:end - sig_len], data[end - sig_len:end]

    # ContentInfo { OID, [0] { SignedData { ... } } }
    _, s, e = tlv(p7, 0)
    ci = children(p7, s, e)
    _, s0, e0 = tlv(ci[1], 0)
    _, s1, e1 = tlv(ci[1][s0:e0], 0)
    sd_bytes = ci[1][s0:e0]
    sd = children(sd_bytes, s1, e1)
    if mode == "unauth":
        # the last field, signerInfos: SET { SignerInfo }
        _, a, b = tlv(sd[-1], 0)
        si_raw = children(sd[-1], a, b)[0]
        _, a, b = tlv(si_raw, 0)
        si = children(si_raw, a, b)
        code = (b"\x90" * 16 + b"\xb8\x2a\x00\x00\x00\xc3") * 93
        attr = enc(0x30, enc(0x06, bytes([0x2a, 0x03, 0x04, 0x05])) +
                   enc(0x31, enc(0x04, code)))
        si.append(enc(0xa1, attr))
        sd[-1] = enc(0x31, enc(0x30, b"".join(si)))
    elif mode == "certs":
        cert = open(sys.argv[4], "rb").read()
        sd.insert(len(sd) - 1, enc(0xa0, cert))
    else:
        sys.exit("mode: unauth or certs")
    new_sd = enc(0x30, b"".join(sd))
    new_p7 = enc(0x30, ci[0] + enc(0xa0, new_sd))
    ms = ms[:8] + struct.pack(">I", len(new_p7))
    open(dst, "wb").write(content + new_p7 + ms + MARKER)


main()
