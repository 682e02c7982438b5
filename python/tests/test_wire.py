# SPDX-License-Identifier: MIT
"""sluice.wire against the golden vectors of the C encoder and WIRE.md."""
import json
import os
import struct
import unittest

from sluice import wire
from sluice.wire import Header, Status

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = os.path.join(ROOT, "proto", "vectors", "wire_v1.json")

# WIRE.md, "Worked example": the datagram (frame from offset 0x2a).
WORKED = bytes.fromhex(
    "534c0101000200010000000100070002000000050017000017979cfe3d85cd15"
    "000000000000002a0000000000000003" + "00" * 32 + "00000000" "00000000"
    "00003ac3000548656c6c6f00000c72000620636166c3a9")
# WIRE.md, "A child count announcement".
ANNOUNCE = bytes.fromhex(
    "534c010500010002000000010007000000000009000000011797 9cfe3d85cd15"
    .replace(" ", "") + "000000000000002a" + "00" * 40 + "00000003" "00000000")


def hdr_bytes(**kw) -> bytearray:
    """A valid tokenless header with some fields overridden by offset."""
    b = bytearray(wire.encode_header(Header(depth=1, pipeline=1, stage=1,
                                            ancestry=(9,))))
    for off, (fmt, val) in kw.items():
        struct.pack_into(fmt, b, int(off[1:]), val)
    return b


class WorkedExamples(unittest.TestCase):
    def test_worked_example_parses(self):
        st, h = wire.parse(WORKED)
        self.assertEqual(st, Status.OK)
        self.assertEqual((h.flags, h.depth, h.stage, h.pipeline, h.tenant,
                          h.token_count, h.seq, h.payload_len, h.from_stage,
                          h.send_ns, h.ancestry, h.child_count),
                         (wire.F_END, 2, 1, 1, 7, 2, 5, 23, 0,
                          1700000000123456789, (42, 3), 0))
        self.assertEqual(wire.tokens(WORKED[88:]),
                         [wire.Token(15043, "Hello"), wire.Token(3186, " café")])

    def test_worked_example_encodes(self):
        h = Header(flags=wire.F_END, depth=2, stage=1, pipeline=1, tenant=7,
                   seq=5, send_ns=1700000000123456789, ancestry=(42, 3))
        self.assertEqual(wire.encode(h, [(15043, "Hello"), (3186, " café")]),
                         WORKED)

    def test_announcement(self):
        self.assertEqual(len(ANNOUNCE), 88)
        st, h = wire.parse(ANNOUNCE)
        self.assertEqual(st, Status.OK)
        self.assertEqual((h.flags, h.from_stage, h.child_count, h.seq),
                         (wire.F_END | wire.F_CHILDREN, 1, 3, 9))
        self.assertEqual(wire.encode_header(h), ANNOUNCE)

    def test_names(self):
        self.assertEqual(wire.abort_reason_name(7), "LOST")
        self.assertEqual(wire.abort_reason_name(14), "UPSTREAM_CLOSED")
        self.assertEqual(wire.abort_reason_name(15), "UNKNOWN")
        self.assertEqual(wire.status_name(9), "BAD_MAGIC")
        self.assertEqual(wire.status_name(18), "BAD_UTF8")
        self.assertEqual(wire.status_name(19), "UNKNOWN")
        self.assertEqual(wire.PAYLOAD_MAX, 1384)

    def test_token_hash(self):
        # FNV-1a 32 of "" is the offset basis 2166136261 (& 0x7fffffff).
        self.assertEqual(wire.token_hash(""), 2166136261 & 0x7FFFFFFF)
        self.assertEqual(wire.token_hash("a"), 0xE40C292C & 0x7FFFFFFF)


class CheckOrder(unittest.TestCase):
    """The first failing check names the status, in sl_wire.c's order."""

    def st(self, b) -> Status:
        return wire.parse(bytes(b))[0]

    def test_header_checks(self):
        cases = [
            (b"\x53\x4c" + b"\0" * 85, Status.SHORT),
            (hdr_bytes(o0=(">H", 0x534D), o5=(">B", 0)), Status.BAD_MAGIC),
            (hdr_bytes(o2=(">B", 2), o3=(">B", 0x80)), Status.BAD_VERSION),
            (hdr_bytes(o3=(">B", 0x80)), Status.BAD_FLAGS),
            (hdr_bytes(o4=(">B", 1)), Status.BAD_FLAGS),          # no ABORT
            (hdr_bytes(o3=(">B", 2), o4=(">B", 15)), Status.BAD_FLAGS),
            (hdr_bytes(o3=(">B", 2), o4=(">B", 14)), Status.OK),
            (hdr_bytes(o3=(">B", 4)), Status.BAD_FLAGS),          # CHILDREN alone
            (hdr_bytes(o80=(">I", 1), o5=(">B", 0)), Status.BAD_FLAGS),
            (hdr_bytes(o3=(">B", 5), o80=(">I", 1), o5=(">B", 0)), Status.BAD_DEPTH),
            (hdr_bytes(o3=(">B", 0x18)), Status.BAD_FLAGS),       # NACK|ACK
            (hdr_bytes(o3=(">B", 0x09)), Status.BAD_FLAGS),       # NACK|END
            (hdr_bytes(o3=(">B", 0x50)), Status.BAD_FLAGS),       # PAUSE on ACK
            (hdr_bytes(o3=(">B", 0x40)), Status.BAD_FLAGS),       # PAUSE alone
            (hdr_bytes(o3=(">B", 0x60)), Status.OK),              # PROBE|PAUSE
            (hdr_bytes(o3=(">B", 0x10), o80=(">I", 2)), Status.BAD_FLAGS),
            (hdr_bytes(o3=(">B", 0x08), o80=(">I", 2)), Status.OK),
            (hdr_bytes(o3=(">B", 0x08), o14=(">H", 1)), Status.BAD_FLAGS),
            (hdr_bytes(o3=(">B", 0x20), o20=(">H", 6)), Status.BAD_FLAGS),
            (hdr_bytes(o5=(">B", 7)), Status.BAD_DEPTH),
            (hdr_bytes(o5=(">B", 0), o84=(">I", 1)), Status.BAD_DEPTH),
            (hdr_bytes(o84=(">I", 1), o20=(">H", 3)), Status.BAD_RESERVED),
            (hdr_bytes(o20=(">H", 3)), Status.LEN_MISMATCH),
        ]
        for i, (b, want) in enumerate(cases):
            with self.subTest(i=i, want=want.name):
                self.assertEqual(self.st(b), want)

    def test_too_big(self):
        b = hdr_bytes(o20=(">H", 1385), o14=(">H", 1)) + b"\0" * 1385
        self.assertEqual(self.st(b), Status.TOO_BIG)
        # Exactly PAYLOAD_MAX: one token of 1378 bytes of text.
        ok = wire.encode(Header(ancestry=(1,)), [(1, "x" * 1378)])
        self.assertEqual(len(ok), 88 + 1384)
        self.assertEqual(self.st(ok), Status.OK)
        with self.assertRaises(ValueError):
            wire.encode(Header(ancestry=(1,)), [(1, "x" * 1379)])

    def test_token_checks(self):
        def frag(count, payload):
            return bytes(hdr_bytes(o14=(">H", count), o20=(">H", len(payload)))) + payload
        tok = struct.pack(">IH", 5, 2) + b"hi"
        self.assertEqual(self.st(frag(1, tok)), Status.OK)
        self.assertEqual(self.st(frag(2, tok)), Status.TOKEN_COUNT)
        self.assertEqual(self.st(frag(0, tok)), Status.TOKEN_COUNT)
        self.assertEqual(self.st(frag(1, tok + b"\0")), Status.TOKEN_COUNT)
        self.assertEqual(self.st(frag(2, tok + b"\0")), Status.TOKEN_OVERRUN)
        self.assertEqual(self.st(frag(1, struct.pack(">IH", 5, 3) + b"hi")),
                         Status.TOKEN_OVERRUN)
        self.assertEqual(self.st(frag(1, struct.pack(">IH", 5, 2) + b"\xc3\x28")),
                         Status.BAD_UTF8)


class Utf8(unittest.TestCase):
    CASES = {
        b"": True, b"abc": True, b"caf\xc3\xa9": True,
        b"\xe2\x82\xac": True, b"\xf0\x9f\x98\x80": True,
        b"\xf4\x8f\xbf\xbf": True, b"\xed\x9f\xbf": True, b"\xee\x80\x80": True,
        b"\x80": False, b"\xbf": False, b"\xc0\x80": False, b"\xc1\xbf": False,
        b"\xc3": False, b"\xe0\x80\x80": False, b"\xe0\x9f\xbf": False,
        b"\xed\xa0\x80": False, b"\xed\xbf\xbf": False, b"\xf0\x8f\xbf\xbf": False,
        b"\xf4\x90\x80\x80": False, b"\xf5\x80\x80\x80": False, b"\xff": False,
        b"\xe2\x82": False, b"\xf0\x9f\x98": False, b"a\xc3\xa9\xa9": False,
    }

    def test_table(self):
        for data, ok in self.CASES.items():
            with self.subTest(data=data):
                self.assertEqual(wire.utf8_valid(data), ok)

    def test_agrees_with_python_strict_decoder(self):
        """Every 1..3-byte string over interesting bytes, and many 4-byte
        ones: the hand-written check equals Python's strict decoder."""
        interesting = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                       0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                       0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        seqs = [bytes([a]) for a in interesting]
        seqs += [bytes([a, b]) for a in interesting for b in interesting]
        seqs += [bytes([a, b, c]) for a in interesting if a >= 0xC0
                 for b in interesting for c in interesting]
        seqs += [bytes([a, b, c, d]) for a in (0xF0, 0xF1, 0xF4, 0xF5)
                 for b in interesting for c in (0x80, 0xBF, 0x41) for d in (0x80, 0xBF, 0xC0)]
        for s in seqs:
            try:
                s.decode("utf-8", "strict")
                py = True
            except UnicodeDecodeError:
                py = False
            self.assertEqual(wire.utf8_valid(s), py, s.hex())


class GoldenVectors(unittest.TestCase):
    """proto/vectors/wire_v1.json, generated from the C encoder."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(VECTORS):
            raise unittest.SkipTest(f"{VECTORS} not there yet")
        with open(VECTORS, encoding="utf-8") as f:
            cls.doc = json.load(f)

    def test_file(self):
        d = self.doc
        self.assertEqual(d["format"], "sluice-wire-vectors")
        self.assertEqual(d["wire_version"], wire.VERSION)
        self.assertEqual(d["header_len"], wire.HDR_LEN)
        self.assertEqual(d["payload_max"], wire.PAYLOAD_MAX)
        self.assertGreater(len(d["vectors"]), 0)
        names = {v["status"] for v in d["vectors"]}
        self.assertLessEqual(names, set(wire.STATUS_NAMES))

    def test_every_vector(self):
        reencoded = 0
        for v in self.doc["vectors"]:
            with self.subTest(name=v["name"]):
                data = bytes.fromhex(v["datagram"])
                st, h = wire.parse(data)
                self.assertEqual(st.name, v["status"])
                if v["status"] != "OK":
                    self.assertIsNone(h)
                    continue
                self.check_ok(v, data, h)
                reencoded += self.check_reencode(data, h)
        self.assertGreater(reencoded, 0)

    def check_ok(self, v, data, h):
        want = dict(v["header"])
        anc = [int(a) for a in want.pop("ancestry")]
        want["send_ns"] = int(want["send_ns"])
        got = {k: getattr(h, k) for k in want}
        self.assertEqual(got, want)
        self.assertEqual(list(h.ancestry), anc)
        toks = wire.tokens(data[wire.HDR_LEN:])
        self.assertEqual([[t.id, t.text] for t in toks],
                         [[t["id"], t["text"]] for t in v["tokens"]])

    def check_reencode(self, data, h) -> int:
        """Re-encode header and tokens; bytes equal the datagram except
        where the datagram had non-zero ancestry slots past depth."""
        toks = wire.tokens(data[wire.HDR_LEN:])
        out = wire.encode(h, [(t.id, t.text) for t in toks])
        lo, hi = wire.OFF_ANCESTRY + 8 * h.depth, wire.OFF_CHILD_COUNT
        if any(data[lo:hi]):
            self.assertEqual(out[:lo] + out[hi:], data[:lo] + data[hi:])
            self.assertFalse(any(out[lo:hi]))
            return 0
        self.assertEqual(out, data)
        return 1


if __name__ == "__main__":
    unittest.main()
