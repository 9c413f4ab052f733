"""Binance's public market streams as core events, each once and in order, and what a cut lost.

Combined streams (aggTrade, bookTicker, markPrice@1s, kline, depth diffs, forceOrder) on
USDⓈ-M's routed paths (book data on `/public`, the rest on `/market`, FACTS §0) or COIN-M's
dstream, at most `streams_per_connection` streams a connection. Frames a rollover's overlap
delivers twice are dropped by id: aggTrade `a`, bookTicker `u`, depth `u`, kline open time,
event time for the rest.

What a cut (a dropped socket, a stall) costs, stream by stream — Binance replays nothing on
a socket:
- aggTrade: nothing. Aggregate ids are consecutive per symbol, so a jump is a gap; the missing
  trades are fetched by REST (`aggTrades?fromId=`) right after the reconnect and delivered in
  order before any newer one. Only when REST cannot supply them (no backfill configured, a
  REST error, more than `max_backfill` missing) does a `StreamStatus` with detail "gap: ..."
  say which ids were lost.
- kline: a closed candle whose open time does not follow the last one is a gap; the missing
  candles come from REST (`klines`) when a `candle_backfill` is given, else a "gap" status.
- depth: the diffs sent meanwhile are lost; the `pu` chain breaks and `LocalOrderBook`
  resyncs from a snapshot.
- bookTicker, markPrice, forceOrder: lost and not recoverable. The first two are states (the
  next update replaces what was missed); forceOrder is a sample of other accounts'
  liquidations. The "reconnected" status names them and how long the connection was down.
"""

from __future__ import annotations

import time as _time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from rulebot.binance.payloads.common import PayloadError
from rulebot.binance.payloads.market import DepthUpdate, Liquidation, parse_market_message
from rulebot.binance.payloads.market_data import parse_klines
from rulebot.binance.sequencer import CandleGap, Seen, Sequencer, TradeGap
from rulebot.core.account_events import StreamStatus
from rulebot.core.events import STAMPED, BookTop, CandleClosed, MarkPrice, Trade
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.ws import CONNECTED, RECONNECTED, ReconnectingStream

OnEvent = Callable[[object], Awaitable[None]]
Backfill = Callable[[str, int, int], Awaitable[Sequence[Trade]]]  # symbol, first id, last id
# symbol, timeframe, first and last missing open time (ms) -> the closed candles between
CandleBackfill = Callable[[str, str, int, int], Awaitable[Sequence[CandleClosed]]]
MAX_STREAMS = 1024  # Binance's limit per connection (FACTS §0)
MAX_BACKFILL = 20_000  # trades replayed by REST after a cut (20 pages of weight 20)
_PUBLIC = ("@bookTicker", "@depth")  # USDⓈ-M serves book data on /public, the rest on /market
# The events the stream passes on, once the sequencer has found them new.
_SEQUENCED = (Trade, BookTop, DepthUpdate, CandleClosed, MarkPrice, Liquidation)


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
    """Binance's stream names for `symbols` (lowercase, as Binance names them)."""
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


def connection_groups(
    endpoints: Endpoints, streams: Sequence[str], per_connection: int = 200
) -> list[tuple[str, list[str]]]:
    """(name, streams) per connection: split by route on USDⓈ-M, then into chunks."""
    if not 0 < per_connection <= MAX_STREAMS:
        raise ValueError(f"streams per connection must be 1..{MAX_STREAMS}, got {per_connection}")
    if endpoints.routed:
        public = [s for s in streams if any(p in s for p in _PUBLIC)]
        routes = [("public", public), ("market", [s for s in streams if s not in public])]
    else:
        routes = [("market", list(streams))]
    out: list[tuple[str, list[str]]] = []
    for route, group in routes:
        chunks = [group[i : i + per_connection] for i in range(0, len(group), per_connection)]
        for n, chunk in enumerate(chunks):
            out.append((f"market:{route}" + (f":{n + 1}" if len(chunks) > 1 else ""), chunk))
    return out


class MarketStream:
    """Market events to `on_event`, with `StreamStatus` for every cut, return and lost gap.

    `on_event` is given here or to `start` (a runner gives its queue's `put` when the run starts,
    so that each event goes straight into the one queue the engine reads)."""

    def __init__(
        self,
        endpoints: Endpoints,
        streams: Sequence[str],
        on_event: OnEvent | None = None,
        backfill: Backfill | None = None,
        *,
        candle_backfill: CandleBackfill | None = None,
        streams_per_connection: int = 200,
        max_backfill: int = MAX_BACKFILL,
        clock: Callable[[], int] | None = None,
        **ws_options: Any,
    ) -> None:
        self._deliver = on_event
        # Binance's clock as best known here (the REST client's `now_ms`: local time plus the
        # offset measured against `/fapi/v1/time`); every market event is stamped with it on
        # arrival, so that the stale-data guard sees a feed that lags behind the exchange.
        self._clock = clock or _wall_ms
        self._backfill = backfill
        self.max_backfill = max_backfill
        self._candle_backfill = candle_backfill
        self._seq = Sequencer()
        self.duplicates = 0  # frames seen twice (a rollover's overlap) and dropped
        self.restarts = 0  # frames numbered below the last seen yet later: a numbering started again
        self.backfilled = 0  # trades and candles recovered by REST
        self.gaps_lost = 0  # trades and candles neither the stream nor REST could supply
        self.malformed = 0  # frames that did not parse, skipped
        self._down_since: dict[str, int] = {}
        self._trade_symbols: dict[str, list[str]] = {}  # connection -> symbols of its aggTrades
        self.connections: list[ReconnectingStream] = []
        for name, group in connection_groups(endpoints, streams, streams_per_connection):
            trades = [s.split("@")[0].upper() for s in group if s.endswith("@aggTrade")]
            self._trade_symbols[name] = trades
            self.connections.append(
                ReconnectingStream(
                    name,
                    endpoints.market_streams(group),
                    self._message,
                    self._status_of(name),
                    clock=self._clock,
                    **ws_options,
                )
            )

    def start(self, on_event: OnEvent | None = None) -> None:
        if on_event is not None:
            self._deliver = on_event
        if self._deliver is None:
            raise ValueError("a market stream needs somewhere to deliver its events: give on_event")
        for c in self.connections:
            c.start()

    async def stop(self) -> None:
        for c in self.connections:
            await c.stop()

    async def _on_event(self, event: object) -> None:
        if isinstance(event, STAMPED) and not event.received:
            event = replace(event, received=self._clock())
        deliver = self._deliver
        assert deliver is not None  # start() refuses to run without one
        await deliver(event)

    # -- connections ------------------------------------------------------------------------------

    def _status_of(self, name: str) -> Callable[[StreamStatus], Awaitable[None]]:
        async def status(s: StreamStatus) -> None:
            if not s.connected:
                self._down_since.setdefault(name, s.time)
                await self._on_event(s)
                return
            if s.detail == RECONNECTED:
                down = self._down_since.pop(name, s.time)
                recovered = await self._catch_up(name)  # before the new connection's first frame
                s = StreamStatus(s.stream, True, s.time, _back_detail(s.time - down, recovered))
            elif s.detail == CONNECTED:
                self._down_since.pop(name, None)
            await self._on_event(s)

        return status

    async def _catch_up(self, connection: str) -> int:
        """After a cut, fetch the trades printed meanwhile now, not at the next trade."""
        if self._backfill is None:
            return 0
        before = self.backfilled
        for symbol in self._trade_symbols.get(connection, ()):
            last = self._seq.last_trade_id(symbol)
            if last is not None:
                # Up to the cap: what lies beyond is found (and reported) at the next trade.
                await self._fill_trades(symbol, last + 1, last + self.max_backfill, 0, report=False)
        return self.backfilled - before

    # -- frames -----------------------------------------------------------------------------------

    async def _message(self, raw: bytes | str) -> None:
        try:
            event = parse_market_message(raw)
        except PayloadError as exc:
            self.malformed += 1
            if self.malformed == 1 or self.malformed % 1000 == 0:
                detail = f"skipped a frame that did not parse ({exc}); {self.malformed} so far"
                await self._on_event(StreamStatus("market", True, self._clock(), detail))
            return
        verdict = self._seq.check(event)
        if verdict is Seen.DUPLICATE:
            self.duplicates += 1
            return
        if verdict is Seen.RESTARTED:
            self.restarts += 1
            kind = type(event).__name__
            detail = (
                f"{getattr(event, 'symbol', '')} {kind} numbering started again below the last seen "
                "(the exchange restarted?): taken as new from here"
            )
            await self._on_event(StreamStatus("market", True, self._clock(), detail))
        elif isinstance(verdict, TradeGap):
            await self._fill_trades(verdict.symbol, verdict.first, verdict.last, getattr(event, "time", 0))
        elif isinstance(verdict, CandleGap):
            await self._fill_candles(verdict)
        if isinstance(event, _SEQUENCED):
            self._seq.accept(event)
            await self._on_event(event)
        # None, a ControlReply (the answer to a SUBSCRIBE) and the rest: nothing to pass on

    async def _fill_trades(self, symbol: str, first: int, last: int, time: int, report: bool = True) -> None:
        if last - first + 1 > self.max_backfill:
            # Hours of a busy symbol would cost thousands of REST weight and replay stale
            # trades into the engine: report the hole instead.
            got: Sequence[Trade] = ()
            why = f"more than {self.max_backfill} missing, too many to replay"
        else:
            got, why = await _fetch(self._backfill, symbol, first, last)
        delivered = 0
        for trade in sorted(got, key=lambda x: x.trade_id):
            if self._seq.accept_trade(trade, first, last):
                self.backfilled += 1
                delivered += 1
                await self._on_event(trade)
        lost = last - first + 1 - delivered
        if report and lost > 0:
            self.gaps_lost += lost
            detail = f"gap: {lost} aggTrades ({first}..{last}) could not be recovered: {why}"
            await self._on_event(StreamStatus(f"market:{symbol}@aggTrade", True, time, detail))

    async def _fill_candles(self, gap: CandleGap) -> None:
        last, upto = gap.last, gap.upto
        first_open, last_open = last.close_time + 1, upto.open_time - 1
        got, why = await _fetch(self._candle_backfill, last.symbol, last.timeframe, first_open, last_open)
        for candle in sorted(got, key=lambda x: x.open_time):
            if self._seq.accept_candle(candle, gap):
                self.backfilled += 1
                await self._on_event(candle)
        newest = self._seq.newest_candle(last.symbol, last.timeframe) or last
        if newest.close_time + 1 < upto.open_time:
            self.gaps_lost += 1
            detail = (
                f"gap: {last.symbol} {last.timeframe} candles opening {newest.close_time + 1}.."
                f"{upto.open_time - 1} could not be recovered: {why}"
            )
            stream = f"market:{last.symbol.lower()}@kline_{last.timeframe}"
            await self._on_event(StreamStatus(stream, True, upto.close_time, detail))


class KlinesApi(Protocol):
    async def klines(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = 500,
    ) -> Any: ...


def candle_backfill_from(rest: KlinesApi) -> CandleBackfill:
    """A `candle_backfill` that asks REST `klines` (`BinanceRest` is one)."""

    async def fetch(symbol: str, timeframe: str, first_open: int, last_open: int) -> Sequence[CandleClosed]:
        rows = await rest.klines(symbol, timeframe, first_open, last_open, limit=1500)
        return [c for c in parse_klines(rows, symbol, timeframe) if c.open_time <= last_open]

    return fetch


async def _fetch(fetch: Callable[..., Awaitable[Sequence[Any]]] | None, *args: Any) -> tuple[Sequence[Any], str]:
    """What a REST backfill returns, and if it cannot, why (for the gap report)."""
    if fetch is None:
        return (), "no REST backfill configured"
    try:
        return await fetch(*args), "REST returned fewer than were missing"
    except Exception as exc:  # whatever REST raised, the gap is reported, not fatal
        return (), f"REST backfill failed ({type(exc).__name__}: {exc})"


def _back_detail(down_ms: int, recovered: int) -> str:
    trades = f"{recovered} trades printed meanwhile recovered by REST; " if recovered else ""
    return (
        f"{RECONNECTED} after {down_ms / 1000:.1f} s; {trades}book, mark price and liquidation "
        "updates sent meanwhile are not replayed by Binance (the next update replaces them)"
    )


def _wall_ms() -> int:
    return int(_time.time() * 1000)
