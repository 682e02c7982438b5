# SPDX-License-Identifier: MIT
"""sluice.rel: two ends over loopback UDP through a lossy relay, and one
end against a raw socket speaking the wire format by hand."""
import heapq
import random
import select
import socket
import time
import unittest
from typing import Callable

from sluice import wire
from sluice.rel import Rel, RelConfig, now_ns
from sluice.wire import F_ABORT, F_ACK, F_CHILDREN, F_END, F_NACK, F_PAUSE, F_PROBE, Header

LOCAL = ("127.0.0.1", 0)


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(LOCAL)
    s.setblocking(False)
    return s


class End:
    """A Rel on its own socket; deliveries collected."""

    def __init__(self, cfg: RelConfig | None = None):
        self.sock = udp()
        self.addr = self.sock.getsockname()
        self.rel = Rel(self._sendto, cfg)
        self.got = []  # (hdr, payload, addr)

    def _sendto(self, data, addr) -> bool:
        try:
            self.sock.sendto(data, addr)
            return True
        except BlockingIOError:
            return False

    def readable(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(2048)
            except BlockingIOError:
                return
            st, out = self.rel.input(data, addr)
            assert st == wire.Status.OK, st
            self.got += out

    def close(self) -> None:
        self.sock.close()


class Relay:
    """Forwards A<->B with seeded loss, duplication and reordering (a
    random delay per datagram); ``drop`` can kill chosen datagrams."""

    def __init__(self, a: End, b: End, seed: int, loss=0.0, dup=0.0,
                 delay_ms=0.0, drop: Callable[[bytes, bool], bool] = None):
        self.ra, self.rb = udp(), udp()  # A talks to ra, B to rb
        self.a, self.b = a, b
        self.rnd = random.Random(seed)
        self.loss, self.dup, self.delay = loss, dup, delay_ms * 1e6
        self.drop = drop or (lambda data, to_b: False)
        self.queue = []  # (due_ns, n, sock, data, addr)
        self.n = 0

    def readable(self, sock) -> None:
        to_b = sock is self.ra
        while True:
            try:
                data, _ = sock.recvfrom(2048)
            except BlockingIOError:
                return
            if self.drop(data, to_b) or self.rnd.random() < self.loss:
                continue
            copies = 2 if self.rnd.random() < self.dup else 1
            for _ in range(copies):
                out, dst = (self.rb, self.b.addr) if to_b else (self.ra, self.a.addr)
                due = now_ns() + int(self.rnd.random() * self.delay)
                self.n += 1
                heapq.heappush(self.queue, (due, self.n, out, data, dst))

    def release(self) -> int:
        now = now_ns()
        while self.queue and self.queue[0][0] <= now:
            _, _, out, data, dst = heapq.heappop(self.queue)
            out.sendto(data, dst)
        return self.queue[0][0] if self.queue else 1 << 64

    def close(self) -> None:
        self.ra.close()
        self.rb.close()


def pump(ends, relay, until: Callable[[], bool], seconds: float,
         on_tick=None) -> bool:
    """Run the ends (and relay) until ``until()`` or the time is up."""
    deadline = time.monotonic() + seconds
    socks = {e.sock: e for e in ends}
    if relay:
        socks[relay.ra] = relay
        socks[relay.rb] = relay
    while time.monotonic() < deadline:
        if until():
            return True
        due = min([e.rel.next_due() for e in ends] +
                  ([relay.release()] if relay else []))
        wait = max(0.0, min((due - now_ns()) / 1e9, 0.02))
        ready, _, _ = select.select(list(socks), [], [], wait)
        for s in ready:
            owner = socks[s]
            if owner is relay:
                relay.readable(s)
            else:
                owner.readable()
        for e in ends:
            e.got += e.rel.tick()
        if on_tick:
            on_tick()
    return until()


def stream_frags(req: int, n_frags: int, stage=1) -> list[bytes]:
    """A stream of n_frags fragments of 3 tokens each, END on the last."""
    out = []
    for seq in range(n_frags):
        h = Header(pipeline=1, stage=stage, tenant=3, depth=2,
                   ancestry=(req, 7), seq=seq, send_ns=1000 + seq,
                   flags=F_END if seq == n_frags - 1 else 0)
        toks = [(req * 100 + seq * 3 + k, f"r{req}s{seq}t{k} é") for k in range(3)]
        out.append(wire.encode(h, toks))
    return out


class Lossy(unittest.TestCase):
    def setUp(self):
        self.a, self.b = End(), End()

    def tearDown(self):
        self.a.close()
        self.b.close()
        if getattr(self, "relay", None):
            self.relay.close()

    def test_streams_repaired_both_ways(self):
        """A sends 12 streams of 10 fragments through 15% loss, 5%
        duplication and reordering; B answers each fragment (the engine
        loop) through the same relay. Every byte arrives, in order, once."""
        self.relay = Relay(self.a, self.b, seed=11, loss=0.15, dup=0.05,
                           delay_ms=4)
        sent = {req: stream_frags(req, 10) for req in range(12)}
        for frags in sent.values():
            for f in frags:
                self.a.rel.send(f, self.relay.ra.getsockname())
        answered = []

        def engine():
            # B answers each delivered fragment with its bytes upper-cased
            # text (same identity, own seq = input seq here).
            while len(answered) < len(self.b.got):
                h, payload, addr = self.b.got[len(answered)]
                toks = [(t.id, t.text.upper()) for t in wire.tokens(payload)]
                self.b.rel.send(wire.encode(h, toks), addr)
                answered.append(h.seq)

        done = pump([self.a, self.b], self.relay,
                    lambda: len(self.a.got) == 120 and not self.a.rel.tx_tail
                    and not self.b.rel.tx_tail, 4.5, engine)
        self.assertTrue(done, (len(self.b.got), len(self.a.got)))
        for side, got, upper in ((self.b, self.b.got, False), (self.a, self.a.got, True)):
            per = {}
            for h, payload, _ in got:
                per.setdefault(h.ancestry[0], []).append((h.seq, bytes(payload)))
            self.assertEqual(sorted(per), list(range(12)))
            for req, frags in sent.items():
                want = [(i, f[wire.HDR_LEN:]) for i, f in enumerate(frags)]
                if upper:
                    want = [(i, wire.encode(Header(ancestry=(1,)), [
                        (t.id, t.text.upper()) for t in wire.tokens(p)])[88:])
                        for i, p in want]
                self.assertEqual(per[req], want, f"stream {req}")
        ca, cb = self.a.rel.counters(), self.b.rel.counters()
        self.assertEqual(cb["delivered"], 120)
        self.assertEqual(ca["delivered"], 120)
        self.assertEqual(cb["acks_sent"], 12)
        self.assertEqual(ca["acks_sent"], 12)
        self.assertGreater(cb["nacks_sent"], 0)
        self.assertGreater(ca["resent"] + ca["end_resends"], 0)
        self.assertGreater(cb["duplicates_dropped"], 0)
        self.assertEqual(ca["acks_received"], 12)
        self.assertEqual(cb["acks_received"], 12)
        self.assertEqual(ca["nack_gave_up"] + cb["nack_gave_up"], 0)
        self.assertEqual(self.a.rel.usage()["tx_copies"], 0)

    def test_gap_given_up_as_abort_lost(self):
        """Fragment 1 never gets through: B NACKs it at once and 5 more
        times, then delivers a tokenless ABORT (LOST) at seq 1."""
        def drop(data, to_b):
            h = wire.parse_header(data)[1]
            return to_b and not h.flags & 0x38 and h.seq == 1
        self.relay = Relay(self.a, self.b, seed=1, drop=drop)
        for f in stream_frags(5, 4):
            self.a.rel.send(f, self.relay.ra.getsockname())
        t0 = time.monotonic()
        pump([self.a, self.b], self.relay,
             lambda: any(h.flags & F_ABORT for h, _, _ in self.b.got), 4.0)
        took = time.monotonic() - t0
        self.assertEqual([(h.seq, h.flags, h.abort_reason, h.token_count)
                          for h, _, _ in self.b.got],
                         [(0, 0, 0, 3), (1, F_ABORT, wire.Abort.LOST, 0)])
        cb = self.b.rel.counters()
        self.assertEqual(cb["nacks_sent"], 1 + wire.RTX_TRIES)
        self.assertEqual(cb["nack_gave_up"], 1)
        self.assertEqual(cb["acks_sent"], 0)
        # 20+40+80+160+320+640 ms of repeats, then the give-up.
        self.assertGreater(took, 1.2)
        # A, never ACKed, resends its END 5 times, then gives up.
        pump([self.a, self.b], self.relay,
             lambda: self.a.rel.counters()["gave_up"] == 1, 2.0)
        ca = self.a.rel.counters()
        self.assertEqual(ca["gave_up"], 1)
        # Each NACK restarted the END's schedule (B is alive); the last
        # run is the full 5.
        self.assertGreaterEqual(ca["end_resends"], wire.RTX_TRIES)
        self.assertGreaterEqual(ca["resent"], 1)
        self.assertGreater(self.b.rel.counters()["after_end_dropped"], 0)


class Peer:
    """A raw UDP socket speaking the wire format by hand."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(LOCAL)
        self.addr = self.sock.getsockname()

    def recv(self, end: End, timeout=0.5):
        """Pump ``end`` until one datagram reaches this peer."""
        deadline = time.monotonic() + timeout
        self.sock.setblocking(False)
        while time.monotonic() < deadline:
            try:
                data, _ = self.sock.recvfrom(2048)
                return data
            except BlockingIOError:
                pass
            end.readable()
            end.got += end.rel.tick()
            time.sleep(0.001)
        return None

    def close(self):
        self.sock.close()


class RawPeer(unittest.TestCase):
    def setUp(self):
        self.e = End(RelConfig(answer_probes=True, rx_streams_max=3))
        self.p = Peer()

    def tearDown(self):
        self.e.close()
        self.p.close()

    def send(self, data):
        self.p.sock.sendto(data, self.e.addr)

    def test_nack_answered_with_copies_then_lost(self):
        frags = stream_frags(9, 3)
        for f in frags:
            self.e.rel.send(f, self.p.addr)
        self.assertEqual([self.p.recv(self.e) for _ in frags], frags)
        ident = wire.parse_header(frags[0])[1]
        self.send(wire.encode_control(ident, F_NACK, 0, 2))
        self.assertEqual([self.p.recv(self.e), self.p.recv(self.e)], frags[:2])
        self.send(wire.encode_control(ident, F_ACK, 2))
        self.p.recv(self.e, 0.05)
        self.assertEqual(self.e.rel.counters()["acks_received"], 1)
        # A NACK for a stream never sent: one tokenless ABORT (LOST).
        other = wire.parse_header(stream_frags(10, 1)[0])[1]
        self.send(wire.encode_control(other, F_NACK, 4, 1))
        st, h = wire.parse(self.p.recv(self.e))
        self.assertEqual((st, h.flags, h.abort_reason, h.seq, h.ancestry),
                         (wire.Status.OK, F_ABORT, wire.Abort.LOST, 4, (10, 7)))
        c = self.e.rel.counters()
        self.assertEqual((c["resent"], c["lost_aborts_sent"], c["nacks_received"]),
                         (2, 1, 2))

    def test_end_acked_and_reacked(self):
        frags = stream_frags(3, 2)
        for f in frags:
            self.send(f)
        for want_seq in (1, 1):
            ack = self.p.recv(self.e)
            st, h = wire.parse(ack)
            self.assertEqual((h.flags, h.seq, h.ancestry), (F_ACK, want_seq, (3, 7)))
            self.send(frags[1])  # a duplicate END: ACKed again
        c = self.e.rel.counters()
        self.assertEqual((c["delivered"], c["acks_sent"], c["acks_repeated"]), (2, 1, 1))

    def test_announcement_taken_at_any_seq(self):
        h = Header(flags=F_END | F_CHILDREN, child_count=3, seq=9, stage=2,
                   from_stage=1, pipeline=1, tenant=7, ancestry=(42,))
        self.send(wire.encode(h))
        st, ack = wire.parse(self.p.recv(self.e))
        self.assertEqual((ack.flags, ack.seq), (F_ACK, 9))
        self.assertEqual([(d.seq, d.child_count) for d, _, _ in self.e.got], [(9, 3)])

    def test_probe_and_pause(self):
        probe = Header(flags=F_PROBE, stage=1, pipeline=4, seq=77, send_ns=12345,
                       ancestry=(0,))
        self.send(wire.encode(probe))
        st, h = wire.parse(self.p.recv(self.e))
        self.assertEqual((h.flags, h.pipeline, h.stage, h.seq, h.send_ns),
                         (F_PROBE, 4, 1, 77, 12345))
        self.e.rel.set_pause(True)  # told at once, unprompted
        st, h = wire.parse(self.p.recv(self.e))
        self.assertEqual((h.flags, h.seq), (F_PROBE | F_PAUSE, 77))
        probe.seq = 78
        self.send(wire.encode(probe))
        st, h = wire.parse(self.p.recv(self.e))
        self.assertEqual((h.flags, h.seq, h.send_ns), (F_PROBE | F_PAUSE, 78, 12345))
        c = self.e.rel.counters()
        self.assertEqual((c["probes_answered"], c["probes_sent"]), (2, 1))

    def test_receive_table_bounded(self):
        for req in range(5):
            self.send(stream_frags(req, 2)[0])  # open, never ended
        self.p.recv(self.e, 0.1)
        c = self.e.rel.counters()
        self.assertEqual((c["delivered"], c["rx_refused"]), (3, 2))
        self.assertEqual(self.e.rel.usage()["rx_streams"], 3)

    def test_idle_stream_ends_with_abort_expired(self):
        """An open stream whose sender falls silent is ended for the
        application (ABORT EXPIRED at the next seq, not ACKed), never
        dropped silently; so is one reclaimed for a new stream's room."""
        e = End(RelConfig(idle_ns=50_000_000, rx_streams_max=1))
        try:
            frags = stream_frags(21, 5)
            for f in frags[:2]:
                self.p.sock.sendto(f, e.addr)
            self.p.recv(e, 0.15)
            got = [(h.seq, h.flags, h.abort_reason) for h, _, _ in e.got]
            self.assertEqual(got, [(0, 0, 0), (1, 0, 0), (2, F_ABORT, wire.Abort.EXPIRED)])
            c = e.rel.counters()
            self.assertEqual((c["rx_idle_reclaimed"], c["acks_sent"]), (1, 0))
            # Lingering now; a new stream after the linger takes its slot.
            e.got.clear()
            time.sleep(1.05)
            self.p.sock.sendto(stream_frags(22, 3)[0], e.addr)
            self.p.recv(e, 0.02)
            self.assertEqual([(h.ancestry[0], h.seq) for h, _, _ in e.got], [(22, 0)])
            # Silent past idle_ns with the table full: a new stream ends it
            # (EXPIRED delivered) and takes its place.
            time.sleep(0.06)
            e.got.clear()
            self.p.sock.sendto(stream_frags(23, 3)[0], e.addr)
            e.readable()
            got = [(h.ancestry[0], h.seq, h.flags, h.abort_reason) for h, _, _ in e.got]
            self.assertEqual(got, [(22, 1, F_ABORT, wire.Abort.EXPIRED), (23, 0, 0, 0)])
            self.assertEqual(e.rel.counters()["rx_idle_reclaimed"], 2)
        finally:
            e.close()

    def test_window_and_nack_range(self):
        frags = stream_frags(8, 40)
        self.send(frags[0])
        self.send(frags[5])    # gap 1..4: NACK seq 1 count 4
        st, h = wire.parse(self.p.recv(self.e))
        self.assertEqual((h.flags, h.seq, h.child_count), (F_NACK, 1, 4))
        self.send(frags[39])   # beyond the window of 32: dropped, counted
        self.p.recv(self.e, 0.05)
        c = self.e.rel.counters()
        self.assertEqual((c["held"], c["beyond_window"]), (1, 1))


if __name__ == "__main__":
    unittest.main()
