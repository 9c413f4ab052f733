"""The fake exchange's WebSocket side: market streams and user data streams over aiohttp.

Paths as Binance serves them: raw `/ws/<stream>[/<stream>...]`, combined `/stream?streams=a/b`,
and USDⓈ-M's routed forms `/public/...`, `/market/...`, `/private/ws/<listenKey>` (FACTS §0).
A user stream is a path whose last part is a listen key the REST side created.

Faults, read on every send: drop every socket after N messages, stall sends, skip depth
updates to open sequence gaps, and force-close connections older than a limit (Binance's
24-hour cut, shortened).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from rulebot.core.enums import Market


@dataclass
class StreamFaults:
    drop_after_messages: int | None = None  # close every socket after N more messages (then off)
    stall_ms: int = 0  # delay every send
    gap_every: int | None = None  # skip one depth update every N (the fake's book still moves)
    max_connection_ms: int | None = None  # force-close connections older than this


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    streams: set[str]
    listen_key: str | None
    combined: bool
    opened: float = field(default_factory=time.monotonic)
    sent: int = 0


class StreamHub:
    def __init__(self, market: Market, faults: StreamFaults | None = None) -> None:
        self.market = market
        self.faults = faults or StreamFaults()
        self._conns: list[_Conn] = []
        self._listen_keys: set[str] = set()
        self.connections_opened = 0
        self.messages_sent = 0

    # -- routing -------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        for prefix in ("", "/public", "/market", "/private"):
            app.router.add_get(prefix + "/ws", self._handle)
            app.router.add_get(prefix + "/ws/{names:.*}", self._handle)
            app.router.add_get(prefix + "/stream", self._handle)

    def register_listen_key(self, listen_key: str) -> None:
        self._listen_keys.add(listen_key)

    def forget_listen_key(self, listen_key: str) -> None:
        self._listen_keys.discard(listen_key)

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        names = [n for n in request.match_info.get("names", "").split("/") if n]
        names += [n for n in request.query.get("streams", "").split("/") if n]
        key = request.query.get("listenKey")
        listen_key = key if key in self._listen_keys else None
        streams: set[str] = set()
        for n in names:
            if n in self._listen_keys:
                listen_key = n
            else:
                streams.add(n)
        if (names and not streams and listen_key is None) or (key is not None and listen_key is None):
            raise web.HTTPBadRequest(text='{"code":-1125,"msg":"This listenKey does not exist."}')
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, streams, listen_key, combined=request.path.endswith("/stream"))
        self._conns.append(conn)
        self.connections_opened += 1
        try:
            async for msg in ws:  # subscribe / unsubscribe requests, as Binance takes them
                if msg.type == WSMsgType.TEXT:
                    await self._control(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
        return ws

    async def _control(self, conn: _Conn, text: str) -> None:
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
        if method == "SUBSCRIBE":
            conn.streams.update(params)
        elif method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
        elif method == "LIST_SUBSCRIPTIONS":
            await conn.ws.send_bytes(orjson.dumps({"result": sorted(conn.streams), "id": rid}))
            return
        await conn.ws.send_bytes(orjson.dumps({"result": None, "id": rid}))

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, stream: str, payload: dict[str, Any]) -> None:
        for conn in list(self._conns):
            if stream in conn.streams:
                body = {"stream": stream, "data": payload} if conn.combined else payload
                await self._send(conn, body)

    async def publish_user(self, listen_key: str, payload: dict[str, Any]) -> None:
        for conn in list(self._conns):
            if conn.listen_key == listen_key:
                await self._send(conn, payload)

    async def expire_listen_key(self, listen_key: str, now_ms: int) -> None:
        self._listen_keys.discard(listen_key)
        for conn in list(self._conns):
            if conn.listen_key == listen_key:
                await self._send(conn, {"e": "listenKeyExpired", "E": now_ms, "listenKey": listen_key})
                await conn.ws.close()

    async def _send(self, conn: _Conn, body: dict[str, Any]) -> None:
        f = self.faults
        if conn.ws.closed:
            return
        if f.max_connection_ms is not None and (time.monotonic() - conn.opened) * 1000 >= f.max_connection_ms:
            await conn.ws.close()
            return
        if f.stall_ms:
            await asyncio.sleep(f.stall_ms / 1000)
        try:
            await conn.ws.send_bytes(orjson.dumps(body))
        except (ConnectionError, RuntimeError):
            return
        conn.sent += 1
        self.messages_sent += 1
        if f.drop_after_messages is not None:
            f.drop_after_messages -= 1
            if f.drop_after_messages <= 0:
                f.drop_after_messages = None
                await self.drop_all()

    async def drop_all(self) -> None:
        """Close every socket abruptly, as a network cut would."""
        for conn in list(self._conns):
            transport = conn.ws._req.transport if conn.ws._req is not None else None
            if transport is not None:
                transport.abort()
            self._conns.remove(conn)

    @property
    def connections(self) -> int:
        return len(self._conns)

    async def close(self) -> None:
        for conn in list(self._conns):
            await conn.ws.close()
        self._conns.clear()
