#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the hand-made seeds of every fuzzer (tests/fuzz/corpus/NAME/).

Each input format is the one its fuzz_NAME.c describes at its top:

- frame: one mode byte (bit 0: trusted transport; bits 1..7: chunk size
  - 1) followed by length-prefixed frames. Requests are encoded by hand
  from proto/sluice.proto's field numbers so the generator needs no
  protobuf package.
- config: a pipeline file, optionally a NUL and a literals_file's text.
- http: mode byte, chunk size - 1, the bytes a scraper sends.
- guard: rule set and form byte, cut count and distances, the text.
- dataplane, api: command bytes (opcode and arguments).

Run it from anywhere. It writes the seeds it makes (the pipeline files of
tests/unit and tools/pipelines copied for config) and leaves every other
file of a corpus directory alone: what long campaigns merged in
(tools/bench/fuzz.sh, file names are SHA-1s) stays.
"""
import os
import struct

TOKEN = b"s3cret-token"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, value):
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def request(req_id, body_field, body, token=None):
    msg = field_varint(1, req_id)
    if token is not None:
        msg += field_bytes(2, token)
    if body_field is not None:
        msg += field_bytes(body_field, body)
    return msg


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def seed(trusted, chunk, *frames_or_bytes):
    mode = ((chunk - 1) << 1) | (1 if trusted else 0)
    return bytes([mode]) + b"".join(frames_or_bytes)


YAML = (b"sluiced:\n  address: 10.77.0.1\nclients: [10.77.0.0/24]\n"
        b"pipelines:\n  - name: demo\n    id: 1\n    stages:\n"
        b"      - name: draft\n        instances: [10.77.0.11:7801]\n")

apply_ok = field_bytes(1, YAML) + field_bytes(2, "demo.yaml")
apply_dry = apply_ok + field_varint(3, 1)
apply_err = field_bytes(1, b"ERROR: demo.yaml:12: pipelines[0].stages[1]."
                        b"aggregation: must be 0..1, got 3\n") + \
    field_bytes(2, "demo.yaml")
instance = field_bytes(1, "draft-c") + field_bytes(2, "10.77.0.13") + \
    field_varint(3, 7803)
add = field_bytes(1, "demo") + field_bytes(2, "draft") + field_bytes(3, instance)
ref = field_bytes(1, "demo") + field_bytes(2, "draft") + field_bytes(3, "draft/0")

seeds = {
    "apply": seed(True, 128, frame(request(1, 10, apply_ok))),
    "apply_dry_run": seed(True, 7, frame(request(2, 10, apply_dry))),
    "apply_error": seed(True, 128, frame(request(3, 10, apply_err))),
    "get_all": seed(True, 1, frame(request(4, 11, b""))),
    "get_name": seed(True, 3, frame(request(5, 11, field_bytes(1, "demo")))),
    "instances": seed(True, 128, frame(request(
        6, 12, field_bytes(1, "demo") + field_bytes(2, "claims")))),
    "add": seed(True, 5, frame(request(7, 13, add))),
    "remove": seed(True, 128, frame(request(8, 14, ref))),
    "drain": seed(True, 2, frame(request(9, 15, ref))),
    "stats_reset": seed(True, 128, frame(request(10, 16, field_varint(1, 1)))),
    "version": seed(True, 128, frame(request(11, 17, b""))),
    "pipelined": seed(True, 11, frame(request(12, 17, b"")),
                      frame(request(13, 16, b"")),
                      frame(request(14, 11, field_bytes(1, "demo")))),
    "tcp_token": seed(False, 128, frame(request(15, 16, b"", TOKEN)),
                      frame(request(16, 17, b"", TOKEN))),
    "tcp_wrong_token": seed(False, 128, frame(request(17, 17, b"", b"nope"))),
    "no_body": seed(True, 128, frame(request(18, None, None)),
                    frame(request(19, 17, b""))),
    "unknown_kind": seed(True, 128, frame(request(20, 30, b""))),
    "bad_instance": seed(True, 128, frame(request(21, 13, field_bytes(1, "demo")
        + field_bytes(2, "draft") + field_bytes(3, field_bytes(2, "10.0.0.256")
        + field_varint(3, 70000))))),
    "truncated": seed(True, 128, struct.pack(">I", 50) + b"\x08\x01\x8a"),
    "oversized_length": seed(True, 128, struct.pack(">I", (1 << 20) + 1) + b"x" * 16),
    "zero_length": seed(True, 128, struct.pack(">I", 0) + frame(request(22, 17, b""))),
    "garbage": seed(True, 128, frame(b"\x0f" * 12)),
    "list_guards": seed(True, 128, frame(request(23, 18, b""))),
    "guard_add": seed(True, 4, frame(request(24, 19, field_bytes(1, "forget")
        + field_bytes(4, "Hsiao Yun-Hwa")))),
    "guard_remove_regex": seed(True, 128, frame(request(25, 19,
        field_bytes(1, "forget") + field_varint(2, 1) + field_varint(3, 1)
        + field_bytes(4, "vx-[0-9]{3}")))),
    "guard_bad_utf8": seed(True, 128, frame(request(26, 19,
        field_bytes(1, "forget") + field_bytes(4, b"\xc0\x80")))),
}

ROOT = os.path.dirname(os.path.abspath(__file__))


def write(target, named):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(named.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{len(named)} seeds in {d}")


write("frame", seeds)

# ------------------------------------------------------------------ config
REPO = os.path.dirname(os.path.dirname(ROOT))
config = {}
for folder in ("tests/unit", "tools/pipelines"):
    for name in sorted(os.listdir(os.path.join(REPO, folder))):
        if name.endswith(".yaml"):
            with open(os.path.join(REPO, folder, name), "rb") as f:
                config["file-" + name] = f.read()
HEAD = b"sluiced: {address: 10.0.0.1, port: 7700}\nclients: [10.0.1.0/24]\n"
config["guards-file"] = (
    HEAD + b"guards:\n"
    b"  - {name: forget, action: block, literals_file: fnames.txt,\n"
    b"     regex: ['\\\\bvx-[0-9]{3}\\\\b'], prefix: \"Do not.\"}\n"
    b"  - {name: pii, action: redact, literals: [Ji-Yeon Park], mask: X}\n"
    b"pipelines:\n  - name: p\n    id: 1\n    guard: required\n"
    b"    stages:\n      - {name: a, instances: [10.0.2.1:7801]}\n"
    b"    edges:\n      - {from: client, to: a, guard: forget}\n"
    b"      - {from: a, to: client, guard: pii}\n"
    b"\0Hsiao Yun-Hwa\n\nTofu Island\n")
config["dag-every-edge"] = (
    HEAD + b"flows: {size: 256, idle_timeout_ms: 50, reorder_window: 4,"
    b" buffer_max: 6, client_streams: 48, source_streams: 24,"
    b" tenant_streams: 32}\n"
    b"liveness: {probe_ms: 20, dead_ms: 60}\n"
    b"tenants:\n  - {id: 1, max_streams: 6, fragments_per_s: 2000,"
    b" burst: 12, sources: [10.0.1.5]}\n"
    b"pipelines:\n  - name: p\n    id: 1\n    stages:\n"
    b"      - {name: a, idempotent: true, instances: [10.0.2.1:7801]}\n"
    b"      - {name: b, aggregation: 2, load_bound: 1.25,"
    b" instances: [10.0.2.2:7801, 10.0.2.3:7801]}\n"
    b"      - {name: t, operator: topk, k: 2, aggregation: 1}\n"
    b"      - {name: c, operator: concat, aggregation: 1, max_groups: 8,"
    b" max_group_bytes: 512}\n"
    b"    edges:\n      - {from: client, to: a}\n"
    b"      - {from: a, to: client}\n"
    b"      - {from: a, to: b, split: regex, pattern: \",\","
    b" stream_children: true}\n"
    b"      - {from: b, to: t}\n      - {from: t, to: c}\n"
    b"      - {from: c, to: client}\n")
config["bad-key"] = HEAD + b"\"pipelines: x\": 1\n"
config["bad-cycle"] = (
    HEAD + b"pipelines:\n  - name: p\n    id: 1\n    stages:\n"
    b"      - {name: a, instances: [10.0.2.1:7801]}\n"
    b"      - {name: b, instances: [10.0.2.2:7801]}\n"
    b"    edges:\n      - {from: client, to: a}\n"
    b"      - {from: a, to: b}\n      - {from: b, to: a}\n"
    b"      - {from: b, to: client}\n")
config["bad-regex"] = (
    HEAD + b"guards:\n  - {name: g, regex: ['a+', '(']}\n"
    b"pipelines:\n  - name: p\n    id: 1\n    stages:\n"
    b"      - {name: a, instances: [10.0.2.1:7801]}\n")
write("config", config)

# -------------------------------------------------------------------- http
def http(mode, chunk, data):
    return bytes([mode, chunk - 1]) + data


write("http", {
    "get": http(0, 6, b"GET /metrics HTTP/1.0\r\n\r\n"),
    "get-query-uring": http(1, 256, b"GET /metrics?x=1 HTTP/1.1\r\n"
                            b"Host: localhost\r\nAccept: */*\r\n\r\n"),
    "get-503": http(2, 3, b"GET /metrics HTTP/1.0\n\n"),
    "post": http(0, 1, b"POST /metrics HTTP/1.0\r\n\r\n"),
    "two-words": http(0, 9, b"GET /metrics\r\n\r\n"),
    "nul": http(0, 4, b"GET\0/metrics HTTP/1.0\r\n\r\n"),
    "431": http(0, 256, b"GET /metrics HTTP/1.0\r\n" +
                b"X-Pad: " + b"a" * 8300 + b"\r\n\r\n"),
    "unfinished": http(1, 2, b"GET /metrics HTTP/1.0\r\nHost: x\r\n"),
})

# ------------------------------------------------------------------- guard
def guard(rules, raw, cuts, text):
    b = bytes([rules | (4 if raw else 0), len(cuts)]) + bytes(cuts)
    return b + (text.encode() if isinstance(text, str) else text)


write("guard", {
    "block-name": guard(0, True, [4, 3], "Hsiao Yun-Hwa wrote it."),
    "block-lookalikes": guard(0, True, [9, 1, 5],
                              "Caf\u00e9: Hsi\u0430o\u200b \u03a5un-"
                              "\uff28wa wrote it."),
    "block-end-regex": guard(0, True, [7], "the launch code ABCD\n"),
    "redact": guard(1, True, [5, 5, 5, 5],
                    "Call Ji-Y\u200b\u0435on Park at 555-0199 code7 "
                    "pin4x today code8"),
    "redact-overlap": guard(1, True, [1, 1, 1], "abababab bab aba"),
    "log": guard(2, True, [2], "Hsiao said vx-12345 ab"),
    "mixed-folds": guard(3, True, [1, 2, 3],
                         "Stra\u00dfe \ufb01le \ufdfa caf\u00e9"),
    "invalid": guard(1, True, [1, 1], b"Ji-Yeon\xff Park \xe2\x82"),
    "grammar": guard(3, False, [3, 3, 3],
                     bytes([0x60, 0x61, 0x70, 0x71, 0x62, 0x77, 0x8c])),
})

# --------------------------------------------------------------- dataplane
# Opcodes of fuzz_dataplane.c: 0 client fragment, 4 engine answer,
# 8 mutated, 9 control, 10 raw, 11 ARP, 12 burst, 14 time, 0x8f reconfig.
END, ABORT, CHILDREN = 1, 2, 3
NEXT_SEQ = 0x80
W = {"Hello": 0, " world": 1, "nl": 2, ". ": 3, "42": 6, "7": 7,
     "Hsiao Yun-Hwa": 12, "vx-123": 15, "555-0199": 16,
     "Ji-Yeon Park": 17, ",": 18, "3,4,": 19, "claim": 20}


def toks(*words):
    return bytes([len(words)] + [W[w] for w in words])


def client(flags, *words, pipe=0, tenant=0, req=0, seq=NEXT_SEQ, src=0):
    return bytes([0x00, src, pipe | tenant << 3, req, flags, seq]) + \
        toks(*words)


def engine(flags, *words, k=0, seq=NEXT_SEQ):
    return bytes([0x04, k, 0, flags, seq]) + toks(*words)


def time(i):
    return bytes([0x0e, i])


BURST = b"\x0c"
write("dataplane", {
    "fact": b"\x01" + client(END, "Hello", " world") + BURST +
    engine(0, "claim", "claim") + engine(END, "42") + BURST +
    engine(END, "3,4,", "nl", k=2) + time(3) + time(5),
    "sums": b"\x01" + client(END, "3,4,", pipe=1) + BURST +
    engine(END, "3,4,", ". ", "42", ",") + BURST + time(4),
    "chain": b"\x01" + client(END, "Hello", pipe=2) + BURST +
    engine(END, "7") + BURST + engine(END, "42", k=1) + time(2),
    "guard-block": b"\x01" + client(END, "Hsiao Yun-Hwa") + BURST,
    "guard-redact": b"\x01" + client(END, "Hello") + BURST +
    engine(END, "Ji-Yeon Park", "555-0199") + BURST,
    "expiry": b"\x00" + client(0, "Hello") + BURST + time(4) + time(5) +
    time(6),
    "reorder": b"\x01" + client(0, "Hello", seq=2) +
    client(0, "7", seq=1) + client(END, "42", seq=0) + BURST,
    "nack": b"\x00" + client(END, "Hello", seq=3) + BURST + time(3) +
    bytes([0x09, 1, 0, 0, 3]) + BURST + time(3),
    "tenants": b"\x01" + client(END, "Hello", tenant=1) +
    client(END, "Hello", tenant=1, req=1, src=1) +
    client(END, "Hello", tenant=3, req=2) + BURST,
    "reconfig": b"\x01" + client(0, "Hello") + BURST + bytes([0x8f, 0]) +
    engine(END, "claim") + bytes([0x8f, 1]) + client(END, "7") + BURST,
    "arp": b"\x00" + bytes([0x0b, 5, 0, 0x0b, 0, 1, 0x55, 0x0b, 1, 2, 9]) +
    client(END, "Hello") + BURST,
    "raw": b"\x00" + bytes([0x0a, 20]) + bytes(range(20)) +
    bytes([0x08, 0, 0, 0, 1, 0, 1, 0, 0x11, 5, 1]) + BURST,
})

# --------------------------------------------------------------------- api
# fuzz_api.c: op % 12 is the request, op >> 6 the caller (0 admin, 1 TCP
# with the admin token, 2 read-only token, 3 no valid token).
def api(*ops):
    return b"".join(bytes(o) for o in ops)


write("api", {
    "reads": api([2, 0], [3, 0, 0], [7], [8], [9], [0x47]),
    "apply-each": api([0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [0, 5],
                      [0, 0x80]),
    "instances": api([4, 0, 0, 0, 0, 2, 9, 0], [6, 0, 0, 0], [5, 0, 0, 8],
                     [3, 0, 0]),
    "guards": api([10, 0, 0, 0], [10, 1, 0, 0], [10, 2, 1, 3], [9]),
    "roles": api([0x80, 0], [0x84, 0, 0, 8, 0, 7, 1], [0x42, 0], [0xc8, 1],
                 [0x48]),
    "raw-apply": api([1, 40, 0]) + b"sluiced: {address: 10.0.0.1}\npipelines: [",
    "raw-frame": api([11, 6, 0]) + b"\x08\x01\x8a\x01\x00\x00",
})
