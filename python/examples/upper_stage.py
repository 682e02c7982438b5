#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A sluice stage that answers every token in upper case (ASCII letters
only), byte for byte as sluice-engine --transform upper: a token's id
becomes sl_token_hash of its new text. Usage: upper_stage.py IP:PORT"""
import argparse, asyncio, signal, string
import sluice

UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


async def handle(stream: sluice.Stream) -> None:
    try:
        async for tokens in stream:
            for t in tokens:
                text = t.text.translate(UPPER)
                stream.send(sluice.token_hash(text), text)
        await stream.end()
    except sluice.Aborted as e:
        await stream.abort(e.reason)


async def main(args: argparse.Namespace) -> None:
    async with await sluice.Stage.open(args.listen, name=args.name,
                                       stats_file=args.stats_file) as stage:
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(
                sig, lambda: asyncio.ensure_future(stage.close()))
        async for stream in stage:
            asyncio.create_task(handle(stream))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("listen", help="IP:PORT this instance listens on")
    p.add_argument("--name", default="", help="name in the stats file")
    p.add_argument("--stats-file", help="write the counters here at exit")
    asyncio.run(main(p.parse_args()))
