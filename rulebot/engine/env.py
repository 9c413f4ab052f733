"""The values conditions read, per symbol: market values, candle series, indicators, look-back
slots (`x[n]`), parameters, the rule state, and the account values filled on first read.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rulebot.engine.signals import IndicatorRuntime

ACCOUNT_NAMES = frozenset(
    {
        "position.side",
        "position.size",
        "entry_price",
        "upnl",
        "roe",
        "liq_price",
        "leverage",
        "margin",
        "equity",
        "available",
        "daily_pnl",
    }
)


# The account values of the symbol's own position alone (AccountValues.position): no sum over the
# account's positions. `leverage` (notional / equity) needs that sum.
POSITION_NAMES = frozenset({"position.side", "position.size", "entry_price", "upnl", "roe", "liq_price", "margin"})


class Env(dict[str, Any]):
    """The values conditions read. Account and position values are filled on first read.

    Most conditions short-circuit before they reach `upnl` or `equity`; computing those at
    mark price for every trade would cost more than the whole rest of an event. A plain dict
    subclass keeps reads of present keys at C speed; only a miss calls `__missing__`. A read of
    a position value fills those (`resolve_position`), one of the account's fills them all.
    """

    resolve: Callable[[Env], None] | None = None
    resolve_position: Callable[[Env], None] | None = None
    # The account values the env holds (ACCOUNT_ORDER or POSITION_ORDER; empty: none), which the
    # resolvers set: what the next event forgets.
    filled: tuple[str, ...] = ()

    def __missing__(self, key: str) -> Any:
        if key in ACCOUNT_NAMES and self.resolve is not None:
            if key in POSITION_NAMES and self.resolve_position is not None:
                self.resolve_position(self)
            else:
                self.resolve(self)
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def forget_account(self) -> None:
        """Drop account values: the next read recomputes them for the new moment."""
        if self.filled:
            pop = self.pop
            for name in self.filled:
                pop(name, None)
            self.filled = ()


# Tuples iterate faster, on every event after a read.
ACCOUNT_ORDER = tuple(sorted(ACCOUNT_NAMES))
POSITION_ORDER = tuple(sorted(POSITION_NAMES))
MARKET_NAMES = ("price", "bid", "ask", "mark_price", "index_price", "funding_rate", "next_funding_in")
_LOOKBACK = re.compile(r"(.+)\[(\d+)\]")  # a look-back slot a rule reads: "close@1h[1]", "atr[3]"


def plan_lookbacks(
    read: set[str], indicators: IndicatorRuntime, tf_ms: Mapping[str, int], env: Env, not_ready: set[str]
) -> dict[str, list[tuple[str, deque[float], tuple[tuple[int, str], ...]]]]:
    """timeframe → (name, its last values, the look-backs read with their env names) for every
    `x[n]` a rule reads (the names built once, not on every candle).

    x[n] is x as it was n closed candles of x's timeframe ago: the value is kept when such a
    candle closes (after the indicators took it), so a look-back never moves within a candle."""
    wanted: dict[str, set[int]] = {}
    for name in read:
        m = _LOOKBACK.fullmatch(name)
        if m:
            wanted.setdefault(m.group(1), set()).add(int(m.group(2)))
    tf_of = {key: lv.timeframe for lv in indicators.live for key in lv.keys}
    plan: dict[str, list[tuple[str, deque[float], tuple[tuple[int, str], ...]]]] = {}
    for base, ns in sorted(wanted.items()):
        tf = tf_of.get(base) or base.partition("@")[2]
        if tf not in tf_ms:
            continue  # the checker accepts only series and indicators; nothing else has candles
        slots = tuple((n, f"{base}[{n}]") for n in sorted(ns))
        plan.setdefault(tf, []).append((base, deque(maxlen=max(ns) + 1), slots))
        for n in ns:
            env[f"{base}[{n}]"] = math.nan
            not_ready.add(f"{base}[{n}]")
    return plan
