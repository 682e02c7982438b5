#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_frame (tests/fuzz/corpus/frame/).

Each seed is one mode byte (bit 0: trusted transport; bits 1..7: chunk
size - 1) followed by length-prefixed frames, as fuzz_frame.c reads them.
Requests are encoded by hand from proto/sluice.proto's field numbers so
the generator needs no protobuf package. Run it from anywhere; it rewrites
the directory next to it.
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

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "frame")
os.makedirs(here, exist_ok=True)
for name in os.listdir(here):
    os.unlink(os.path.join(here, name))
for name, data in sorted(seeds.items()):
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {here}")
