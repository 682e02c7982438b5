# SPDX-License-Identifier: MIT
"""sluice: a pure-Python (asyncio, standard library only) stage library for
the sluice dataplane: the wire format (:mod:`sluice.wire`), loss repair and
liveness (:mod:`sluice.rel`) and the stage API (:class:`Stage`,
:class:`Stream`), plus a small :class:`Client` for tests.

    async with await sluice.Stage.open("10.0.0.21:7801") as stage:
        async for stream in stage:
            asyncio.create_task(handle(stream))
"""
from . import rel, wire
from .rel import Rel, RelConfig
from .stage import (Aborted, Backpressure, Client, Result, Stage, Stream,
                    parse_endpoint)
from .wire import Abort, Header, Status, Token, token_hash

__all__ = ["Abort", "Aborted", "Backpressure", "Client", "Header", "Rel",
           "RelConfig", "Result", "Stage", "Status", "Stream", "Token",
           "parse_endpoint", "rel", "token_hash", "wire"]
__version__ = "0.1.0"
