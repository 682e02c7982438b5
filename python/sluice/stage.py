# SPDX-License-Identifier: MIT
"""The asyncio stage API: an engine instance of a sluice pipeline stage.

sluiced sends an instance input streams over UDP; the instance answers
each with an output stream of the same identity (pipeline, stage, tenant,
depth, ancestry), its own seq from 0, send_ns copied from the input.
Everything goes through :class:`sluice.rel.Rel`, so input arrives in
order and once (or ends in ABORT) and output is repaired and resent until
ACKed. See python/README.md for the API in one page.

Output packing: tokens given to :meth:`Stream.send` are packed into one
fragment until it is full (PAYLOAD_MAX bytes of tokens), the handler asks
for the next input fragment, or the event loop's turn ends; so a handler
that answers fragment by fragment sends one output fragment per input
fragment, and the one answering the last input fragment carries the END.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import OrderedDict, deque
from typing import Any, Optional, Sequence

from . import wire
from .rel import Addr, Delivery, Key, Rel, RelConfig, now_ns, stream_key
from .wire import F_ABORT, F_CHILDREN, F_END, Abort, Header, Status, Token

__all__ = ["Aborted", "Backpressure", "Stage", "Stream", "Client", "Result",
           "parse_endpoint"]

STAGE_COUNTERS = (
    "streams_opened", "streams_completed", "streams_aborted", "aborted_in",
    "streams_refused", "announcements", "fragments_in", "tokens_in",
    "fragments_out", "tokens_out", "invalid", "input_overflow",
    "send_overflow", "dropped_closed", "pause_changes",
)


class Aborted(Exception):
    """An input stream ended in ABORT; ``reason`` is its abort reason."""

    def __init__(self, reason: int):
        self.reason = reason
        self.reason_name = wire.abort_reason_name(reason)
        super().__init__(f"stream aborted: {self.reason_name}")


class Backpressure(BufferError):
    """A stream's unsent output passed its bound (``max_unsent``)."""


def parse_endpoint(text: str | tuple) -> Addr:
    """``"10.0.0.21:7801"`` -> ``("10.0.0.21", 7801)``."""
    if isinstance(text, tuple):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not an IPv4 address:port: {text!r}")
    socket.inet_aton(host)
    return host, int(port)


class _Endpoint(asyncio.DatagramProtocol):
    """UDP socket glue: datagrams in, flow control, errors counted."""

    def __init__(self, owner: "_RelSocket"):
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.owner._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.owner.socket_errors += 1

    def pause_writing(self) -> None:
        self.owner.write_paused = True

    def resume_writing(self) -> None:
        self.owner.write_paused = False
        self.owner._on_writable()


class _RelSocket:
    """A UDP socket with a :class:`Rel` and its timer (Stage, Client)."""

    def __init__(self, rel_config: RelConfig):
        self.loop = asyncio.get_running_loop()
        self.transport: Optional[asyncio.DatagramTransport] = None
        self.rel = Rel(self._sendto, rel_config)
        self.write_paused = False
        self.socket_errors = 0
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_due = 0

    async def _bind(self, local: Addr, remote: Optional[Addr] = None) -> None:
        self.transport, _ = await self.loop.create_datagram_endpoint(
            lambda: _Endpoint(self), local_addr=local, remote_addr=remote,
            family=socket.AF_INET)

    @property
    def address(self) -> Addr:
        """The local address the socket is bound to."""
        return self.transport.get_extra_info("sockname")[:2]

    def _sendto(self, data: bytes, addr: Addr) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        if self.transport.get_extra_info("peername") is not None:
            self.transport.sendto(data)
        else:
            self.transport.sendto(data, addr)
        return True

    def _arm(self) -> None:
        """(Re)schedule the Rel tick at its next deadline."""
        due = self.rel.next_due()
        if self._timer is not None and self._timer_due <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        if due >= 1 << 63:
            self._timer = None
            return
        delay = max(0.0, (due - now_ns()) / 1e9)
        self._timer_due = due
        self._timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        for d in self.rel.tick():
            self._on_delivery(d)
        self._arm()

    def _on_datagram(self, data: bytes, addr: Addr) -> None:
        st, deliveries = self.rel.input(data, addr)
        if st != Status.OK:
            self._on_invalid(st)
        for d in deliveries:
            self._on_delivery(d)
        self._arm()

    def _close_socket(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()

    # for subclasses
    def _on_delivery(self, d: Delivery) -> None:
        raise NotImplementedError

    def _on_invalid(self, st: Status) -> None:
        pass

    def _on_writable(self) -> None:
        pass


class Stream:
    """One input stream reaching this instance and the answer to it.

    Iterate it (``async for tokens in stream``) for each fragment's
    tokens, in order, once; iteration ends at the input's END or raises
    :class:`Aborted` at its ABORT. Answer with :meth:`send`, then
    :meth:`end` or :meth:`abort`.
    """

    def __init__(self, stage: "Stage", key: Key, hdr: Header,
                 announcement: bool = False):
        self._stage = stage
        self._key = key
        self._out_hdr = Header(pipeline=hdr.pipeline, stage=hdr.stage,
                               from_stage=hdr.from_stage, tenant=hdr.tenant,
                               depth=hdr.depth, ancestry=hdr.ancestry)
        self.pipeline: int = hdr.pipeline
        self.stage: int = hdr.stage
        self.from_stage: int = hdr.from_stage
        self.tenant: int = hdr.tenant
        self.depth: int = hdr.depth
        self.ancestry: tuple[int, ...] = hdr.ancestry
        self.children: Optional[int] = None
        self.announcement = announcement  # a tokenless END|CHILDREN alone
        self.peer: Addr = key[0]
        self._inq: deque[tuple[list[Token], int]] = deque()  # + send_ns
        self._in_done = False      # no more input for the handler
        self._in_net_done = False  # the input's END/ABORT arrived
        self._in_abort: Optional[int] = None
        self._waiter: Optional[asyncio.Future] = None
        self._builder = wire.Builder()
        self._outq: deque[bytes] = deque()
        self._outq_bytes = 0
        self._seq = 0
        self._send_ns = hdr.send_ns      # of the input being answered
        self._end_send_ns = hdr.send_ns  # of the input's END/ABORT
        self._out_ended = announcement  # an announcement is not answered
        self._cut = False  # our output was cut by ABORT (LOST)
        self._acked: Optional[asyncio.Future] = None

    def __repr__(self) -> str:
        return (f"<sluice.Stream pipeline={self.pipeline} stage={self.stage} "
                f"tenant={self.tenant} ancestry={list(self.ancestry)}>")

    # ---- input ----

    def __aiter__(self) -> "Stream":
        return self

    async def __anext__(self) -> list[Token]:
        while True:
            if self._inq:
                # What was sent for the previous fragment goes out in a
                # fragment of its own; what comes next answers this one.
                self._flush()
                toks, self._send_ns = self._inq.popleft()
                return toks
            if self._in_done:
                self._send_ns = self._end_send_ns
                if self._in_abort is not None:
                    raise Aborted(self._in_abort)
                raise StopAsyncIteration
            self._flush()
            self._waiter = self._stage.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _push(self, hdr: Header, payload: bytes) -> None:
        """An input fragment, in order (from the Stage)."""
        if self._in_done:
            self._in_net_done |= bool(hdr.flags & (F_END | F_ABORT))
            return
        toks = wire.tokens(payload)
        if toks:
            if len(self._inq) >= self._stage.max_input:
                self._stage._count("input_overflow")
                self._input_failed(Abort.OVERLOAD)
                return
            self._inq.append((toks, hdr.send_ns))
        if hdr.flags & F_CHILDREN:
            self.children = hdr.child_count
        if hdr.flags & (F_END | F_ABORT):
            self._in_done = self._in_net_done = True
            self._end_send_ns = hdr.send_ns
            if hdr.flags & F_ABORT:
                self._in_abort = hdr.abort_reason
                self._stage._count("aborted_in")
        self._wake()

    def _input_failed(self, reason: int) -> None:
        """Give the input up here (a bound): the handler sees Aborted."""
        self._inq.clear()
        self._in_done, self._in_abort = True, reason
        self._wake()
        self._abort_now(reason)

    # ---- output ----

    @property
    def ended(self) -> bool:
        """Has the output been ended (END or ABORT sent or queued)?"""
        return self._out_ended

    @property
    def unsent(self) -> int:
        """Bytes of output tokens not yet handed to the socket."""
        return self._builder.size + self._outq_bytes

    def send(self, token_id: int, text: str | bytes) -> None:
        """Queue one output token; never blocks. Raises
        :class:`Backpressure` past ``max_unsent`` unsent bytes,
        RuntimeError after :meth:`end`/:meth:`abort`, ValueError for a
        token that cannot be encoded (id not u32, text over a fragment)."""
        if self._out_ended:
            raise RuntimeError("send() on an ended stream")
        enc = wire.encode_token(token_id, text)
        if self.unsent + len(enc) > self._stage.max_unsent:
            self._stage._count("send_overflow")
            raise Backpressure(f"{self.unsent} bytes unsent on {self!r}")
        if not self._builder.room_for(enc):
            self._emit(0)
        self._builder.add_encoded(enc)
        self._stage._mark_dirty(self)

    async def end(self, children: Optional[int] = None) -> bool:
        """End the output (END on the pending tokens, or tokenless);
        ``children`` sets CHILDREN with that child count. Returns True
        once the receiver ACKed it, False if it never did (given up, cut
        by ABORT LOST, or no ACK within the Stage's ``ack_timeout``)."""
        if self._out_ended:
            return self.announcement or await self._ack_result()
        flags = F_END | (F_CHILDREN if children is not None else 0)
        self._emit(flags, child_count=children or 0)
        self._finish_output("streams_completed")
        return await self._ack_result()

    async def abort(self, reason: int = Abort.ENGINE) -> bool:
        """End the output with a tokenless ABORT (unflushed tokens are
        dropped). Returns as :meth:`end` does."""
        if self._out_ended:
            return self.announcement or await self._ack_result()
        self._abort_now(reason)
        return await self._ack_result()

    def _abort_now(self, reason: int) -> None:
        if self._out_ended:
            return
        self._builder = wire.Builder()
        self._emit(F_ABORT, abort_reason=int(reason))
        self._finish_output("streams_aborted")

    def _finish_output(self, counter: str) -> None:
        self._out_ended = True
        self._acked = self._acked or self._stage.loop.create_future()
        if self._cut:
            self._resolve(False)
        self._stage._count(counter)
        self._stage._output_ended(self)

    async def _ack_result(self) -> bool:
        if self._acked is None:
            return False
        try:
            return await asyncio.wait_for(asyncio.shield(self._acked),
                                          self._stage.ack_timeout)
        except asyncio.TimeoutError:
            return False

    def _resolve(self, ok: bool) -> None:
        if self._acked is None:
            self._acked = self._stage.loop.create_future()
        if not self._acked.done():
            self._acked.set_result(ok)

    def _emit(self, flags: int, abort_reason: int = 0,
              child_count: int = 0) -> None:
        """Number and queue one fragment of the pending tokens."""
        h = self._out_hdr
        h.flags, h.abort_reason, h.child_count = flags, abort_reason, child_count
        h.seq, h.send_ns = self._seq, self._send_ns
        tokens_n = self._builder.count
        data = self._builder.finish(h)
        self._seq += 1
        self._outq.append(data)
        self._outq_bytes += len(data) - wire.HDR_LEN
        self._stage._count("fragments_out")
        self._stage._count("tokens_out", tokens_n)
        self._drain()

    def _flush(self) -> None:
        """Send the pending tokens as one fragment now."""
        if self._builder.count:
            self._emit(0)

    def _drain(self) -> None:
        """Hand queued fragments to the socket while it takes them."""
        while self._outq and not self._stage.write_paused:
            data = self._outq.popleft()
            self._outq_bytes -= len(data) - wire.HDR_LEN
            self._stage._send(data, self.peer)


class Stage(_RelSocket):
    """An engine instance: a UDP socket sluiced sends input streams to.

    ``async for stream in stage`` yields each new input stream (a
    :class:`Stream`); open with :meth:`open`, and close (or leave the
    ``async with``) to abort what is still open with SHUTDOWN and wait a
    little for the ACKs.
    """

    def __init__(self, *, max_streams: int, max_unsent: int, max_input: int,
                 ack_timeout: float, announcements: bool,
                 rel_config: Optional[RelConfig], stats_file: Optional[str],
                 name: str):
        cfg = rel_config or RelConfig(answer_probes=True)
        super().__init__(cfg)
        self.rel.on_tx_end = self._on_tx_end
        self.max_streams = max_streams
        self.max_unsent = max_unsent
        self.max_input = max_input
        self.ack_timeout = ack_timeout
        self.announcements = announcements
        self.stats_file = stats_file
        self.name = name
        self._c: dict[str, int] = dict.fromkeys(STAGE_COUNTERS, 0)
        self._streams: dict[Key, Stream] = {}   # output not ended yet
        self._ending: dict[Key, Stream] = {}    # ended, awaiting the ACK
        self._closed_in: OrderedDict[Key, None] = OrderedDict()
        self._accept: asyncio.Queue = asyncio.Queue()
        self._dirty: dict[Stream, None] = {}
        self._flush_handle: Optional[asyncio.Handle] = None
        self._manual_pause = False
        self._auto_pause = False
        self._closing = False
        self._closed: asyncio.Future = self.loop.create_future()

    @classmethod
    async def open(cls, address: str | tuple, *, max_streams: int = 1024,
                   max_unsent: int = 256 << 10, max_input: int = 4096,
                   ack_timeout: float = 2.0, announcements: bool = True,
                   rel_config: Optional[RelConfig] = None,
                   stats_file: Optional[str] = None,
                   name: str = "") -> "Stage":
        """Bind ``address`` ("IP:PORT") and start serving.

        max_streams: concurrent input streams (beyond: ABORT OVERLOAD, and
        PAUSE while at the quota); max_unsent: output bytes per stream
        not yet sent before send() raises Backpressure; max_input: input
        fragments queued per stream before it is aborted (OVERLOAD);
        announcements: yield tokenless END|CHILDREN announcements as
        streams (``stream.children`` set, nothing to answer)."""
        stage = cls(max_streams=max_streams, max_unsent=max_unsent,
                    max_input=max_input, ack_timeout=ack_timeout,
                    announcements=announcements, rel_config=rel_config,
                    stats_file=stats_file, name=name or str(address))
        await stage._bind(parse_endpoint(address))
        return stage

    async def __aenter__(self) -> "Stage":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __aiter__(self) -> "Stage":
        return self

    async def __anext__(self) -> Stream:
        if self._closing and self._accept.empty():
            raise StopAsyncIteration
        s = await self._accept.get()
        if s is None:
            self._accept.put_nowait(None)  # for any other iterator
            raise StopAsyncIteration
        return s

    # ---- control ----

    def pause(self, on: bool = True) -> None:
        """Ask sluiced to route no new streams here (PAUSE) or again."""
        self._manual_pause = on
        self._update_pause()

    @property
    def paused(self) -> bool:
        """Is PAUSE on (asked for, or the stream quota reached)?"""
        return self.rel.paused

    def counters(self) -> dict[str, int]:
        """The stage's counters and the reliable layer's (flat)."""
        c = dict(self._c)
        c.update(self.rel.counters())
        c["socket_errors"] = self.socket_errors
        c["open_streams"] = len(self._streams)
        c["paused"] = int(self.rel.paused)
        return c

    async def close(self, reason: int = Abort.SHUTDOWN,
                    linger: float = 1.5) -> None:
        """Stop: abort every open output with ``reason``, wait up to
        ``linger`` s for the ACKs, write the stats file, close."""
        if self._closing:
            await asyncio.shield(self._closed)
            return
        self._closing = True
        try:
            await self._close(reason, linger)
        finally:
            self._closed.set_result(None)

    async def _close(self, reason: int, linger: float) -> None:
        self._accept.put_nowait(None)
        for s in list(self._streams.values()):
            s._input_failed(reason)
        self._flush_dirty()
        deadline = self.loop.time() + linger
        while self.rel.tx_tail and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        for s in list(self._ending.values()):
            s._resolve(False)
        self.write_stats()
        self._close_socket()

    def write_stats(self) -> None:
        """Write the counters as JSON to ``stats_file`` (if any)."""
        if not self.stats_file:
            return
        doc = {"name": self.name, "final": self._closing,
               **self.counters(), "rel_usage": self.rel.usage()}
        with open(self.stats_file + ".tmp", "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(self.stats_file + ".tmp", self.stats_file)

    # ---- internals ----

    def _count(self, name: str, n: int = 1) -> None:
        self._c[name] += n

    def _update_pause(self) -> None:
        n = len(self._streams)
        if n >= self.max_streams:
            self._auto_pause = True
        elif n < self.max_streams * 3 // 4:
            self._auto_pause = False
        want = self._manual_pause or self._auto_pause
        if want != self.rel.paused:
            self._c["pause_changes"] += 1
            self.rel.set_pause(want)

    def _send(self, data: bytes, addr: Addr) -> None:
        self.rel.send(data, addr)
        self._arm()

    def _on_writable(self) -> None:
        for s in list(self._streams.values()) + list(self._ending.values()):
            s._drain()

    def _on_invalid(self, st: Status) -> None:
        self._c["invalid"] += 1

    def _mark_dirty(self, s: Stream) -> None:
        self._dirty[s] = None
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        """End of an event-loop turn: pending tokens go out."""
        self._flush_handle = None
        dirty, self._dirty = self._dirty, {}
        for s in dirty:
            if not s._out_ended:
                s._flush()

    def _on_tx_end(self, key: Key, ok: bool) -> None:
        s = self._ending.pop(key, None)
        if s is not None:
            s._resolve(ok)
        elif not ok and key in self._streams:
            self._streams[key]._cut = True  # cut by ABORT (LOST)

    def _output_ended(self, s: Stream) -> None:
        self._streams.pop(s._key, None)
        self._dirty.pop(s, None)
        if not s._in_net_done:
            self._remember_closed(s._key)
        if s._cut:
            s._resolve(False)
        else:
            self._ending[s._key] = s
            if len(self._ending) > 4 * self.max_streams:
                old = next(iter(self._ending))
                self._ending.pop(old)._resolve(False)
        self._update_pause()

    def _remember_closed(self, key: Key) -> None:
        """Input still coming for an output already ended: drop it."""
        self._closed_in[key] = None
        while len(self._closed_in) > 4 * self.max_streams:
            self._closed_in.popitem(last=False)

    def _refuse(self, key: Key, hdr: Header) -> None:
        """Over the quota: answer ABORT (OVERLOAD) at once."""
        self._c["streams_refused"] += 1
        out = Header(pipeline=hdr.pipeline, stage=hdr.stage,
                     from_stage=hdr.from_stage, tenant=hdr.tenant,
                     depth=hdr.depth, ancestry=hdr.ancestry)
        self._send(wire.encode_abort(out, 0, Abort.OVERLOAD, hdr.send_ns),
                   key[0])
        if not hdr.flags & (F_END | F_ABORT):
            self._remember_closed(key)

    def _on_delivery(self, d: Delivery) -> None:
        hdr = d.hdr
        key = stream_key(d.addr, hdr)
        ends = hdr.flags & (F_END | F_ABORT)
        self._c["fragments_in"] += 1
        self._c["tokens_in"] += hdr.token_count
        s = self._streams.get(key)
        if s is None:
            if key in self._closed_in:
                self._c["dropped_closed"] += 1
                if ends:
                    del self._closed_in[key]
                return
            if (hdr.flags & F_CHILDREN and hdr.flags & F_END
                    and hdr.token_count == 0 and not hdr.flags & F_ABORT):
                self._announce(key, hdr)
                return
            if self._closing or len(self._streams) >= self.max_streams:
                self._refuse(key, hdr)
                return
            s = Stream(self, key, hdr)
            self._streams[key] = s
            self._c["streams_opened"] += 1
            self._update_pause()
            self._accept.put_nowait(s)
        s._push(hdr, d.payload)

    def _announce(self, key: Key, hdr: Header) -> None:
        """A tokenless END|CHILDREN: how many quanta a stream was cut
        into. Counted, and yielded as a stream with nothing to answer."""
        self._c["announcements"] += 1
        if not self.announcements or self._closing:
            return
        s = Stream(self, key, hdr, announcement=True)
        s._push(hdr, b"")
        self._accept.put_nowait(s)


class Result:
    """What came back for one request: fragments, in order, and how the
    result stream ended (``aborted``: None, or the abort reason)."""

    def __init__(self) -> None:
        self.fragments: list[tuple[Header, list[Token]]] = []
        self.aborted: Optional[int] = None
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    @property
    def tokens(self) -> list[Token]:
        """Every token of the result, in order."""
        return [t for _, toks in self.fragments for t in toks]


class Client(_RelSocket):
    """A small client for tests: send a request stream to sluiced (stage 0,
    depth 1, ancestry [request id]) and collect its result stream."""

    def __init__(self, server: Addr, rel_config: Optional[RelConfig]):
        super().__init__(rel_config or RelConfig(report_gave_up=True))
        self.server = server
        self._results: dict[int, Result] = {}

    @classmethod
    async def open(cls, server: str | tuple, bind: str | tuple = ("0.0.0.0", 0),
                   rel_config: Optional[RelConfig] = None) -> "Client":
        """A client of sluiced (or of an instance, directly) at ``server``."""
        c = cls(parse_endpoint(server), rel_config)
        await c._bind(parse_endpoint(bind))
        return c

    def close(self) -> None:
        """Close the socket; pending requests are cancelled."""
        for r in self._results.values():
            if not r.done.done():
                r.done.cancel()
        self._close_socket()

    async def request(self, fragments: Sequence[Sequence[tuple[int, str]]], *,
                      request_id: int, pipeline: int = 1, tenant: int = 0,
                      timeout: float = 5.0) -> Result:
        """Send one request (a list of fragments, each a list of
        ``(id, text)``; END on the last) and wait for its result stream's
        END or ABORT. Raises asyncio.TimeoutError after ``timeout``."""
        res = Result()
        self._results[request_id] = res
        base = Header(stage=0, pipeline=pipeline, tenant=tenant, depth=1,
                      ancestry=(request_id,))
        frags = list(fragments) or [[]]
        try:
            for i, toks in enumerate(frags):
                base.seq, base.send_ns = i, now_ns()
                base.flags = F_END if i == len(frags) - 1 else 0
                self.rel.send(wire.encode(base, toks), self.server)
            self._arm()
            await asyncio.wait_for(asyncio.shield(res.done), timeout)
        finally:
            self._results.pop(request_id, None)
        return res

    def _on_delivery(self, d: Delivery) -> None:
        res = self._results.get(d.hdr.ancestry[0])
        if res is None or res.done.done():
            return
        if d.hdr.flags & F_ABORT:
            res.aborted = d.hdr.abort_reason
        elif d.hdr.token_count or not d.hdr.flags & F_CHILDREN:
            res.fragments.append((d.hdr, wire.tokens(d.payload)))
        if d.hdr.flags & (F_END | F_ABORT) and d.hdr.depth == 1:
            res.done.set_result(None)
