"""One WebSocket connection of the fake exchange as the stream hub keeps it (its routes, streams,
listen keys and outgoing queue), the fault knobs read on every send, and the wire helpers the hub
answers with.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

MAX_STREAMS = 1024  # per connection


MAX_INCOMING_PER_S = 10  # client messages a connection may send per second


PUBLIC_STREAMS = ("@bookTicker", "@depth")  # USDⓈ-M's /public streams; the rest are /market's


PRIVATE = "private"


CLOSE = "\x00close"  # queued: the writer closes the connection after what came before


class Late(str):
    """A frame queued to leave at `due` (monotonic seconds), not before: a lagging feed."""

    due: float


@dataclass
class StreamFaults:
    """Mutable knobs, read on every send."""

    drop_after_messages: int | None = None  # cut every socket after N more messages (then off)
    stall_ms: int = 0  # delay every send (each connection's writer waits; publishers do not)
    gap_every: int | None = None  # skip one depth update every N (a sequence gap)
    max_connection_ms: int | None = None  # close connections older than this (24 h, shortened)
    ignore_pings: bool = False  # answer no ping and send nothing: a half-open, dead peer
    market_lag_ms: int = 0  # market frames reach clients this late, at full rate (a feed that lags)
    hold_user: bool = False  # user-stream frames wait while set, then arrive in one burst (a stall)
    hold_market: bool = False  # the same for market-data frames
    # Each fill's ACCOUNT_UPDATE before its ORDER_TRADE_UPDATE (the simulator makes them the other
    # way round): Binance has been seen to send either, with the same T and E on both.
    account_first: bool = False
    # Every user-stream event sent twice (a reconnect's replay, a relay that repeats): a fill heard
    # twice must count once.
    duplicate_user: bool = False


@dataclass(eq=False)
class StreamConn:
    ws: web.WebSocketResponse
    route: str  # "", "public", "market", "private"
    streams: set[str]
    listen_keys: set[str]
    events: set[str] | None  # user events this connection asked for (None: all)
    combined: bool
    opened: float = field(default_factory=time.monotonic)
    sent: int = 0
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None
    incoming: deque[float] = field(default_factory=deque)  # when the client last sent
    pong_seen: bool = True
    busy: bool = False  # a frame is being sent


def dumps_frame(body: dict[str, Any]) -> str:
    return orjson.dumps(body).decode()


def abort(ws: web.WebSocketResponse) -> None:
    req = ws._req  # aiohttp keeps the request; its transport is the socket
    transport = req.transport if req is not None else None
    if transport is not None:
        transport.abort()


def refuse(code: int, msg: str) -> web.HTTPBadRequest:
    body = orjson.dumps({"code": code, "msg": msg}).decode()
    return web.HTTPBadRequest(text=body, content_type="application/json")
