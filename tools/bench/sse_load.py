#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sse_load.py - a closed-loop load of OpenAI-style streaming requests.

    sse_load.py --url http://IP:PORT/v1/chat/completions --model NAME
                --concurrency C --duration S [--key-file F] [--seed N]

C workers (asyncio, Python's standard library only), each asking one
question at a time over a connection of its own: POST with
"stream": true, read the server-sent events until "data: [DONE]", then
the next question (one taking over --request-timeout s fails as
"timeout"). Prints one JSON object: requests completed and
failed, chunks, and in microseconds the percentiles (p50, p99) of the
request latency (sent to [DONE]), of the first chunk and of the gap
between two chunks of an answer (the per-token cost), and chunks/s.

The client is the same for every path a benchmark compares, so what it
costs itself cancels out of the differences.
"""
import argparse
import asyncio
import json
import random
import sys
import time
from urllib.parse import urlsplit

QUESTIONS = [
    "Who wrote the novel Dune and when was it published?",
    "What is the tallest mountain in Africa?",
    "Explain how a transformer language model uses attention.",
    "Which river flows through Vienna, Budapest and Belgrade?",
    "Summarise the causes of the French Revolution.",
]


def percentile(values, q):
    if not values:
        return 0.0
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q / 100.0 * (len(values) - 1)))))
    return values[k]


class Stats:
    def __init__(self):
        self.latency, self.first, self.gaps = [], [], []
        self.done = self.failed = self.chunks = 0
        self.errors = {}

    def fail(self, why):
        self.failed += 1
        self.errors[why] = self.errors.get(why, 0) + 1


async def one(host, port, path, body, headers, st):
    """One request on a fresh connection; its numbers into st."""
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        st.fail(f"connect: {e.strerror}")
        return
    try:
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{headers}"
                f"Connection: close\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            st.fail(status.decode(errors="replace").strip()[:40] or "no status")
            return
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        last = None
        n = 0
        buf = b""
        while True:
            data = await reader.read(65536)
            if not data:
                st.fail("closed before [DONE]")
                return
            buf += data
            # Chunked transfer framing is skipped: events are found by
            # their "data: " lines, which never span a chunk size line.
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                line = event.split(b"data: ", 1)
                if len(line) < 2:
                    continue
                now = time.monotonic()
                if line[1].startswith(b"[DONE]"):
                    st.done += 1
                    st.chunks += n
                    st.latency.append((now - t0) * 1e6)
                    return
                if b'"error"' in line[1]:
                    st.fail("error event")
                    return
                if last is None:
                    st.first.append((now - t0) * 1e6)
                else:
                    st.gaps.append((now - last) * 1e6)
                last = now
                n += 1
    except (OSError, asyncio.IncompleteReadError) as e:
        st.fail(f"io: {e}")
    finally:
        writer.close()


async def worker(args, host, port, path, headers, st, stop_at, rng):
    while time.monotonic() < stop_at:
        q = rng.choice(QUESTIONS)
        body = json.dumps({"model": args.model, "stream": True,
                           "messages": [{"role": "user", "content": q}]}).encode()
        try:
            await asyncio.wait_for(one(host, port, path, body, headers, st),
                                   args.request_timeout)
        except asyncio.TimeoutError:
            st.fail("timeout")


async def main_async(args):
    u = urlsplit(args.url)
    headers = ""
    if args.key_file:
        with open(args.key_file, encoding="utf-8") as f:
            headers = f"Authorization: Bearer {f.readline().strip()}\r\n"
    st = Stats()
    t0 = time.monotonic()
    stop_at = t0 + args.duration
    rng = random.Random(args.seed)
    await asyncio.gather(*[
        worker(args, u.hostname, u.port or 80, u.path, headers, st, stop_at,
               random.Random(rng.random()))
        for _ in range(args.concurrency)])
    elapsed = time.monotonic() - t0
    return {
        "concurrency": args.concurrency, "duration_s": round(elapsed, 3),
        "requests": st.done, "failed": st.failed, "errors": st.errors,
        "chunks": st.chunks, "chunks_per_s": round(st.chunks / elapsed, 1),
        "p50_us": round(percentile(st.latency, 50), 1),
        "p99_us": round(percentile(st.latency, 99), 1),
        "first_p50_us": round(percentile(st.first, 50), 1),
        "first_p99_us": round(percentile(st.first, 99), 1),
        "gap_p50_us": round(percentile(st.gaps, 50), 1),
        "gap_p99_us": round(percentile(st.gaps, 99), 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--key-file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--request-timeout", type=float, default=60.0,
                    help="s a request may take before it counts as failed")
    args = ap.parse_args()
    if not 1 <= args.concurrency <= 4096 or not 0 < args.duration <= 600:
        ap.error("--concurrency 1..4096, --duration 0..600 s")
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    sys.exit(main())
