"""The user data stream: a listen key kept alive and renewed, events parsed, reconnects announced.

    stream = UserStream(endpoints, rest, on_event)   # rest: create/keepalive/close_listen_key
    stream.start()

Events out: `OrderUpdate`, `AlgoUpdate`, `AccountUpdate`, `MarginCall` (one per position of a
MARGIN_CALL), `LeverageChanged`, `MultiAssetsModeChanged`, and `StreamStatus("user", ...)`.
Binance never replays user events missed while no socket was open, so after every reconnect
the status is connected with detail exactly "reconnected": the runner's cue to reconcile
orders, positions and balances by REST before trading goes on. A rollover loses nothing
(`ws.Seam`) and says "rolled over to a new connection".

`TRADE_LITE` is an early, fee-less copy of a fill that ORDER_TRADE_UPDATE reports again; the
engine books from the latter only, so it is passed on only with `trade_lite=True`.

Listen keys live 60 minutes unless kept alive (FACTS §10): a keepalive goes out every
`keepalive_s`. A key Binance no longer knows (-1125 on keepalive) or a `listenKeyExpired`
event gets a new key and a new connection. A frame that does not parse may have been an order
update, so it also forces a reconnect, and with it a reconciliation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import websockets

from rulebot.binance.codes import InvalidListenKey
from rulebot.binance.payloads.common import PayloadError
from rulebot.binance.payloads.user import (
    ListenKeyExpired,
    MarginCalls,
    TradeLite,
    parse_user_message,
)
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.ws import ReconnectingStream

OnEvent = Callable[[object], Awaitable[None]]
KEEPALIVE_S = 30 * 60  # Binance expires a key 60 minutes after its last keepalive
RETRY_S = 60.0  # after a keepalive that failed for another reason (network, 5xx)
STREAM = "user"


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
        retry_s: float = RETRY_S,
        trade_lite: bool = False,
        **ws_options: Any,
    ) -> None:
        self._endpoints = endpoints
        self._api = api
        self._on_event = on_event
        self.keepalive_s = keepalive_s
        self.retry_s = retry_s
        self.trade_lite = trade_lite
        self.listen_key: str | None = None
        self.renewals = 0  # keys replaced (expired or unknown to Binance)
        self.keepalives = 0
        self.keepalive_failures = 0
        self.malformed = 0
        ws_options.setdefault("idle_timeout_s", None)  # an account can be quiet for hours
        self.ws = ReconnectingStream(STREAM, self._url, self._message, self._on_event, on_cut=self._cut, **ws_options)
        self._keepalive: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.ws.start()
        self._keepalive = asyncio.create_task(self._keep_alive(), name="listen-key")

    async def stop(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        await self.ws.stop()
        if self.listen_key is not None:
            with contextlib.suppress(Exception):  # it lapses on its own within the hour
                await self._api.close_listen_key()
            self.listen_key = None

    async def _url(self) -> str:
        if self.listen_key is None:
            try:
                self.listen_key = await self._api.create_listen_key()
            except Exception as exc:  # a failed connection attempt: backoff, then again
                raise ConnectionError(f"could not create a listen key ({exc})") from exc
        return self._endpoints.user_stream(self.listen_key)

    async def _renew(self, why: str) -> None:
        self.listen_key = None
        self.renewals += 1
        await self.ws.reconnect(f"{why}; reconnecting with a new listen key")

    async def _keep_alive(self) -> None:
        wait = self.keepalive_s
        while True:
            await asyncio.sleep(wait)
            wait = self.keepalive_s
            if self.listen_key is None:
                continue  # the connection loop is creating one
            try:
                await self._api.keepalive_listen_key()
                self.keepalives += 1
            except InvalidListenKey:
                await self._renew("Binance no longer knows the listen key (-1125)")
            except Exception:  # network or server trouble: the key has time left, try sooner
                self.keepalive_failures += 1
                wait = min(self.retry_s, self.keepalive_s)

    async def _cut(self, exc: BaseException) -> None:
        if isinstance(exc, websockets.InvalidStatus) and self.listen_key is not None:
            # Refused at the handshake: most likely the key lapsed; the next attempt makes one.
            self.listen_key = None
            self.renewals += 1

    async def _message(self, raw: bytes | str) -> None:
        try:
            event = parse_user_message(raw)
        except PayloadError as exc:
            self.malformed += 1
            await self.ws.reconnect(f"a user event did not parse ({exc}); what it said is unknown")
            return
        if event is None:
            return
        if isinstance(event, MarginCalls):
            for call in event.calls:
                await self._on_event(call)
        elif isinstance(event, ListenKeyExpired):
            if event.listen_key == self.listen_key:
                await self._renew("the listen key expired")
        elif isinstance(event, TradeLite):
            if self.trade_lite:
                await self._on_event(event)
        else:
            await self._on_event(event)
