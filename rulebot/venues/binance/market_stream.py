"""Binance's public market streams as core events, each exactly once and in order.

A combined stream (aggTrade, bookTicker, markPrice@1s, kline, depth, forceOrder) on the routed
USDⓈ-M path or COIN-M's dstream. Duplicates from a rollover's overlap are dropped by event id
(aggTrade id, bookTicker update id, event time for the rest). aggTrade ids are consecutive, so
a jump after a reconnect is a gap: the missing trades are fetched by REST (`aggTrades?fromId=`)
and delivered in order before the new one; if they cannot be fetched, a `StreamStatus` says
what was lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from rulebot.core.account_events import StreamStatus
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.parse_market import DepthUpdate, parse_market_message
from rulebot.venues.binance.ws import ReconnectingStream

OnEvent = Callable[[object], Awaitable[None]]
Backfill = Callable[[str, int, int], Awaitable[Sequence[Trade]]]  # symbol, from id, to id (inclusive)


def stream_names(
    symbols: Sequence[str],
    *,
    trades: bool = True,
    book: bool = True,
    mark: bool = True,
    klines: Sequence[str] = (),
    depth: bool = False,
    liquidations: bool = False,
) -> list[str]:
    out: list[str] = []
    for s in symbols:
        s = s.lower()
        out += [f"{s}@aggTrade"] if trades else []
        out += [f"{s}@bookTicker"] if book else []
        out += [f"{s}@markPrice@1s"] if mark else []
        out += [f"{s}@kline_{tf}" for tf in klines]
        out += [f"{s}@depth@100ms"] if depth else []
        out += [f"{s}@forceOrder"] if liquidations else []
    return out


class MarketStream:
    def __init__(
        self,
        endpoints: Endpoints,
        streams: Sequence[str],
        on_event: OnEvent,
        backfill: Backfill | None = None,
        **ws_options: Any,
    ) -> None:
        self._on_event = on_event
        self._backfill = backfill
        self._last_trade: dict[str, int] = {}
        self._last_book: dict[str, int] = {}
        self._last_time: dict[tuple[str, str], int] = {}
        self.duplicates = 0
        self.backfilled = 0
        self.gaps_lost = 0
        self._down: set[str] = set()  # connections that were cut and have not come back yet
        # USDⓈ-M routes book data to /public and the rest to /market: one connection each.
        public = [s for s in streams if endpoints.routed and ("@bookTicker" in s or "@depth" in s)]
        market = [s for s in streams if s not in public]
        self.connections = [
            ReconnectingStream(
                f"market:{route}", endpoints.market_streams(group), self._message, self._status, **ws_options
            )
            for route, group in (("public", public), ("market", market))
            if group
        ]

    def start(self) -> None:
        for c in self.connections:
            c.start()

    async def stop(self) -> None:
        for c in self.connections:
            await c.stop()

    async def _status(self, status: StreamStatus) -> None:
        await self._on_event(status)
        if not status.connected:
            self._down.add(status.stream)
        elif status.stream in self._down and status.detail == "connected":
            self._down.discard(status.stream)
            await self._catch_up()  # on the reconnected connection, before its first message

    async def _catch_up(self) -> None:
        """Back after a cut: fetch the trades printed meanwhile now, not at the next trade."""
        if self._backfill is None:
            return
        for symbol, last in list(self._last_trade.items()):
            await self._fill_gap(symbol, last + 1, 1 << 62, report=False)

    async def _message(self, raw: bytes | str) -> None:
        data = orjson.loads(raw)
        if isinstance(data, dict) and "result" in data and "id" in data:
            return  # the answer to a SUBSCRIBE
        event = parse_market_message(data)
        if event is None:
            return
        if isinstance(event, Trade):
            await self._trade(event)
            return
        if isinstance(event, BookTop):
            last = self._last_book.get(event.symbol, -1)
            if event.update_id <= last:
                self.duplicates += 1
                return
            self._last_book[event.symbol] = event.update_id
        elif isinstance(event, MarkPrice | CandleClosed | DepthUpdate):
            key = (type(event).__name__ + getattr(event, "timeframe", ""), event.symbol)
            if isinstance(event, CandleClosed):
                t = event.close_time
            elif isinstance(event, DepthUpdate):
                t = event.final_update_id  # diffs come many to a millisecond: their ids order them
            else:
                t = event.time
            if t <= self._last_time.get(key, -1):
                self.duplicates += 1
                return
            self._last_time[key] = t
        await self._on_event(event)

    async def _trade(self, t: Trade) -> None:
        last = self._last_trade.get(t.symbol)
        if last is not None and t.trade_id <= last:
            self.duplicates += 1
            return
        if last is not None and t.trade_id > last + 1:
            await self._fill_gap(t.symbol, last + 1, t.trade_id - 1)
        self._last_trade[t.symbol] = t.trade_id
        await self._on_event(t)

    async def _fill_gap(self, symbol: str, first: int, last: int, report: bool = True) -> None:
        missing = last - first + 1
        got: Sequence[Trade] = ()
        if self._backfill is not None:
            try:
                got = await self._backfill(symbol, first, last)
            except Exception as exc:
                got = ()
                detail = f"backfill failed: {type(exc).__name__}"
            else:
                detail = ""
        else:
            detail = "no REST backfill configured"
        for trade in sorted(got, key=lambda x: x.trade_id):
            if first <= trade.trade_id <= last and trade.trade_id > self._last_trade.get(symbol, -1):
                self._last_trade[symbol] = trade.trade_id
                self.backfilled += 1
                await self._on_event(trade)
        lost = missing - len([x for x in got if first <= x.trade_id <= last])
        if lost > 0 and report:
            self.gaps_lost += lost
            await self._on_event(
                StreamStatus(
                    f"market:{symbol}",
                    True,
                    0,
                    f"gap: {lost} aggTrades ({first}..{last}) could not be recovered"
                    + (f"; {detail}" if detail else ""),
                )
            )
