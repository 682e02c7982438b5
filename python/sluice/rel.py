# SPDX-License-Identifier: MIT
"""Reliable streams: the client and engine end of loss repair and liveness.

proto/WIRE.md, "Loss repair and liveness", as ``tools/lib/sl_rel.c`` does
it for libsluice, with the same rules, bounds and counter names:

Receive side: one entry per stream (source address + pipeline, stage,
from_stage, tenant, depth, ancestry). The fragment a stream expects next is
delivered at once; earlier ones are duplicates; later ones (within
``rx_window``) are held until the gap before them fills. A gap is NACKed at
once and again after RTX_NACK_MS, doubling, RTX_TRIES times, the schedule
restarting on progress; then the stream is given up and delivered as a
tokenless ABORT (LOST) at the first missing seq. A delivered END or ABORT
is ACKed (again for each duplicate) and the entry lingers RTX_LINGER_MS. A
tokenless END|CHILDREN announcement that opens a stream is taken whole at
any seq.

Send side: one entry per stream (destination + identity) keeping copies of
its last ``tx_window`` fragments, under a global byte bound (oldest copies
evicted first). A NACK is answered with the copies asked for, or one
tokenless ABORT (LOST) at the first one no longer held (the stream ends
there; what the application still sends of it is suppressed). An END or
ABORT without ACK is sent again after RTX_RTO_MS, doubling, RTX_TRIES
times; the ACK forgets the stream.

Liveness: PROBEs are answered (same pipeline, stage, seq, send_ns) with
PAUSE while paused; a pause change is told at once to recent probers.

:class:`Rel` does no I/O of its own: it is given each datagram that
arrived (:meth:`Rel.input`), sends through a ``sendto(data, addr) -> bool``
callable, and is ticked (:meth:`Rel.tick`) at the time
:meth:`Rel.next_due` names. Times are CLOCK_MONOTONIC nanoseconds.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

from . import wire
from .wire import (F_ABORT, F_ACK, F_CHILDREN, F_CONTROL, F_END, F_NACK,
                   F_PAUSE, F_PROBE, Header, Status)

NS_PER_MS = 1_000_000
LINGER_NS = wire.RTX_LINGER_MS * NS_PER_MS
PROBERS = 8  # addresses told about a pause change
NEVER = 1 << 64

Addr = tuple  # (host, port) as the socket module gives it
Key = tuple   # (addr, pipeline, stage, from_stage, tenant, depth, ancestry)

# SL_REL_COUNTERS, in the C order.
COUNTER_NAMES = (
    "delivered", "held", "duplicates_dropped", "after_end_dropped",
    "beyond_window", "held_over_bound", "rx_refused", "nacks_sent",
    "nack_gave_up", "acks_sent", "acks_repeated", "rx_idle_reclaimed",
    "undrained", "nacks_received", "nacks_bogus", "resent",
    "lost_aborts_sent", "nacks_stale", "acks_received", "acks_unknown",
    "end_resends", "gave_up", "tx_streams_evicted", "tx_copies_evicted",
    "tx_bytes_evicted", "tx_idle_reclaimed", "suppressed",
    "probes_answered", "probes_ignored", "probes_sent", "ctl_dropped",
)

TX_OPEN, TX_TAIL, TX_ZOMBIE, TX_DONE = range(4)


@dataclass
class RelConfig:
    """Bounds and roles (``struct sl_rel_config``)."""

    rx_streams_max: int = 16384
    tx_streams_max: int = 16384
    rx_bytes_max: int = 16 << 20
    tx_bytes_max: int = 32 << 20
    rx_window: int = wire.RTX_WINDOW
    # As sl_rel_config_default: copies enough for the repair schedule of
    # a receiver that holds fewer (sluiced's reorder_window) while the
    # model keeps producing.
    tx_window: int = 256
    idle_ns: int = 30 * 1_000_000_000
    answer_probes: bool = False   # an instance: sluiced probes it
    report_gave_up: bool = False  # deliver ABORT (LOST) when no ACK came


class Delivery(NamedTuple):
    """A data fragment handed to the application, in order and once."""

    hdr: Header
    payload: bytes
    addr: Addr


def now_ns() -> int:
    """CLOCK_MONOTONIC in ns (what ``send_ns`` carries)."""
    return time.monotonic_ns()


def stream_key(addr: Addr, h: Header) -> Key:
    """The key of a stream: peer address + the header's identity fields."""
    return (addr, h.pipeline, h.stage, h.from_stage, h.tenant, h.depth,
            h.ancestry)


def key_header(key: Key) -> Header:
    """The identity header of a stream (for control fragments, ABORTs)."""
    _, pipeline, stage, from_stage, tenant, depth, ancestry = key
    return Header(pipeline=pipeline, stage=stage, from_stage=from_stage,
                  tenant=tenant, depth=depth, ancestry=ancestry)


class _Rx:
    """One stream received."""

    __slots__ = ("key", "held", "expected", "top", "nack_due",
                 "nack_interval", "nack_hi", "nack_tries", "ended", "end_seq",
                 "local_end", "in_gap", "held_end_seq", "last_ns",
                 "last_send_ns")

    def __init__(self, key: Key):
        self.key = key
        self.held: dict[int, bytes] = {}  # early fragments by seq
        self.expected = 0   # next seq to deliver
        self.top = 0        # highest seq seen + 1
        self.nack_due = 0
        self.nack_interval = 0
        self.nack_hi = 0    # end of the range the last NACK asked for
        self.nack_tries = 0
        self.ended = False
        self.end_seq = 0
        self.local_end = False  # given up here: nothing to ACK
        self.in_gap = False
        self.held_end_seq: Optional[int] = None
        self.last_ns = 0
        self.last_send_ns = 0


class _Tx:
    """One stream sent."""

    __slots__ = ("key", "ring", "last_ns", "next_seq", "tail_due",
                 "tail_interval", "end_seq", "app_end_seq", "state",
                 "tail_tries", "app_ended", "lost", "where")

    def __init__(self, key: Key):
        self.key = key
        self.ring: dict[int, bytes] = {}  # copies by seq
        self.last_ns = 0
        self.next_seq = 0   # highest seq sent + 1
        self.tail_due = 0
        self.tail_interval = 0
        self.end_seq = 0    # TAIL: the seq the resends carry
        self.app_end_seq = 0
        self.state = TX_OPEN
        self.tail_tries = 0
        self.app_ended = False
        self.lost = False   # ABORT (LOST) sent: later fragments suppressed
        self.where: OrderedDict = OrderedDict()


class _Prober(NamedTuple):
    addr: Addr
    hdr: Header
    last_ns: int


class Rel:
    """The reliable-stream layer of one UDP socket (``struct sl_rel``).

    ``sendto(data, addr)`` sends one datagram and returns False when the
    socket refused it. ``on_tx_end(key, acked)``, if set, is called when
    a sent stream's END/ABORT is ACKed (True) or given up (False).
    """

    def __init__(self, sendto: Callable[[bytes, Addr], bool],
                 config: Optional[RelConfig] = None):
        cfg = config or RelConfig()
        if min(cfg.rx_streams_max, cfg.tx_streams_max, cfg.rx_bytes_max,
               cfg.tx_bytes_max, cfg.rx_window, cfg.tx_window,
               cfg.idle_ns) <= 0 or cfg.rx_window > 256 or cfg.tx_window > 256:
            raise ValueError("bad RelConfig")
        self.cfg = cfg
        self._sendto = sendto
        self.on_tx_end: Optional[Callable[[Key, bool], None]] = None
        self.c: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self.now = 0
        self.paused = False
        # receive side
        self.rx: dict[Key, _Rx] = {}
        self.rx_open: OrderedDict[Key, _Rx] = OrderedDict()
        self.rx_linger: OrderedDict[Key, _Rx] = OrderedDict()
        self.rx_gapped: dict[Key, _Rx] = {}
        self.rx_gap_next = NEVER
        self.rx_bytes = 0
        self.rx_held = 0
        # send side
        self.tx: dict[Key, _Tx] = {}
        self.tx_open: OrderedDict[Key, _Tx] = OrderedDict()
        self.tx_tail: OrderedDict[Key, _Tx] = OrderedDict()
        self.tx_done: OrderedDict[Key, _Tx] = OrderedDict()
        self.copies: OrderedDict[tuple, int] = OrderedDict()  # oldest first
        self.tx_bytes = 0
        self.tx_lost = 0
        self.tx_tail_next = NEVER
        # liveness
        self.probers: list[_Prober] = []
        self._out: list[Delivery] = []

    # ---- small helpers ----

    def _clock(self, now: Optional[int]) -> None:
        now = now_ns() if now is None else now
        if now > self.now:
            self.now = now

    def _send(self, data: bytes, addr: Addr) -> None:
        """A datagram of the layer itself (control, resend, ABORT)."""
        if not self._sendto(data, addr):
            self.c["ctl_dropped"] += 1

    def _send_ctl(self, key: Key, flags: int, seq: int, count: int = 0,
                  send_ns: Optional[int] = None) -> None:
        self._send(wire.encode_control(
            key_header(key), flags, seq, count,
            self.now if send_ns is None else send_ns), key[0])

    def _send_abort(self, key: Key, seq: int, reason: int) -> None:
        self._send(wire.encode_abort(key_header(key), seq, reason, self.now),
                   key[0])

    @staticmethod
    def _move(src: OrderedDict, dst: OrderedDict, key: Key, entry) -> None:
        src.pop(key, None)
        dst[key] = entry

    # ---- API ----

    def input(self, data: bytes, addr: Addr,
              now: Optional[int] = None) -> tuple[Status, list[Delivery]]:
        """Take one datagram from ``addr``. Returns its wire status and
        the data fragments now deliverable, in order (control fragments
        are acted on here and never delivered)."""
        self._clock(now)
        self._out = []
        st, h = wire.parse(data)
        if st != Status.OK:
            return st, []
        if h.flags & F_NACK:
            self._tx_nack(h, addr)
        elif h.flags & F_ACK:
            self._tx_ack(h, addr)
        elif h.flags & F_PROBE:
            self._probe_answer(h, addr)
        else:
            self._rx_data(h, data, addr)
        out, self._out = self._out, []
        return st, out

    def send(self, data: bytes, addr: Addr, now: Optional[int] = None) -> bool:
        """Send one data fragment to ``addr``, keeping its copy. Returns
        False when the socket refused it (nothing recorded). A fragment
        of a stream cut by ABORT (LOST) is suppressed (returns True)."""
        self._clock(now)
        st, h = wire.parse_header(data)
        if st != Status.OK or h.flags & F_CONTROL:
            return self._sendto(data, addr)
        key = stream_key(addr, h)
        t = self.tx.get(key)
        if t is not None and t.lost:
            self._tx_suppress(t, h)
            return True
        if not self._sendto(data, addr):
            return False
        self._tx_record(key, h, data)
        return True

    def set_pause(self, pause: bool, now: Optional[int] = None) -> None:
        """PAUSE on PROBE answers; tell every recent prober at once."""
        self._clock(now)
        if pause == self.paused:
            return
        self.paused = pause
        for p in self.probers:
            key = stream_key(p.addr, p.hdr)
            self._send_ctl(key, F_PROBE | (F_PAUSE if pause else 0),
                           p.hdr.seq, 0, self.now)
            self.c["probes_sent"] += 1

    def abort_open(self, reason: int, now: Optional[int] = None) -> int:
        """End every stream still being sent with a tokenless ABORT (a
        shutdown); it is kept and resent like any END. Returns how many."""
        self._clock(now)
        n = 0
        for t in list(self.tx_open.values()):
            if t.state != TX_OPEN or t.app_ended:
                continue
            seq = t.next_seq
            data = wire.encode_abort(key_header(t.key), seq, reason, self.now)
            self._send(data, t.key[0])
            t.next_seq += 1
            t.app_ended, t.app_end_seq = True, seq
            self._tx_keep(t, seq, data)
            self._tx_tail_start(t, seq)
            n += 1
        return n

    def tick(self, now: Optional[int] = None) -> list[Delivery]:
        """Run NACK repeats, END resends, give-ups, linger and idle
        expiry. Returns the deliveries it made (ABORT LOST of a gap
        given up; with ``report_gave_up``, of an END never ACKed)."""
        self._clock(now)
        self._out = []
        self._expire()
        if self.rx_gap_next <= self.now:
            self._rx_gap_timers()
        if self.tx_tail_next <= self.now:
            self._tx_tail_timers()
        out, self._out = self._out, []
        return out

    def next_due(self) -> int:
        """When :meth:`tick` has work next (ns; NEVER when idle)."""
        due = min(self.rx_gap_next, self.tx_tail_next)
        for lst, span in ((self.rx_linger, LINGER_NS),
                          (self.rx_open, self.cfg.idle_ns),
                          (self.tx_open, self.cfg.idle_ns),
                          (self.tx_done, LINGER_NS)):
            if lst:
                due = min(due, next(iter(lst.values())).last_ns + span)
        return due

    def counters(self) -> dict[str, int]:
        """A copy of the counters (``SL_REL_COUNTERS`` names)."""
        return dict(self.c)

    def usage(self) -> dict[str, int]:
        """What is held now (``struct sl_rel_usage``)."""
        return {
            "rx_streams": len(self.rx), "rx_held": self.rx_held,
            "rx_bytes": self.rx_bytes,
            "tx_streams": len(self.tx) - len(self.tx_done),
            "tx_acked": len(self.tx_done), "tx_pending": len(self.tx_tail),
            "tx_copies": len(self.copies), "tx_bytes": self.tx_bytes,
        }

    # ---- receive side ----

    def _deliver(self, s: _Rx, h: Header, data: bytes) -> None:
        self._out.append(Delivery(h, data[wire.HDR_LEN:], s.key[0]))
        s.expected = h.seq + 1
        s.last_send_ns = h.send_ns
        self.c["delivered"] += 1

    def _rx_free_held(self, s: _Rx, count: bool) -> None:
        for data in s.held.values():
            self.rx_bytes -= len(data)
            self.rx_held -= 1
            if count:
                self.c["after_end_dropped"] += 1
        s.held.clear()
        s.held_end_seq = None

    def _rx_gap_stop(self, s: _Rx) -> None:
        if s.in_gap:
            del self.rx_gapped[s.key]
            s.in_gap = False

    def _rx_remove(self, s: _Rx) -> None:
        self._rx_free_held(s, False)
        self._rx_gap_stop(s)
        self.rx_open.pop(s.key, None)
        self.rx_linger.pop(s.key, None)
        del self.rx[s.key]

    def _rx_reclaim_one(self) -> None:
        """Room for one stream: a lingering one past its time, or an open
        one idle too long."""
        if self.rx_linger:
            s = next(iter(self.rx_linger.values()))
            if self.now - s.last_ns >= LINGER_NS:
                self._rx_remove(s)
                return
        if self.rx_open:
            s = next(iter(self.rx_open.values()))
            if self.now - s.last_ns >= self.cfg.idle_ns:
                self._rx_expire(s)
                self._rx_remove(s)  # its slot now, not after lingering

    def _rx_expire(self, s: _Rx) -> None:
        """``s`` has been open and silent for idle_ns: its sender is gone,
        or gave up resending its END. End it for the application with a
        tokenless ABORT (EXPIRED) at the next seq, never silently, and let
        it linger (as sl_rel.c does)."""
        data = wire.encode_abort(key_header(s.key), s.expected,
                                 wire.Abort.EXPIRED, s.last_send_ns)
        _, h = wire.parse_header(data)
        self._deliver(s, h, data)
        self.c["rx_idle_reclaimed"] += 1
        self._rx_end(s, h.seq, True)

    def _rx_create(self, key: Key) -> Optional[_Rx]:
        if len(self.rx) >= self.cfg.rx_streams_max:
            self._rx_reclaim_one()
            if len(self.rx) >= self.cfg.rx_streams_max:
                return None
        s = _Rx(key)
        self.rx[key] = s
        self.rx_open[key] = s
        return s

    def _rx_nack(self, s: _Rx) -> None:
        """NACK the first missing run: up to the first held fragment, or
        up to what was seen (fragments not held for lack of room)."""
        end = min(s.held) if s.held else s.top
        count = min(end - s.expected, self.cfg.rx_window)
        self._send_ctl(s.key, F_NACK, s.expected, count)
        s.nack_hi = s.expected + count
        self.c["nacks_sent"] += 1

    def _rx_gap_check(self, s: _Rx, progress: bool) -> None:
        """After an arrival: NACK a new gap at once and schedule its
        repeats; stop when no gap is left. Progress restarts the schedule
        and NACKs at once only what the last NACK did not ask for."""
        if s.ended:
            return
        if not s.held and s.top <= s.expected:
            self._rx_gap_stop(s)
            return
        if s.in_gap and not progress:
            return
        if not s.in_gap or s.expected >= s.nack_hi:
            self._rx_nack(s)
        s.nack_tries = 0
        s.nack_interval = wire.RTX_NACK_MS * NS_PER_MS
        s.nack_due = self.now + s.nack_interval
        if not s.in_gap:
            self.rx_gapped[s.key] = s
            s.in_gap = True
        self.rx_gap_next = min(self.rx_gap_next, s.nack_due)

    def _rx_end(self, s: _Rx, seq: int, local: bool) -> None:
        """The stream ended at ``seq``: ACK it (unless given up here) and
        let it linger."""
        s.ended, s.end_seq, s.local_end = True, seq, local
        self._rx_free_held(s, True)
        self._rx_gap_stop(s)
        s.last_ns = self.now
        self._move(self.rx_open, self.rx_linger, s.key, s)
        if not local:
            self._send_ctl(s.key, F_ACK, seq)
            self.c["acks_sent"] += 1

    def _rx_drain_held(self, s: _Rx) -> bool:
        """Deliver the held fragments now in sequence; True if one ended
        the stream."""
        while s.expected in s.held:
            data = s.held.pop(s.expected)
            self.rx_bytes -= len(data)
            self.rx_held -= 1
            _, h = wire.parse_header(data)  # it parsed when it arrived
            self._deliver(s, h, data)
            if h.flags & (F_END | F_ABORT):
                self._rx_end(s, h.seq, False)
                return True
        return False

    def _rx_early(self, s: _Rx, h: Header, data: bytes) -> None:
        """An early fragment: hold it (or count why not); NACK the gap."""
        seq = h.seq
        if s.held_end_seq is not None and seq > s.held_end_seq:
            self.c["after_end_dropped"] += 1
            return
        s.top = max(s.top, seq + 1)
        if seq - s.expected >= self.cfg.rx_window:
            self.c["beyond_window"] += 1
            self._rx_gap_check(s, False)
            return
        if seq in s.held:
            self.c["duplicates_dropped"] += 1
            return
        if h.flags & (F_END | F_ABORT):
            # Held fragments past an end cannot be delivered.
            for later in [q for q in s.held if q > seq]:
                self.rx_bytes -= len(s.held.pop(later))
                self.rx_held -= 1
                self.c["after_end_dropped"] += 1
            s.held_end_seq = seq
        if self.rx_bytes + len(data) > self.cfg.rx_bytes_max:
            self.c["held_over_bound"] += 1
            self._rx_gap_check(s, False)
            return
        s.held[seq] = bytes(data)
        self.rx_bytes += len(data)
        self.rx_held += 1
        self.c["held"] += 1
        self._rx_gap_check(s, False)

    def _rx_data(self, h: Header, data: bytes, addr: Addr) -> None:
        key = stream_key(addr, h)
        s = self.rx.get(key)
        if s is None:
            s = self._rx_create(key)
            if s is None:
                self.c["rx_refused"] += 1
                return
        end = bool(h.flags & (F_END | F_ABORT))
        if s.ended:
            if h.seq <= s.end_seq:
                self.c["duplicates_dropped"] += 1
                if end and h.seq == s.end_seq and not s.local_end:
                    self._send_ctl(key, F_ACK, s.end_seq)  # ours was lost?
                    self.c["acks_repeated"] += 1
            else:
                self.c["after_end_dropped"] += 1
            return
        s.last_ns = self.now
        self.rx_open.move_to_end(key)
        # A split's child count announcement is a stream of its own
        # whatever its seq: nothing of it came before.
        if (s.expected == 0 and s.top == 0 and not s.held
                and h.flags & F_CHILDREN and h.token_count == 0):
            self._deliver(s, h, data)
            self._rx_end(s, h.seq, False)
            return
        if h.seq < s.expected:
            self.c["duplicates_dropped"] += 1
            return
        if h.seq > s.expected:
            self._rx_early(s, h, data)
            return
        self._deliver(s, h, data)
        if end:
            self._rx_end(s, h.seq, False)
            return
        if not self._rx_drain_held(s):
            self._rx_gap_check(s, True)

    def _rx_gap_timers(self) -> None:
        """NACK repeats and give-ups that fell due."""
        due = NEVER
        for s in list(self.rx_gapped.values()):
            if s.nack_due <= self.now:
                if s.nack_tries < wire.RTX_TRIES:
                    self._rx_nack(s)
                    s.nack_tries += 1
                    s.nack_interval *= 2
                    s.nack_due = self.now + s.nack_interval
                else:
                    # The gap will not fill: end the stream here,
                    # explicitly, for the application.
                    data = wire.encode_abort(key_header(s.key), s.expected,
                                             wire.Abort.LOST, s.last_send_ns)
                    _, h = wire.parse_header(data)
                    self._deliver(s, h, data)
                    self.c["nack_gave_up"] += 1
                    self._rx_end(s, h.seq, True)
                    continue
            due = min(due, s.nack_due)
        self.rx_gap_next = due

    # ---- send side ----

    def _copy_free(self, t: _Tx, seq: int) -> None:
        data = t.ring.pop(seq)
        del self.copies[(t.key, seq)]
        self.tx_bytes -= len(data)

    def _tx_free_copies(self, t: _Tx) -> None:
        for seq in list(t.ring):
            self._copy_free(t, seq)

    def _tx_forget(self, t: _Tx) -> None:
        self._tx_free_copies(t)
        if t.lost:
            self.tx_lost -= 1
        t.where.pop(t.key, None)
        del self.tx[t.key]

    def _tx_keep(self, t: _Tx, seq: int, data: bytes) -> None:
        """Keep the copy of fragment ``seq``: drop what left the window,
        then the oldest copies of any stream while over the byte bound."""
        for old in [q for q in t.ring
                    if q == seq or q + self.cfg.tx_window <= seq]:
            self._copy_free(t, old)
        while self.tx_bytes + len(data) > self.cfg.tx_bytes_max and self.copies:
            (key, oseq), n = next(iter(self.copies.items()))
            self.c["tx_copies_evicted"] += 1
            self.c["tx_bytes_evicted"] += n
            self._copy_free(self.tx[key], oseq)
        if self.tx_bytes + len(data) > self.cfg.tx_bytes_max:
            self.c["tx_copies_evicted"] += 1  # larger than the whole bound
            self.c["tx_bytes_evicted"] += len(data)
            return
        t.ring[seq] = bytes(data)
        self.copies[(t.key, seq)] = len(data)
        self.tx_bytes += len(data)

    def _tx_tail_start(self, t: _Tx, seq: int) -> None:
        """END/ABORT (or ABORT LOST) at ``seq`` went out: await its ACK."""
        t.state, t.end_seq, t.tail_tries = TX_TAIL, seq, 0
        t.tail_interval = wire.RTX_RTO_MS * NS_PER_MS
        t.tail_due = self.now + t.tail_interval
        self._place(t, self.tx_tail)
        self.tx_tail_next = min(self.tx_tail_next, t.tail_due)

    def _place(self, t: _Tx, lst: OrderedDict) -> None:
        """Move ``t`` to the tail of list ``lst`` (tx_open/tail/done)."""
        t.where.pop(t.key, None)
        lst[t.key] = t
        t.where = lst

    def _tx_create(self, key: Key) -> Optional[_Tx]:
        if len(self.tx) >= self.cfg.tx_streams_max:
            if self.tx_done:  # already ACKed: the cheapest to forget
                self._tx_forget(next(iter(self.tx_done.values())))
            else:
                # The oldest awaiting its ACK first, else the least
                # recently sent.
                victims = self.tx_tail or self.tx_open
                if not victims:
                    return None
                self.c["tx_streams_evicted"] += 1
                self._tx_forget(next(iter(victims.values())))
        t = _Tx(key)
        self.tx[key] = t
        self._place(t, self.tx_open)
        return t

    def _tx_suppress(self, t: _Tx, h: Header) -> None:
        """A fragment of a stream cut by ABORT (LOST) is not sent; the
        application's own end lets the entry go."""
        self.c["suppressed"] += 1
        if h.flags & (F_END | F_ABORT):
            t.app_ended, t.app_end_seq = True, h.seq
            if t.state == TX_ZOMBIE:
                self._tx_forget(t)

    def _tx_record(self, key: Key, h: Header, data: bytes) -> None:
        """Record data fragment ``data`` as sent now."""
        t = self.tx.get(key)
        if t is not None and t.state == TX_DONE:
            self._tx_forget(t)  # the same identity after its ACK: new
            t = None
        if t is None:
            t = self._tx_create(key)
            if t is None:
                return
        if t.state != TX_OPEN or t.app_ended:
            return  # nothing follows an end on the wire
        t.next_seq = max(t.next_seq, h.seq + 1)
        self._tx_keep(t, h.seq, data)
        t.last_ns = self.now
        self._place(t, self.tx_open)
        if h.flags & (F_END | F_ABORT):
            t.app_ended, t.app_end_seq = True, h.seq
            self._tx_tail_start(t, h.seq)

    def _tx_send_tail(self, t: _Tx) -> None:
        """Send the fragment that ends ``t`` again, or ABORT (LOST)."""
        data = None if t.lost else t.ring.get(t.end_seq)
        if data is not None:
            self._send(data, t.key[0])
        else:
            self._send_abort(t.key, t.end_seq, wire.Abort.LOST)
            self.c["lost_aborts_sent"] += 1

    def _tx_nack(self, h: Header, addr: Addr) -> None:
        self.c["nacks_received"] += 1
        key = stream_key(addr, h)
        t = self.tx.get(key)
        if h.child_count == 0:
            self.c["nacks_bogus"] += 1
            return
        if t is not None and t.state == TX_DONE:
            self.c["nacks_stale"] += 1  # overtaken by the ACK
            return
        if t is None or t.lost:
            # Forgotten (or cut): it cannot be sent again. Say so.
            self._send_abort(key, h.seq if t is None else t.end_seq,
                             wire.Abort.LOST)
            self.c["lost_aborts_sent"] += 1
            return
        if h.seq >= t.next_seq or (t.state != TX_OPEN and h.seq > t.end_seq):
            self.c["nacks_bogus"] += 1
            return
        if h.seq not in t.ring:
            # Cut the stream where the hole is.
            self._tx_free_copies(t)
            t.lost = True
            self.tx_lost += 1
            self._tx_tail_start(t, h.seq)
            self._send_abort(key, h.seq, wire.Abort.LOST)
            self.c["lost_aborts_sent"] += 1
            return
        if t.state == TX_TAIL:
            # The receiver is alive and repairing: resends start over.
            t.tail_tries = 0
            t.tail_interval = wire.RTX_RTO_MS * NS_PER_MS
            t.tail_due = self.now + t.tail_interval
        n = min(h.child_count, t.next_seq - h.seq, self.cfg.tx_window)
        for seq in range(h.seq, h.seq + n):
            data = t.ring.get(seq)
            if data is not None:
                self._send(data, addr)
                self.c["resent"] += 1

    def _tx_ack(self, h: Header, addr: Addr) -> None:
        key = stream_key(addr, h)
        t = self.tx.get(key)
        if (t is None or t.state != TX_TAIL
                or (h.seq != t.end_seq
                    and not (t.app_ended and h.seq == t.app_end_seq))):
            self.c["acks_unknown"] += 1
            return
        self.c["acks_received"] += 1
        self._tx_free_copies(t)
        t.last_ns = self.now
        if t.lost and not t.app_ended:
            # Still produced by the application: keep the entry to
            # suppress the rest, without copies or timers.
            t.state = TX_ZOMBIE
            self._place(t, self.tx_open)
        else:
            if t.lost:
                t.lost = False
                self.tx_lost -= 1
            t.state = TX_DONE
            self._place(t, self.tx_done)
        if self.on_tx_end is not None:
            self.on_tx_end(key, True)

    def _tx_report_gave_up(self, t: _Tx) -> None:
        """Tell the application with an ABORT (LOST) on ``t``'s identity,
        as if its receiver had sent it."""
        data = wire.encode_abort(key_header(t.key), t.end_seq,
                                 wire.Abort.LOST, self.now)
        _, h = wire.parse_header(data)
        self._out.append(Delivery(h, b"", t.key[0]))

    def _tx_tail_timers(self) -> None:
        due = NEVER
        for t in list(self.tx_tail.values()):
            if t.tail_due <= self.now:
                if t.tail_tries >= wire.RTX_TRIES:
                    if self.cfg.report_gave_up:
                        self._tx_report_gave_up(t)
                    self.c["gave_up"] += 1
                    self._tx_forget(t)
                    if self.on_tx_end is not None:
                        self.on_tx_end(t.key, False)
                    continue
                self._tx_send_tail(t)
                self.c["end_resends"] += 1
                t.tail_tries += 1
                t.tail_interval *= 2
                t.tail_due = self.now + t.tail_interval
            due = min(due, t.tail_due)
        self.tx_tail_next = due

    # ---- liveness and expiry ----

    def _probe_answer(self, h: Header, addr: Addr) -> None:
        if not self.cfg.answer_probes:
            self.c["probes_ignored"] += 1
            return
        self.probers = [p for p in self.probers
                        if not (p.addr == addr and p.hdr.pipeline == h.pipeline
                                and p.hdr.stage == h.stage)]
        self.probers.append(_Prober(addr, h, self.now))
        del self.probers[:-PROBERS]  # the oldest goes
        self._send_ctl(stream_key(addr, h),
                       F_PROBE | (F_PAUSE if self.paused else 0), h.seq, 0,
                       h.send_ns)
        self.c["probes_answered"] += 1

    def _expire(self) -> None:
        """Linger and idle expiry, oldest first."""
        while self.rx_linger:
            s = next(iter(self.rx_linger.values()))
            if self.now - s.last_ns < LINGER_NS:
                break
            self._rx_remove(s)
        while self.rx_open:
            s = next(iter(self.rx_open.values()))
            if self.now - s.last_ns < self.cfg.idle_ns:
                break
            self._rx_expire(s)
        while self.tx_done:
            t = next(iter(self.tx_done.values()))
            if self.now - t.last_ns < LINGER_NS:
                break
            self._tx_forget(t)
        while self.tx_open:
            t = next(iter(self.tx_open.values()))
            if self.now - t.last_ns < self.cfg.idle_ns:
                break
            if t.state == TX_OPEN:
                self.c["tx_idle_reclaimed"] += 1
            self._tx_forget(t)
