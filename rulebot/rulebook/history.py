"""How much history each indicator (and each look-back `x[n]`) needs before rules can read it.

An EMA(55) of 15-minute closes is not ready until 55 candles have closed: 13h 45m. A rule that
reads it cannot fire before, and in data shorter than that it can never fire. `validate
--explain` shows these needs, a backtest warms them on the data before `--from` and says in its
summary whether the data had them (backtest/warmup.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rulebot.rulebook.compiled import CompiledRulebook

_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_LOOKBACK = re.compile(r"(.+)\[(\d+)\]")  # "range_high[1]", "close@1h[3]" (engine/env.py reads the same)


def timeframe_ms(tf: str) -> int:
    """`15m` → 900000 (the compiler accepted the timeframe already)."""
    return int(tf[:-1]) * _UNIT_MS[tf[-1]]


@dataclass(frozen=True, slots=True)
class HistoryNeed:
    """`name` is ready after `candles` closed candles of `timeframe` (`ms` of them).

    For an indicator this is its warm-up through the whole chain (sma(vol, 240) over a 30-candle
    stdev needs 269); a look-back `x[n]` needs n candles more than `x`. `rules` read it, in the
    condition or in an action (a size, a price)."""

    name: str
    timeframe: str
    candles: int
    rules: tuple[str, ...]

    @property
    def ms(self) -> int:
        return self.candles * timeframe_ms(self.timeframe)


def history_needs(book: CompiledRulebook) -> tuple[HistoryNeed, ...]:
    """Every indicator in update order, then every look-back a rule reads, with who reads it."""
    readers: dict[str, set[str]] = {}
    for rule in book.rules:
        for name in rule.reads:
            readers.setdefault(name, set()).add(rule.name)
            if m := _LOOKBACK.fullmatch(name):  # a rule that reads x[1] waits for x as well
                readers.setdefault(m.group(1), set()).add(rule.name)

    def read_by(*names: str) -> tuple[str, ...]:
        return tuple(sorted({r for n in names for r in readers.get(n, ())}))

    out: list[HistoryNeed] = []
    need_of: dict[str, tuple[str, int]] = {}  # a key a rule reads → (timeframe, candles)
    for ind in book.indicators:
        keys = (ind.name, *(f"{ind.name}.{o}" for o in ind.outputs))
        for key in keys:
            need_of[key] = (ind.timeframe, ind.total_warmup)
        out.append(HistoryNeed(ind.name, ind.timeframe, ind.total_warmup, read_by(*keys)))
    for tf in book.timeframes:
        for field in ("open", "high", "low", "close", "volume"):
            need_of[f"{field}@{tf}"] = (tf, 1)
        need_of[f"returns@{tf}"] = (tf, 2)  # a return reads the close before
    for name in sorted(n for n in readers if _LOOKBACK.fullmatch(n)):
        m = _LOOKBACK.fullmatch(name)
        if m is None or m.group(1) not in need_of:
            continue
        tf, base = need_of[m.group(1)]
        out.append(HistoryNeed(name, tf, base + int(m.group(2)), read_by(name)))
    return tuple(out)


def duration_text(ms: int) -> str:
    """`13h 45m`, `2d 3h`, `45m`: a warm-up span people read (seconds only when there are any)."""
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        n, ms = divmod(ms, size)
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts) or "0m"
