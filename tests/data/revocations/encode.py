#!/usr/bin/env python3
"""An encoder for tidepass's binary revocation format written from its documentation
(`Changes::encode`), not from the Rust code: it writes the seeds the tests decode and the
`revocations` fuzz target starts from. Run from this directory: `python3 encode.py`.

Format 3: "TPRL", format byte 3, kind (0 snapshot, 1 delta), then big-endian u64s epoch, from
(0 for a snapshot), to, base fingerprint (0 for a snapshot), head fingerprint, time base (the
earliest time in the entries), three u32 counts (token, session, subject entries), the entries
grouped by target (16-byte id, u32 expiry offset from the time base; subject entries add a u32
`before` offset), and the first 8 bytes of SHA-256 over everything before them.
"""
import hashlib
import struct


def encode(kind, epoch, frm, to, base_fp, head_fp, entries):
    times = [e[2] for e in entries] + [e[3] for e in entries if e[0] == 2]
    base = min(times) if times else 0
    out = b"TPRL" + bytes([3, kind])
    out += struct.pack(">QQQQQQ", epoch, frm, to, base_fp, head_fp, base)
    out += struct.pack(">III", *[sum(1 for e in entries if e[0] == t) for t in range(3)])
    for t in range(3):
        for target, ident, expires, before in entries:
            if target != t:
                continue
            out += ident.to_bytes(16, "big") + struct.pack(">I", expires - base)
            if t == 2:
                out += struct.pack(">I", before - base)
    return out + hashlib.sha256(out).digest()[:8]


# (target, id, expires, before)
SNAPSHOT = encode(0, 7, 0, 3, 0, 0x1111, [(0, 1, 1300, 0), (0, 2, 1400, 0), (1, 3, 1500, 0), (2, 4, 1600, 1100)])
DELTA = encode(1, 7, 3, 5, 0x1111, 0x2222, [(0, 9, 1300, 0)])

if __name__ == "__main__":
    for name, data in [("seed-snapshot", SNAPSHOT), ("seed-delta", DELTA)]:
        with open(name, "wb") as f:
            f.write(data)
