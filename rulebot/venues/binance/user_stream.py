"""The user data stream: listen key kept alive and renewed, events parsed, reconnects announced.

    stream = UserStream(endpoints, rest, on_event)      # rest: create/keepalive/close_listen_key
    stream.start()

Events out: `OrderUpdate`, `AccountUpdate`, `AlgoUpdate`, `MarginCall` (one per position),
`LeverageChanged`, and `StreamStatus("user", ...)`: after every (re)connect a connected status
with detail "reconnected", the runner's cue to reconcile orders, positions and balances by REST
before trading goes on (what happened while the socket was down is not replayed by Binance).
`TRADE_LITE` duplicates `ORDER_TRADE_UPDATE` fills and is dropped. On `listenKeyExpired` a new
key is created and the stream reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from rulebot.core.account_events import StreamStatus
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.parse_user import ListenKeyExpired, MarginCalls, TradeLite, parse_user_message
from rulebot.venues.binance.ws import ReconnectingStream

OnEvent = Callable[[object], Awaitable[None]]
KEEPALIVE_S = 30 * 60  # Binance expires a key after 60 minutes without a keepalive


class ListenKeyApi(Protocol):
    async def create_listen_key(self) -> str: ...
    async def keepalive_listen_key(self) -> None: ...
    async def close_listen_key(self) -> None: ...


class UserStream:
    def __init__(
        self,
        endpoints: Endpoints,
        api: ListenKeyApi,
        on_event: OnEvent,
        *,
        keepalive_s: float = KEEPALIVE_S,
        **ws_options: Any,
    ) -> None:
        self._endpoints = endpoints
        self._api = api
        self._on_event = on_event
        self.keepalive_s = keepalive_s
        self.listen_key: str | None = None
        self.renewals = 0
        self.keepalives = 0
        self._ws = ReconnectingStream("user", self._url, self._message, self._status, **ws_options)
        self._keepalive: asyncio.Task[None] | None = None

    async def _url(self) -> str:
        if self.listen_key is None:
            self.listen_key = await self._api.create_listen_key()
        return self._endpoints.user_stream(self.listen_key)

    def start(self) -> None:
        self._ws.start()
        self._keepalive = asyncio.create_task(self._keep_alive())

    async def stop(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        await self._ws.stop()
        if self.listen_key is not None:
            with contextlib.suppress(Exception):
                await self._api.close_listen_key()

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self._api.keepalive_listen_key()
                self.keepalives += 1
            except Exception:
                self.listen_key = None
                self.renewals += 1

    async def _status(self, status: StreamStatus) -> None:
        if status.connected and status.detail == "connected":
            status = StreamStatus("user", True, status.time, "reconnected" if self._ws.connects > 1 else "connected")
        await self._on_event(status)

    async def _message(self, raw: bytes | str) -> None:
        event = parse_user_message(orjson.loads(raw))
        if event is None or isinstance(event, TradeLite):
            return
        if isinstance(event, ListenKeyExpired):
            self.listen_key = None
            self.renewals += 1
            raise ConnectionResetError("listen key expired")  # reconnect with a new key
        if isinstance(event, MarginCalls):
            for call in event.calls:
                await self._on_event(call)
            return
        await self._on_event(event)
