"""Holes in the candle data, found as the candles go by and said in the summary.

A backtest replays whatever candles the files hold: a missing day (a file not downloaded, an
archive hole, a 1m file that holds every fifth minute) is crossed as if the candles on either
side were adjacent. Indicators and rules then run on a price history that never happened, and
nothing else tells the user. A gap is a candle whose open time is later than one millisecond
after the close of the one before it in the same series (symbol and timeframe), or, in trade
data, more than an hour without a trade of the symbol (quiet markets pause; not for an hour).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rulebot.engine.market import SymbolMarket

TRADE_PAUSE_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Gap:
    """The gaps of one series: how many, the longest and where it starts."""

    series: str  # "SYMBOL timeframe"
    count: int
    longest_ms: int
    longest_from: int  # epoch ms of the first missing moment


class GapWatch:
    """Fed every closed candle of the replay in time order, the warm-up's before `--from` included
    (indicators are warmed across a gap there too); `report` lists the series with gaps and
    `missing_before` how much of the data before `cutoff` (the start of trading) is missing."""

    __slots__ = ("_before", "_cutoff", "_gaps", "_last", "_last_trade")

    def __init__(self, cutoff: int | None = None) -> None:
        self._last: dict[tuple[str, str], int] = {}  # series -> close time of its last candle
        self._last_trade: dict[str, int] = {}  # symbol -> time of its last trade (one a trade: no key to build)
        self._gaps: dict[tuple[str, str], list[int]] = {}  # series -> [count, longest, longest_from]
        self._cutoff = cutoff
        self._before: dict[tuple[str, str], int] = {}  # series -> ms missing before the cutoff

    def missing_before(self) -> int:
        """The most time missing before the cutoff in any one series (ms; 0 without a cutoff)."""
        return max(self._before.values(), default=0)

    def see(self, symbol: str, timeframe: str, open_time: int, close_time: int) -> None:
        key = (symbol, timeframe)
        last = self._last.get(key)
        self._last[key] = close_time
        if last is not None and open_time > last + 1:
            self._note(key, open_time - (last + 1), last + 1)

    def trade(self, symbol: str, time: int) -> None:
        """A trade (or aggregate trade) of `symbol` at `time`."""
        last = self._last_trade.get(symbol)
        self._last_trade[symbol] = time
        if last is not None and time - last > TRADE_PAUSE_MS:
            self._note((symbol, "trades"), time - last - 1, last + 1)

    def _note(self, key: tuple[str, str], missing: int, start: int) -> None:
        cutoff = self._cutoff
        if cutoff is not None and start < cutoff:
            self._before[key] = self._before.get(key, 0) + min(missing, cutoff - start)
        found = self._gaps.get(key)
        if found is None:
            self._gaps[key] = [1, missing, start]
            return
        found[0] += 1
        if missing > found[1]:
            found[1], found[2] = missing, start

    def report(self) -> tuple[Gap, ...]:
        return tuple(Gap(f"{s} {tf}", n, longest, at) for (s, tf), (n, longest, at) in sorted(self._gaps.items()))


def _span(ms: int) -> str:
    minutes = ms // 60_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{mins}m"] * bool(mins)
    return " ".join(parts) or f"{ms / 1000:g}s"


def gap_warnings(gaps: tuple[Gap, ...]) -> tuple[str, ...]:
    """The summary's warning lines, one per series with gaps."""
    out = []
    for g in gaps:
        when = f"{datetime.fromtimestamp(g.longest_from / 1000, UTC):%Y-%m-%d %H:%M}"
        if g.series.endswith(" trades"):
            out.append(
                f"{g.series}: {g.count} pause(s) of more than an hour in the data, the longest {_span(g.longest_ms)} "
                f"from {when}; positions, rules and indicators ran across them as if the trades were adjacent"
            )
        else:
            out.append(
                f"{g.series} candles: {g.count} gap(s) in the data, the longest {_span(g.longest_ms)} from {when}; "
                "rules and indicators ran across them as if the candles were adjacent"
            )
    return tuple(out)


def partial_first_candles(markets: Mapping[str, SymbolMarket]) -> tuple[str, ...]:
    """The summary's notes on the first candles of longer timeframes that the data starts inside:
    not closed (engine/candles.py), one note a symbol and timeframe."""
    out = []
    for symbol, market in sorted(markets.items()):
        for tf, builder in market.builders.items():
            if builder.skipped is not None:
                bucket, data = (f"{datetime.fromtimestamp(t / 1000, UTC):%Y-%m-%d %H:%M}" for t in builder.skipped)
                out.append(
                    f"{symbol} {tf}: the first candle was partial (the data starts at {data}, inside its bucket "
                    f"from {bucket}) and is skipped: no rule closes on it and no indicator takes it"
                )
    return tuple(out)
