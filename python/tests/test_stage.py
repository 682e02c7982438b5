# SPDX-License-Identifier: MIT
"""The Stage API end to end on loopback: a fake sluiced built from the
wire module on one side, a Stage running the upper handler on the other."""
import asyncio
import string
import unittest

import sluice
from sluice import wire
from sluice.wire import F_ABORT, F_ACK, F_CHILDREN, F_END, F_PAUSE, F_PROBE, Header

UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


async def upper(stream: sluice.Stream) -> None:
    """The example stage's handler."""
    try:
        async for tokens in stream:
            for t in tokens:
                text = t.text.translate(UPPER)
                stream.send(sluice.token_hash(text), text)
        await stream.end()
    except sluice.Aborted as e:
        await stream.abort(e.reason)


class FakeSluiced(asyncio.DatagramProtocol):
    """sluiced's side of one instance, by hand: sends fragments, collects
    what comes back, ACKs END/ABORT when asked to."""

    def __init__(self, auto_ack=True):
        self.q: asyncio.Queue = asyncio.Queue()
        self.auto_ack = auto_ack

    def datagram_received(self, data, addr):
        st, h = wire.parse(data)
        assert st == wire.Status.OK, st
        if self.auto_ack and h.flags & (F_END | F_ABORT):
            self.transport.sendto(wire.encode_control(h, F_ACK, h.seq), addr)
        self.q.put_nowait((h, wire.tokens(data[wire.HDR_LEN:])))

    def connection_made(self, transport):
        self.transport = transport

    async def recv(self, timeout=1.0):
        return await asyncio.wait_for(self.q.get(), timeout)

    async def data(self, timeout=1.0):
        """The next data fragment (control fragments skipped)."""
        while True:
            h, toks = await self.recv(timeout)
            if not h.flags & wire.F_CONTROL:
                return h, toks


def request(req, n, stage=1, tenant=5, depth=2):
    """n fragments of 2 tokens, END on the last, as sluiced would send."""
    out = []
    for seq in range(n):
        h = Header(pipeline=3, stage=stage, from_stage=stage - 1, tenant=tenant,
                   depth=depth, ancestry=(req, 9)[:depth], seq=seq,
                   send_ns=5000 + seq, flags=F_END if seq == n - 1 else 0)
        words = [(wire.token_hash(w), w) for w in (f" héllo{seq}", f" w{req}")]
        out.append(wire.encode(h, words))
    return out


class StageTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.loop = asyncio.get_running_loop()
        self.stage = await sluice.Stage.open("127.0.0.1:0", max_streams=2,
                                             max_unsent=4096, ack_timeout=1.0)
        self.tr, self.sl = await self.loop.create_datagram_endpoint(
            FakeSluiced, local_addr=("127.0.0.1", 0))
        self.tasks = []

        async def serve():
            async for s in self.stage:
                self.tasks.append(asyncio.create_task(self.handler(s)))
        self.handler = upper
        self.server = asyncio.create_task(serve())

    async def asyncTearDown(self):
        await self.stage.close(linger=0.2)
        await asyncio.wait_for(self.server, 1)
        for t in self.tasks:
            t.cancel()
        self.tr.close()

    def send(self, data):
        self.tr.sendto(data, self.stage.address)

    async def test_upper_one_fragment_per_fragment(self):
        for f in request(1, 4):
            self.send(f)
        got = [await self.sl.data() for _ in range(4)]
        for seq, (h, toks) in enumerate(got):
            self.assertEqual((h.seq, h.pipeline, h.stage, h.from_stage, h.tenant,
                              h.depth, h.ancestry, h.send_ns),
                             (seq, 3, 1, 0, 5, 2, (1, 9), 5000 + seq))
            self.assertEqual(h.flags, F_END if seq == 3 else 0)
            want = [f" HéLLO{seq}", " W1"]
            self.assertEqual(toks, [wire.Token(wire.token_hash(t), t) for t in want])
        self.assertTrue(await asyncio.wait_for(self.tasks[0], 2) is None)
        c = self.stage.counters()
        self.assertEqual((c["streams_opened"], c["streams_completed"],
                          c["fragments_out"], c["tokens_out"], c["acks_received"]),
                         (1, 1, 4, 8, 1))

    async def test_input_abort_raises_aborted(self):
        seen = []

        async def handler(stream):
            try:
                async for _ in stream:
                    pass
            except sluice.Aborted as e:
                seen.append((e.reason, e.reason_name))
                await stream.abort(e.reason)
        self.handler = handler
        f = request(2, 2)
        self.send(f[0])
        h = wire.parse_header(f[0])[1]
        self.send(wire.encode_abort(h, 1, wire.Abort.GUARD, 1))
        out, toks = await self.sl.data()
        self.assertEqual((out.flags, out.abort_reason, out.seq, toks),
                         (F_ABORT, wire.Abort.GUARD, 0, []))
        self.assertEqual(seen, [(3, "GUARD")])

    async def test_probe_pause_and_quota(self):
        probe = Header(flags=F_PROBE, pipeline=3, stage=1, seq=1, send_ns=77, ancestry=(0,))
        self.send(wire.encode(probe))
        h, _ = await self.sl.recv()
        self.assertEqual((h.flags, h.seq, h.send_ns), (F_PROBE, 1, 77))
        self.stage.pause(True)
        h, _ = await self.sl.recv()
        self.assertEqual(h.flags, F_PROBE | F_PAUSE)
        self.stage.pause(False)
        h, _ = await self.sl.recv()
        self.assertEqual(h.flags, F_PROBE)
        # Quota of 2: two open streams set PAUSE, a third is refused.
        self.handler = lambda s: asyncio.sleep(5)
        for req in (10, 11):
            self.send(request(req, 3)[0])
        h, _ = await self.sl.recv()
        self.assertEqual(h.flags, F_PROBE | F_PAUSE)
        self.send(request(12, 3)[0])
        h, _ = await self.sl.data()
        self.assertEqual((h.flags, h.abort_reason, h.ancestry), (F_ABORT, 4, (12, 9)))
        self.send(request(12, 3)[1])  # the rest of it is dropped
        await asyncio.sleep(0.05)
        c = self.stage.counters()
        self.assertEqual((c["streams_refused"], c["dropped_closed"], c["open_streams"]),
                         (1, 1, 2))
        self.assertTrue(self.stage.paused)

    async def test_backpressure_and_packing(self):
        """While the socket is full (the transport paused writing) output
        queues per stream up to max_unsent (4096), then send() raises."""
        result = []

        async def handler(stream):
            async for tokens in stream:
                pass
            try:
                for i in range(1000):  # 16 bytes each
                    stream.send(i, "0123456789")
            except sluice.Backpressure:
                result.append(stream.unsent)
            result.append(await stream.end(children=2))
        self.handler = handler
        proto = self.stage.transport.get_protocol()
        proto.pause_writing()
        self.send(request(4, 1)[0])
        while not result:
            await asyncio.sleep(0.01)
        self.assertEqual(result, [4096])
        proto.resume_writing()
        got = [await self.sl.data() for _ in range(3)]
        # 256 tokens of 16 bytes: 86 fill a fragment (1376 of 1384 bytes).
        self.assertEqual([(h.seq, len(t)) for h, t in got], [(0, 86), (1, 86), (2, 84)])
        self.assertEqual([h.flags for h, _ in got], [0, 0, F_END | F_CHILDREN])
        self.assertEqual(got[2][0].child_count, 2)
        await asyncio.sleep(0.05)
        self.assertEqual(result, [4096, True])  # end() returned: ACKed
        self.assertEqual(self.stage.counters()["send_overflow"], 1)

    async def test_announcement_stream(self):
        got = []

        async def handler(stream):
            async for _ in stream:
                pass
            got.append((stream.announcement, stream.children))
            self.assertTrue(await stream.end())
        self.handler = handler
        h = Header(flags=F_END | F_CHILDREN, child_count=3, seq=9, stage=1,
                   pipeline=3, ancestry=(42,))
        self.send(wire.encode(h))
        ack, _ = await self.sl.recv()  # the Rel ACKs it; nothing answers it
        self.assertEqual((ack.flags, ack.seq), (F_ACK, 9))
        await asyncio.sleep(0.05)
        self.assertEqual(got, [(True, 3)])
        self.assertEqual(self.stage.counters()["announcements"], 1)

    async def test_close_aborts_open_streams(self):
        self.send(request(6, 3)[0])
        await self.sl.data()
        await self.stage.close(linger=0.3)
        h, toks = await self.sl.data()
        self.assertEqual((h.flags, h.abort_reason, h.seq), (F_ABORT, wire.Abort.SHUTDOWN, 1))

    async def test_client_against_stage_with_loss_free_path(self):
        client = await sluice.Client.open(self.stage.address, ("127.0.0.1", 0))
        try:
            frags = [[(1, "abc"), (2, " déf")], [(3, " xyz!")]]
            results = await asyncio.gather(*[
                client.request(frags, request_id=rid, pipeline=3, tenant=1)
                for rid in (100, 101)])
            for res in results:
                self.assertIsNone(res.aborted)
                self.assertEqual([t.text for t in res.tokens], ["ABC", " DéF", " XYZ!"])
                self.assertEqual([len(toks) for _, toks in res.fragments], [2, 1])
        finally:
            client.close()


if __name__ == "__main__":
    unittest.main()
