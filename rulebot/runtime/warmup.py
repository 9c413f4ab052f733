"""Warm indicators from Binance's klines at start, so that a restart does not begin cold.

An EMA(55) on 15m candles needs 55 closed candles, ~14 h, before rules that read it can fire;
a bot that restarts (a deploy, a crash, a reload of the machine) would trade blind that long.
Before the first event, each symbol's timeframes are fetched from REST `klines` (closed candles
only: Binance's last row is the candle still forming) and fed into the engine's history and
indicators, where no rule runs on them (freqtrade's `startup_candle_count` does the same).

The first candle of each timeframe after the start is still built from the trades seen since
the start (its close is right; its open, high, low and volume cover only that part).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from rulebot.binance.payloads.market_data import parse_klines
from rulebot.core.events import CandleClosed
from rulebot.engine.candle_history import backfill
from rulebot.engine.candles import timeframe_ms
from rulebot.engine.engine import Engine

# symbol, timeframe, how many closed candles (the newest) -> those candles, oldest first
Fetch = Callable[[str, str, int], Awaitable[Sequence[CandleClosed]]]
PAGE = 1000  # klines per request: weight 5 (1,500 would cost 10)
CONVERGE = 3  # candles fetched per candle of warm-up: an EMA seeded N candles back still remembers its seed


class KlinesApi(Protocol):
    def now_ms(self) -> int: ...

    async def klines(
        self, symbol: str, interval: str, start: int | None = None, end: int | None = None, limit: int = 500
    ) -> Any: ...


def klines_fetch(rest: KlinesApi) -> Fetch:
    """A `Fetch` over REST `klines`, paged, with the candle still forming dropped."""

    async def fetch(symbol: str, timeframe: str, count: int) -> Sequence[CandleClosed]:
        span = timeframe_ms(timeframe)
        now = rest.now_ms()
        start = (now // span - count) * span
        out: list[CandleClosed] = []
        while start < now:
            rows = await rest.klines(symbol, timeframe, start, None, limit=PAGE)
            page = parse_klines(rows, symbol, timeframe, server_time=now)
            page = tuple(c for c in page if not out or c.open_time > out[-1].open_time)
            if not page:
                break
            out.extend(page)
            if len(rows) < PAGE:
                break  # the last page: nothing newer is closed yet
            start = page[-1].close_time + 1
        return out[-count:]

    return fetch


async def warm_up(engine: Engine, fetch: Fetch, max_candles: int) -> list[str]:
    """Fetch and feed what each symbol's indicators need; what happened, one line a symbol."""
    notes: list[str] = []
    for symbol, market in engine.markets().items():
        taken: list[str] = []
        for tf, need in sorted(market.warmup_needs().items(), key=lambda kv: timeframe_ms(kv[0])):
            count = min(max_candles, max(need, CONVERGE * need))
            try:
                candles = list(await fetch(symbol, tf, count))
            except Exception as exc:  # whatever REST did, the bot can still start (cold) and say so
                taken.append(f"{tf}: none ({type(exc).__name__}: {exc}; indicators start cold)")
                continue
            n = engine.warm(symbol, candles)
            short = " (fewer than needed: Binance has no more)" if n < need else ""
            taken.append(f"{tf}: {n} candles{short}")
        cold = [name for name, w in market.warmup().items() if not w["ready"]]
        still = f"; not ready yet: {', '.join(cold)}" if cold else "; every indicator ready"
        notes.append(f"{symbol} warmed from REST klines: {', '.join(taken)}{still}")
    return notes


async def warm_reloaded(engine: Engine, fetch: Fetch, max_candles: int) -> list[str]:
    """After a hot reload: a timeframe whose kept candles are fewer than a start on the new
    rulebook fetches (an indicator lengthened, a timeframe added) gets the older ones from REST
    and its indicators are re-warmed from them all. Re-warmed from the few the old rulebook needed,
    a longer EMA is ready but still near its seed: its first decisions would run on a value a
    restart would not give. What happened, one line a symbol that needed any."""
    notes: list[str] = []
    for symbol, market in engine.markets().items():
        taken: list[str] = []
        for tf, need in sorted(market.warmup_needs().items(), key=lambda kv: timeframe_ms(kv[0])):
            want = min(max_candles, max(need, CONVERGE * need))
            have = len(market.history.get(tf, ()))
            if have >= want:
                continue
            try:  # the reload is taken already: whatever REST does, it is said, not raised
                n = backfill(market, list(await fetch(symbol, tf, want)))
            except Exception as exc:
                taken.append(f"{tf}: none ({type(exc).__name__}: {exc}; re-warmed from the {have} kept)")
                continue
            engine.rules.remember_closed(symbol, tf)
            taken.append(f"{tf}: {n} older candles before the {have} kept")
        if taken:
            cold = [name for name, w in market.warmup().items() if not w["ready"]]
            still = f"; not ready yet: {', '.join(cold)}" if cold else "; every indicator ready"
            notes.append(f"reload: {symbol} warmed from REST klines: {', '.join(taken)}{still}")
    return notes
