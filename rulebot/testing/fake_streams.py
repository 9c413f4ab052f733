"""The fake exchange's WebSocket side: market streams and user data streams over aiohttp.

Paths as Binance serves them (FACTS §0, §1). USDⓈ-M: `/public/...` delivers book data
(bookTicker, depth), `/market/...` everything else, unrouted `/ws/...` and `/stream` only book
data (as Binance does since the legacy URLs were decommissioned), and user data only on
`/private/ws/<listenKey>`, `/private/ws?listenKey=<k>&events=A/B` or the multi-key
`/private/stream?listenKey=<k1>&listenKey=<k2>`. COIN-M: `/ws/<streams or listenKey>` and
`/stream?streams=...`, no routes. `/stream` wraps frames as `{"stream", "data"}`. Frames are
text, as Binance's are; SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS and the `combined` property
work, and a client sending more than 10 messages a second is disconnected.

Every connection has its own outgoing queue and writer, so a stalled or slow connection never
holds up a publisher or another connection. Faults (`StreamFaults`) are read on every send.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from rulebot.binance import encode as enc
from rulebot.binance.payloads.market import DepthUpdate
from rulebot.core.enums import Market
from rulebot.core.events import BookTop
from rulebot.testing.fake_stream_conn import (
    CLOSE,
    MAX_INCOMING_PER_S,
    MAX_STREAMS,
    PRIVATE,
    PUBLIC_STREAMS,
    Late,
    StreamConn,
    StreamFaults,
    abort,
    dumps_frame,
    refuse,
)


class StreamHub:
    def __init__(
        self,
        market: Market,
        faults: StreamFaults | None = None,
        *,
        ping_interval_s: float | None = None,
    ) -> None:
        self.market = market
        self.faults = faults or StreamFaults()
        self.ping_interval_s = ping_interval_s  # Binance pings every 3 minutes; None: never
        self._conns: list[StreamConn] = []
        self._listen_keys: set[str] = set()
        self._book_ids: dict[str, int] = {}  # the last bookTicker `u` per symbol
        self._depth_count = 0
        self._reaper: asyncio.Task[None] | None = None
        self.connections_opened = 0
        self.messages_sent = 0
        self.refused = 0  # handshakes refused (unknown listen key, bad path)
        self.on_send: Callable[[str], None] | None = None  # told each frame as it leaves (benches)

    # -- routing -----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        prefixes = ("", "/public", "/market", "/private") if self.market is Market.USDM else ("",)
        for prefix in prefixes:
            app.router.add_get(prefix + "/ws", self._handle)
            app.router.add_get(prefix + "/ws/{names:.*}", self._handle)
            app.router.add_get(prefix + "/stream", self._handle)

    def register_listen_key(self, listen_key: str) -> None:
        self._listen_keys.add(listen_key)

    def forget_listen_key(self, listen_key: str) -> None:
        """The key was deleted: no new connections with it (open ones stay, silent)."""
        self._listen_keys.discard(listen_key)

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        route = request.path.strip("/").split("/")[0] if self.market is Market.USDM else ""
        route = route if route in ("public", "market", PRIVATE) else ""
        names = [n for n in request.match_info.get("names", "").split("/") if n]
        names += [n for n in request.query.get("streams", "").split("/") if n]
        keys = set(request.query.getall("listenKey", []))
        if route == PRIVATE or self.market is Market.COINM:
            keys |= {n for n in names if "@" not in n and not n.startswith("!")}
            names = [n for n in names if n not in keys]
        if route == PRIVATE and not keys:
            raise refuse(-1102, "Mandatory parameter 'listenKey' was not sent.")
        unknown = keys - self._listen_keys
        if unknown or (keys and route not in (PRIVATE, "")):
            self.refused += 1
            raise refuse(-1125, "This listenKey does not exist.")
        if len(names) > MAX_STREAMS:
            self.refused += 1
            raise refuse(-1130, f"Too many streams: at most {MAX_STREAMS} a connection.")
        events = request.query.get("events")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=2**20)
        await ws.prepare(request)
        conn = StreamConn(
            ws,
            route,
            set(names),
            keys,
            set(events.split("/")) if events else None,
            combined=request.path.endswith("/stream"),
        )
        conn.writer = asyncio.create_task(self._write(conn))
        self._conns.append(conn)
        self.connections_opened += 1
        self._watch_ages()
        try:
            await self._serve(conn)
        finally:
            self._forget(conn)
        return ws

    async def _serve(self, conn: StreamConn) -> None:
        pinger = asyncio.create_task(self._ping(conn)) if self.ping_interval_s else None
        try:
            async for msg in conn.ws:
                if msg.type == WSMsgType.PING:
                    if not self.faults.ignore_pings:
                        await conn.ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    conn.pong_seen = True
                elif msg.type == WSMsgType.TEXT:
                    if self._too_chatty(conn):
                        await conn.ws.close(code=1008, message=b"Too many requests")
                        break
                    await self._control(conn, msg.data)
                else:
                    break
        finally:
            if pinger is not None:
                pinger.cancel()

    async def _ping(self, conn: StreamConn) -> None:
        """Binance pings; a client that sends no pong before the next ping is dropped."""
        assert self.ping_interval_s is not None
        while not conn.ws.closed:
            conn.pong_seen = False
            await conn.ws.ping(b"fake")
            await asyncio.sleep(self.ping_interval_s)
            if not conn.pong_seen:
                abort(conn.ws)
                return

    def _too_chatty(self, conn: StreamConn) -> bool:
        now = time.monotonic()
        conn.incoming.append(now)
        while conn.incoming and conn.incoming[0] < now - 1:
            conn.incoming.popleft()
        return len(conn.incoming) > MAX_INCOMING_PER_S

    async def _control(self, conn: StreamConn, text: str) -> None:
        try:
            req = orjson.loads(text)
            method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
        except (orjson.JSONDecodeError, AttributeError):
            await self._send(conn, dumps_frame({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}))
            return
        result: Any = None
        if method == "SUBSCRIBE":
            conn.streams.update(params)
        elif method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
        elif method == "LIST_SUBSCRIPTIONS":
            result = sorted(conn.streams)
        elif method == "SET_PROPERTY" and params[:1] == ["combined"]:
            conn.combined = bool(params[1])
        elif method == "GET_PROPERTY" and params[:1] == ["combined"]:
            result = conn.combined
        else:
            refusal = {"code": 2, "msg": f"Invalid request: {method}"}
            await self._send(conn, dumps_frame({"error": refusal, "id": rid}))
            return
        await self._send(conn, dumps_frame({"result": result, "id": rid}))

    def _forget(self, conn: StreamConn) -> None:
        if conn in self._conns:
            self._conns.remove(conn)
        if conn.writer is not None:
            conn.writer.cancel()

    # -- publishing ----------------------------------------------------------------------------

    async def publish_market(self, event: object) -> None:
        """A core market event (Trade, BookTop, MarkPrice, CandleClosed, DepthUpdate,
        Liquidation), encoded as Binance does, on every stream that carries it."""
        if isinstance(event, DepthUpdate):
            self._depth_count += 1
            gap = self.faults.gap_every
            if gap and self._depth_count % gap == 0:
                return  # a sequence gap: this diff reaches nobody
        payload: dict[str, Any] | None
        if isinstance(event, BookTop):  # Binance's `u` only grows
            u = max(event.update_id, self._book_ids.get(event.symbol, 0) + 1)
            self._book_ids[event.symbol] = u
            payload = enc.book_ticker(event, u)
        else:
            payload = enc.market_payload(event, self.market)
        if payload is None:
            raise TypeError(f"no market stream carries {type(event).__name__}")
        for stream in enc.market_streams_of(event):
            await self.publish(stream, payload)

    async def publish(self, stream: str, payload: dict[str, Any]) -> None:
        """A Binance-shaped frame on one market stream."""
        public = any(p in stream for p in PUBLIC_STREAMS)
        raw = wrapped = ""
        for conn in list(self._conns):
            if stream not in conn.streams or not self._carries(conn.route, public):
                continue
            if conn.combined:
                wrapped = wrapped or dumps_frame({"stream": stream, "data": payload})
                await self._send_market(conn, wrapped)
            else:
                raw = raw or dumps_frame(payload)
                await self._send_market(conn, raw)

    async def _send_market(self, conn: StreamConn, text: str) -> None:
        """A market frame: now, or `market_lag_ms` late (queued in order behind what waits)."""
        lag = self.faults.market_lag_ms
        if not lag:
            await self._send(conn, text)
            return
        late = Late(text)
        late.due = time.monotonic() + lag / 1000
        conn.queue.put_nowait(late)

    def _carries(self, route: str, public: bool) -> bool:
        if self.market is Market.COINM:
            return route == ""
        return (route == "market" and not public) or (route in ("public", "") and public)

    async def publish_user(self, listen_key: str, event: object) -> None:
        """A core account event (or a ready Binance payload) on the key's user streams."""
        payload = event if isinstance(event, dict) else enc.user_payload(event, self.market)
        if payload is None:
            raise TypeError(f"the user stream does not carry {type(event).__name__}")
        for conn in list(self._conns):
            if listen_key in conn.listen_keys:
                if conn.events is not None and payload.get("e") not in conn.events:
                    continue
                body = {"stream": listen_key, "data": payload} if conn.combined else payload
                await self._send(conn, dumps_frame(body))

    async def expire_listen_key(self, listen_key: str, now_ms: int | None = None, *, close: bool = True) -> None:
        """The key lapsed: `listenKeyExpired` on its streams, which then close (or, with
        `close=False`, stay open and silent, which Binance also does)."""
        self._listen_keys.discard(listen_key)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        for conn in list(self._conns):
            if listen_key in conn.listen_keys:
                payload = enc.listen_key_expired(listen_key, now)
                wrapped = {"stream": listen_key, "data": payload}
                await self._send(conn, dumps_frame(wrapped if conn.combined else payload))
                conn.listen_keys.discard(listen_key)
                if close and not conn.listen_keys:
                    conn.queue.put_nowait(CLOSE)

    async def _send(self, conn: StreamConn, text: str) -> None:
        """Send now if nothing is waiting on this connection, else queue behind what is.

        Sending at once makes a publish deterministic (sent, faults applied, when it returns);
        a stall queues instead, so that only the stalled connection waits.
        """
        f = self.faults
        if conn.busy or not conn.queue.empty() or f.stall_ms or f.ignore_pings or self._held(conn):
            conn.queue.put_nowait(text)
            return
        conn.busy = True
        try:
            await self._deliver(conn, text)
        finally:
            conn.busy = False

    async def _write(self, conn: StreamConn) -> None:
        """What was queued on one connection, in order."""
        while True:
            text = await conn.queue.get()
            while self._held(conn) and not conn.ws.closed:
                await asyncio.sleep(0.01)  # released: what queued meanwhile leaves back to back
            if text is CLOSE:
                await conn.ws.close()
                return
            if self.faults.stall_ms:
                await asyncio.sleep(self.faults.stall_ms / 1000)
            if isinstance(text, Late):
                await asyncio.sleep(max(0.0, text.due - time.monotonic()))
                text = str(text)
            conn.busy = True
            try:
                if not await self._deliver(conn, text):
                    return
            finally:
                conn.busy = False

    def _held(self, conn: StreamConn) -> bool:
        return self.faults.hold_user if conn.listen_keys else self.faults.hold_market

    async def _deliver(self, conn: StreamConn, text: str) -> bool:
        """One frame to the client; False once the connection is gone."""
        f = self.faults
        if f.ignore_pings or conn.ws.closed:
            return not conn.ws.closed  # a dead peer sends nothing either
        try:
            await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        conn.sent += 1
        self.messages_sent += 1
        if self.on_send is not None:
            self.on_send(text)
        if f.drop_after_messages is not None:
            f.drop_after_messages -= 1
            if f.drop_after_messages <= 0:
                f.drop_after_messages = None
                await self.drop_all()
                return False
        return True

    # -- faults and lifecycle ------------------------------------------------------------------

    def _watch_ages(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap())

    async def _reap(self) -> None:
        """Close connections older than `max_connection_ms`, as Binance does at 24 hours."""
        while self._conns:
            limit = self.faults.max_connection_ms
            if limit is not None:
                now = time.monotonic()
                for conn in list(self._conns):
                    if (now - conn.opened) * 1000 >= limit and not conn.ws.closed:
                        conn.queue.put_nowait(CLOSE)
            await asyncio.sleep(0.01 if limit is None else min(0.05, limit / 4000))

    async def drop_all(self) -> None:
        """Cut every socket abruptly, as a network failure would: no close frame."""
        for conn in list(self._conns):
            abort(conn.ws)
            self._forget(conn)

    @property
    def connections(self) -> int:
        return len(self._conns)

    def connections_on(self, route: str) -> int:
        """Open connections on a route ("public", "market", "private", "" for unrouted)."""
        return sum(1 for c in self._conns if c.route == route)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for conn in list(self._conns):
            self._forget(conn)
            with contextlib.suppress(Exception):
                await conn.ws.close()


@contextlib.asynccontextmanager
async def serve(hub: StreamHub, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """The hub alone on a loopback port (no REST); yields its `ws://host:port` base."""
    app = web.Application()
    hub.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://{host}:{port}"
    finally:
        await hub.close()
        await runner.cleanup()
