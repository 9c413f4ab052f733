"""Holes in the candle data, found as the candles go by and said in the summary.

A backtest replays whatever candles the files hold: a missing day (a file not downloaded, an
archive hole, a 1m file that holds every fifth minute) is crossed as if the candles on either
side were adjacent. Indicators and rules then run on a price history that never happened, and
nothing else tells the user. A gap is a candle whose open time is later than one millisecond
after the close of the one before it in the same series (symbol and timeframe).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Gap:
    """The gaps of one series: how many, the longest and where it starts."""

    series: str  # "SYMBOL timeframe"
    count: int
    longest_ms: int
    longest_from: int  # epoch ms of the first missing moment


class GapWatch:
    """Fed every closed candle of the replay in time order; `report` lists the series with gaps."""

    __slots__ = ("_gaps", "_last")

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}  # series -> close time of its last candle
        self._gaps: dict[tuple[str, str], list[int]] = {}  # series -> [count, longest, longest_from]

    def see(self, symbol: str, timeframe: str, open_time: int, close_time: int) -> None:
        key = (symbol, timeframe)
        last = self._last.get(key)
        self._last[key] = close_time
        if last is None or open_time <= last + 1:
            return
        missing = open_time - (last + 1)
        found = self._gaps.get(key)
        if found is None:
            self._gaps[key] = [1, missing, last + 1]
            return
        found[0] += 1
        if missing > found[1]:
            found[1], found[2] = missing, last + 1

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
    return tuple(
        f"{g.series} candles: {g.count} gap(s) in the data, the longest {_span(g.longest_ms)} from "
        f"{datetime.fromtimestamp(g.longest_from / 1000, UTC):%Y-%m-%d %H:%M}; rules and indicators ran "
        "across them as if the candles were adjacent"
        for g in gaps
    )
