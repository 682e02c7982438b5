# SPDX-License-Identifier: MIT
"""The sluice wire format, version 1 (proto/WIRE.md), in pure Python.

One fragment (a few tokens of one stream) is one UDP datagram: an 88-byte
big-endian header and ``payload_len`` bytes of tokens. This module parses
and validates a datagram exactly as ``proto/sl_wire.c`` does (the same
status names, checked in the same order, so a given datagram always gets
the same status) and encodes headers, tokens and control fragments.

Nothing here does I/O. Ethernet/IPv4/UDP framing is the kernel's business
for a UDP socket, so only the datagram (``sl_wire_parse``) is covered.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

__all__ = [
    "MAGIC", "VERSION", "HDR_LEN", "TOKEN_HDR_LEN", "ANCESTRY_MAX",
    "PAYLOAD_MAX", "UDP_PORT", "F_END", "F_ABORT", "F_CHILDREN", "F_NACK",
    "F_ACK", "F_PROBE", "F_PAUSE", "F_DATA", "F_CONTROL", "F_ALL",
    "RTX_WINDOW", "RTX_NACK_MS", "RTX_RTO_MS", "RTX_TRIES",
    "RTX_LINGER_MS", "Status", "Abort", "ABORT_NAMES", "STATUS_NAMES",
    "Header", "Token", "WireError", "status_name", "abort_reason_name",
    "utf8_valid", "parse_header", "check_tokens", "parse", "tokens",
    "encode_header", "encode", "encode_control", "encode_abort",
    "Builder", "token_hash",
]

MAGIC = 0x534C  # "SL"
VERSION = 1
HDR_LEN = 88
TOKEN_HDR_LEN = 6  # u32 id + u16 text length
ANCESTRY_MAX = 6
MTU = 1500
PAYLOAD_MAX = MTU - 20 - 8 - HDR_LEN  # 1384
UDP_PORT = 7700  # sluiced's default port

# Header flags (byte 3). Bits not listed must be zero.
F_END = 0x01
F_ABORT = 0x02
F_CHILDREN = 0x04
F_NACK = 0x08
F_ACK = 0x10
F_PROBE = 0x20
F_PAUSE = 0x40
F_DATA = F_END | F_ABORT | F_CHILDREN
F_CONTROL = F_NACK | F_ACK | F_PROBE
F_ALL = F_DATA | F_CONTROL | F_PAUSE

# Loss repair timings every hop's two ends share.
RTX_WINDOW = 32
RTX_NACK_MS = 20
RTX_RTO_MS = 20
RTX_TRIES = 5
RTX_LINGER_MS = 1000

# Header offsets (SL_WIRE_OFF_*).
OFF_MAGIC, OFF_VERSION, OFF_FLAGS, OFF_ABORT, OFF_DEPTH = 0, 2, 3, 4, 5
OFF_STAGE, OFF_PIPELINE, OFF_TENANT, OFF_TOKEN_COUNT = 6, 8, 12, 14
OFF_SEQ, OFF_PAYLOAD_LEN, OFF_FROM_STAGE, OFF_SEND_NS = 16, 20, 22, 24
OFF_ANCESTRY, OFF_CHILD_COUNT, OFF_RESERVED = 32, 80, 84

# magic version flags abort depth stage pipeline tenant token_count seq
# payload_len from_stage send_ns ancestry[6] child_count reserved
_HDR = struct.Struct(">HBBBBHIHHIHHQ6QII")
_TOK = struct.Struct(">IH")
assert _HDR.size == HDR_LEN


class Status(enum.IntEnum):
    """``enum sl_wire_status``: why a datagram is invalid (OK is 0)."""

    OK = 0
    FRAME_SHORT = 1
    NOT_IPV4 = 2
    IP_BAD_HDR = 3
    IP_BAD_LEN = 4
    IP_FRAGMENT = 5
    NOT_UDP = 6
    UDP_BAD_LEN = 7
    SHORT = 8
    BAD_MAGIC = 9
    BAD_VERSION = 10
    BAD_FLAGS = 11
    BAD_DEPTH = 12
    BAD_RESERVED = 13
    LEN_MISMATCH = 14
    TOO_BIG = 15
    TOKEN_OVERRUN = 16
    TOKEN_COUNT = 17
    BAD_UTF8 = 18


class Abort(enum.IntEnum):
    """``enum sl_abort_reason``: why a stream was aborted (byte 4)."""

    NONE = 0
    CLIENT = 1
    EXPIRED = 2
    GUARD = 3
    OVERLOAD = 4
    ENGINE = 5
    CHILDREN = 6
    LOST = 7
    SHUTDOWN = 8
    RECONFIG = 9
    TOO_LONG = 10
    UPSTREAM = 11
    UPSTREAM_TIMEOUT = 12
    UPSTREAM_MALFORMED = 13
    UPSTREAM_CLOSED = 14


ABORT_MAX = len(Abort)
STATUS_NAMES: tuple[str, ...] = tuple(s.name for s in Status)
ABORT_NAMES: tuple[str, ...] = tuple(a.name for a in Abort)


def status_name(status: int) -> str:
    """The name of a status, ``UNKNOWN`` out of range (C: same)."""
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else "UNKNOWN"


def abort_reason_name(reason: int) -> str:
    """The name of an abort reason, ``UNKNOWN`` out of range."""
    return ABORT_NAMES[reason] if 0 <= reason < ABORT_MAX else "UNKNOWN"


class WireError(ValueError):
    """A datagram that did not parse; ``status`` says why."""

    def __init__(self, status: Status):
        super().__init__(status.name)
        self.status = status


@dataclass(slots=True)
class Header:
    """The fixed header in host order.

    ``ancestry`` holds exactly ``depth`` ids (the meaningful ones); the
    encoder writes the slots past ``depth`` as zero.
    """

    flags: int = 0
    abort_reason: int = 0
    depth: int = 1
    stage: int = 0
    pipeline: int = 0
    tenant: int = 0
    token_count: int = 0
    seq: int = 0
    payload_len: int = 0
    from_stage: int = 0
    send_ns: int = 0
    ancestry: tuple[int, ...] = (0,)
    child_count: int = 0
    version: int = VERSION

    def identity(self) -> tuple:
        """The header fields that name a stream (WIRE.md, Stream identity)."""
        return (self.pipeline, self.stage, self.from_stage, self.tenant,
                self.depth, self.ancestry)


class Token(NamedTuple):
    """One token: the model's id and its text."""

    id: int
    text: str


def utf8_valid(data: bytes) -> bool:
    """Well-formed UTF-8 per Unicode 15 table 3-7 (as ``sl_utf8_valid``).

    The second byte's range is what excludes overlongs, surrogates and
    values above U+10FFFF; C0, C1 and F5..FF never lead.
    """
    if data.isascii():
        return True
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c < 0x80:
            i += 1
            continue
        lo, hi = 0x80, 0xBF
        if 0xC2 <= c <= 0xDF:
            need = 1
        elif 0xE0 <= c <= 0xEF:
            need = 2
            if c == 0xE0:
                lo = 0xA0
            elif c == 0xED:
                hi = 0x9F
        elif 0xF0 <= c <= 0xF4:
            need = 3
            if c == 0xF0:
                lo = 0x90
            elif c == 0xF4:
                hi = 0x8F
        else:
            return False
        if n - i - 1 < need or not lo <= data[i + 1] <= hi:
            return False
        for k in range(2, need + 1):
            if data[i + k] & 0xC0 != 0x80:
                return False
        i += need + 1
    return True


def _flags_status(flags: int, abort_reason: int, child_count: int,
                  token_count: int, payload_len: int) -> Status:
    """The flags check of ``sl_wire_parse_hdr``, in its order."""
    if flags & ~F_ALL:
        return Status.BAD_FLAGS
    if abort_reason != 0 and (not flags & F_ABORT or abort_reason >= ABORT_MAX):
        return Status.BAD_FLAGS
    if flags & F_CHILDREN and not flags & F_END:
        return Status.BAD_FLAGS
    if flags & (F_CONTROL | F_PAUSE):
        ctl = flags & F_CONTROL
        # One control kind, no data flags, PAUSE only on a PROBE, a count
        # only on a NACK, and no tokens.
        if (ctl & (ctl - 1) or flags & F_DATA
                or (flags & F_PAUSE and ctl != F_PROBE)
                or (child_count and ctl != F_NACK)
                or payload_len or token_count):
            return Status.BAD_FLAGS
    elif child_count and not flags & F_CHILDREN:
        return Status.BAD_FLAGS
    return Status.OK


def parse_header(buf: bytes) -> tuple[Status, Header | None]:
    """Check the 88-byte header of datagram ``buf`` (``sl_wire_parse_hdr``).

    Returns ``(status, header)``; the header is None unless status is OK.
    """
    if len(buf) < HDR_LEN:
        return Status.SHORT, None
    (magic, version, flags, abort_reason, depth, stage, pipeline, tenant,
     token_count, seq, payload_len, from_stage, send_ns, *rest) = \
        _HDR.unpack_from(buf)
    ancestry, child_count, reserved = rest[:6], rest[6], rest[7]
    if magic != MAGIC:
        return Status.BAD_MAGIC, None
    if version != VERSION:
        return Status.BAD_VERSION, None
    st = _flags_status(flags, abort_reason, child_count, token_count,
                       payload_len)
    if st != Status.OK:
        return st, None
    if depth == 0 or depth > ANCESTRY_MAX:
        return Status.BAD_DEPTH, None
    if reserved != 0:
        return Status.BAD_RESERVED, None
    if payload_len != len(buf) - HDR_LEN:
        return Status.LEN_MISMATCH, None
    if payload_len > PAYLOAD_MAX:
        return Status.TOO_BIG, None
    return Status.OK, Header(
        flags=flags, abort_reason=abort_reason, depth=depth, stage=stage,
        pipeline=pipeline, tenant=tenant, token_count=token_count, seq=seq,
        payload_len=payload_len, from_stage=from_stage, send_ns=send_ns,
        ancestry=tuple(ancestry[:depth]), child_count=child_count,
        version=version)


def check_tokens(payload: bytes | memoryview, token_count: int) -> Status:
    """Walk the tokens of a payload (``sl_wire_check_tokens``)."""
    pos, end, n = 0, len(payload), 0
    while pos != end:
        if n == token_count:
            return Status.TOKEN_COUNT  # bytes after the last token
        left = end - pos
        if left < TOKEN_HDR_LEN:
            return Status.TOKEN_OVERRUN
        _, text_len = _TOK.unpack_from(payload, pos)
        if text_len > left - TOKEN_HDR_LEN:
            return Status.TOKEN_OVERRUN
        start = pos + TOKEN_HDR_LEN
        if not utf8_valid(bytes(payload[start:start + text_len])):
            return Status.BAD_UTF8
        pos = start + text_len
        n += 1
    return Status.OK if n == token_count else Status.TOKEN_COUNT


def parse(buf: bytes) -> tuple[Status, Header | None]:
    """Validate a whole datagram, header then tokens (``sl_wire_parse``)."""
    st, hdr = parse_header(buf)
    if st != Status.OK:
        return st, None
    st = check_tokens(memoryview(buf)[HDR_LEN:], hdr.token_count)
    return (st, hdr) if st == Status.OK else (st, None)


def tokens(payload: bytes | memoryview) -> list[Token]:
    """The tokens of a payload that :func:`parse` accepted."""
    out, pos, end = [], 0, len(payload)
    while end - pos >= TOKEN_HDR_LEN:
        tid, text_len = _TOK.unpack_from(payload, pos)
        start = pos + TOKEN_HDR_LEN
        if text_len > end - start:
            break
        out.append(Token(tid, bytes(payload[start:start + text_len])
                         .decode("utf-8")))
        pos = start + text_len
    return out


def encode_header(h: Header) -> bytes:
    """The 88 bytes of ``h`` (``sl_wire_encode_hdr``): slots past depth 0."""
    anc = list(h.ancestry[:h.depth])
    anc += [0] * (ANCESTRY_MAX - len(anc))
    return _HDR.pack(MAGIC, h.version, h.flags, h.abort_reason, h.depth,
                     h.stage, h.pipeline, h.tenant, h.token_count, h.seq,
                     h.payload_len, h.from_stage, h.send_ns, *anc,
                     h.child_count, 0)


def _token_bytes(tid: int, text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if not 0 <= tid <= 0xFFFFFFFF:
        raise ValueError(f"token id {tid} is not a u32")
    if len(raw) > PAYLOAD_MAX - TOKEN_HDR_LEN:
        raise ValueError(f"token text of {len(raw)} bytes cannot fit a fragment")
    return _TOK.pack(tid, len(raw)) + raw


def encode(h: Header, toks: Iterable[tuple[int, str | bytes]] = ()) -> bytes:
    """A datagram: ``h`` (token_count and payload_len set from ``toks``)."""
    parts = [_token_bytes(tid, text) for tid, text in toks]
    payload = b"".join(parts)
    if len(payload) > PAYLOAD_MAX:
        raise ValueError(f"payload of {len(payload)} bytes is over {PAYLOAD_MAX}")
    return encode_header(_with(h, token_count=len(parts),
                               payload_len=len(payload))) + payload


def _with(h: Header, **changes) -> Header:
    """A copy of ``h`` with some fields changed."""
    h2 = Header(**{f: getattr(h, f) for f in h.__slots__})
    for k, v in changes.items():
        setattr(h2, k, v)
    return h2


def encode_control(stream: Header, flags: int, seq: int, count: int = 0,
                   send_ns: int = 0) -> bytes:
    """A control fragment naming ``stream`` (``sl_wire_encode_control``)."""
    return encode_header(_with(
        stream, version=VERSION, flags=flags, abort_reason=0, token_count=0,
        payload_len=0, seq=seq, send_ns=send_ns,
        child_count=count if flags & F_NACK else 0))


def encode_abort(stream: Header, seq: int, reason: int, send_ns: int = 0) -> bytes:
    """A tokenless ABORT of ``stream`` at ``seq`` (sl_rel's build_abort)."""
    return encode_header(_with(
        stream, version=VERSION, flags=F_ABORT, abort_reason=reason,
        token_count=0, payload_len=0, seq=seq, send_ns=send_ns,
        child_count=0))


class Builder:
    """Packs tokens into one fragment's payload, at most PAYLOAD_MAX bytes."""

    __slots__ = ("parts", "size", "count")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.count = 0

    def room_for(self, encoded: bytes) -> bool:
        """Would one more encoded token fit this fragment?"""
        return self.size + len(encoded) <= PAYLOAD_MAX and self.count < 0xFFFF

    def add_encoded(self, encoded: bytes) -> None:
        """Append one token already encoded by :func:`encode_token`."""
        self.parts.append(encoded)
        self.size += len(encoded)
        self.count += 1

    def finish(self, h: Header) -> bytes:
        """The datagram: ``h`` with this payload; the builder is emptied."""
        data = encode_header(_with(h, token_count=self.count,
                                   payload_len=self.size)) + b"".join(self.parts)
        self.parts, self.size, self.count = [], 0, 0
        return data


def encode_token(tid: int, text: str | bytes) -> bytes:
    """One token's bytes: u32 id, u16 length, text (UTF-8)."""
    return _token_bytes(tid, text)


def token_hash(text: str | bytes) -> int:
    """``sl_token_hash``: FNV-1a 32-bit of the UTF-8 bytes, & 0x7fffffff."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    h = 2166136261
    for b in raw:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h & 0x7FFFFFFF


def header_from_fields(fields: dict, ancestry: Sequence[int]) -> Header:
    """A Header from a dict of its field names (as the vectors give them)."""
    return Header(ancestry=tuple(ancestry), **fields)
