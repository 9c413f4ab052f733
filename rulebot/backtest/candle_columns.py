"""A window's columns by env name, for the candle array path's screen (candle_runs.py): what each
candle of the window leaves in the env, as arrays, and the prev values a dispatch compares."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from rulebot.backtest.candle_series import Block, Series
from rulebot.engine.env import ACCOUNT_NAMES
from rulebot.engine.market import SymbolMarket
from rulebot.rulebook.expr import PREV_PREFIX

_EXACT = float(1 << 53)  # whole numbers below this are floats exactly, and so are their sums
# Env names that move with the clock or the account within a run: never read as constants.
MOVING = frozenset({"time", "hour", "weekday", "next_funding_in", "state"}) | ACCOUNT_NAMES


def window_columns(
    market: SymbolMarket,
    tf: str,
    publish: bool,
    b: Block,
    i: int,
    k: int,
    series: Series,
    reads: frozenset[str],
    drawn: Iterable[str],
) -> dict[str, np.ndarray]:
    """The window's columns by env name: the candle's values (`publish`: `tf` is a timeframe of the
    book), the price and its followers, the indicators of its timeframe; every other name a rule
    reads, constant over the run. Only the ones the state's rules read (their conditions, their prev
    values) or the chart draws are made: the others were arrays built at every window for nothing
    (the EMA bench reads 2 of 13)."""
    tick, n = market.tick, k - i
    drawn = tuple(drawn)
    close = b.close_np[i:k]
    cols: dict[str, np.ndarray] = {"price": close, "mark_price": close, "index_price": close}
    if "bid" in reads or "bid" in drawn:
        cols["bid"] = ticks_away(close, tick, -1)
    if "ask" in reads or "ask" in drawn:
        cols["ask"] = ticks_away(close, tick, 1)
    if publish:
        cols[f"open@{tf}"], cols[f"high@{tf}"], cols[f"low@{tf}"] = b.open_np[i:k], b.high_np[i:k], b.low_np[i:k]
        cols[f"close@{tf}"], cols[f"volume@{tf}"] = close, b.volume_np[i:k]
        key = f"returns@{tf}"
        if key in reads or key in drawn:
            cols[key] = np.array(series._window.cols[key])
    for key, vals in series.values.items():
        if key in reads or key in drawn:
            cols[key] = np.array(vals)
    env = market.env
    for name in reads:
        if name not in cols and name not in MOVING:
            value = env.get(name)
            if type(value) is float or type(value) is int:
                cols[name] = np.full(n, float(value))
    for name in drawn:
        if name not in cols:
            cols[name] = np.full(n, env.get(name, math.nan))
    return cols


def ticks_away(close: np.ndarray, tick: Decimal, sign: int) -> np.ndarray:
    """The synthetic book's side, as the engine's env holds it: float(close + sign * tick), the float
    of the exact Decimal price (engine/market.py). With a tick of m / 10**k and closes on its grid,
    close * 10**k is a whole number n below 2**53 and (n + sign * m) / 10**k is one correctly rounded
    division: the nearest float to that price, as float(Decimal) is. Else each one through Decimal."""
    exp = tick.as_tuple().exponent
    k = max(0, -exp) if isinstance(exp, int) else 0
    scale, m = 10.0**k, float(tick.scaleb(k))
    n = np.rint(close * scale)
    if k <= 22 and m.is_integer() and bool(np.all(n / scale == close)) and float(np.abs(n).max(initial=0)) + m < _EXACT:
        return (n + sign * m) / scale
    return np.array([float(Decimal(repr(c)) + sign * tick) for c in close.tolist()])


def with_prev(cols: dict[str, np.ndarray], names: Iterable[str], snapshot: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """`cols` with the prev values of a dispatch's `names`: the value at the candle before, and at
    the first, the dispatch's `snapshot` (`snapshot.get(n, env.get(n))` as the dispatch reads it)."""
    names = tuple(names)
    if not names:
        return cols
    out = dict(cols)
    for name in names:
        col = cols.get(name)
        if col is not None:
            first = snapshot[name] if name in snapshot else col[0]
            if isinstance(first, float):  # a float or a float64: written in place, not concatenated
                shifted = np.empty(len(col))
                shifted[0], shifted[1:] = first, col[:-1]
                out[PREV_PREFIX + name] = shifted
            else:
                out[PREV_PREFIX + name] = np.concatenate(([first], col[:-1]))
    return out


def values(cols: dict[str, np.ndarray], name: str, n: int) -> list[float]:
    """The first n values of a column as floats (tolist of the float64 column: float(v) of each
    element in one call, issue 14)."""
    return cols[name][:n].astype(np.float64, copy=False).tolist()  # type: ignore[no-any-return]
