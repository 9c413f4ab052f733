"""CandleHistory: runs kept as columns and made when read leave the very deque that appending
every candle as it closes leaves (the candle array path's jumped runs against stepping them)."""

from __future__ import annotations

import pickle
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rulebot.core.events import CandleClosed
from rulebot.engine.candle_history import CandleHistory, backfill
from rulebot.engine.candles import Candle
from rulebot.engine.market import SymbolMarket
from rulebot.rulebook.compiler import compile_text

from .test_reload import BASE


@dataclass
class Columns:
    """A block of candles as lists, as backtest/candle_series.Block holds them."""

    open_time: list[int] = field(default_factory=list)
    close_time_list: list[int] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    high_list: list[float] = field(default_factory=list)
    low_list: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    volume: list[float] = field(default_factory=list)


def block(first: int, n: int) -> Columns:
    b = Columns()
    for j in range(first, first + n):
        b.open_time.append(j * 60_000)
        b.close_time_list.append(j * 60_000 + 59_999)
        b.open.append(100.0 + j)
        b.high_list.append(101.5 + j)
        b.low_list.append(99.25 + j)
        b.close.append(100.5 + j)
        b.volume.append(float(j % 7))
    return b


def candle(b: Columns, tf: str, j: int) -> Candle:
    return Candle(
        tf, b.open_time[j], b.close_time_list[j], b.open[j], b.high_list[j], b.low_list[j], b.close[j], b.volume[j]
    )


# One step: a stepped candle (n = 0), a jumped run of n candles, or a read of the history.
steps = st.lists(
    st.tuples(st.sampled_from(["add", "run", "read"]), st.sampled_from(["1m", "5m"]), st.integers(0, 12)),
    max_size=60,
)


@given(steps=steps, maxlen=st.integers(1, 9))
def test_runs_made_when_read_leave_what_appending_each_candle_leaves(
    steps: list[tuple[str, str, int]], maxlen: int
) -> None:
    history = CandleHistory(["1m", "5m"], maxlen)
    reference = {tf: deque[Candle](maxlen=maxlen) for tf in ("1m", "5m")}
    made = 0
    for what, tf, n in steps:
        if what == "read":
            assert history[tf] == reference[tf]
            continue
        b = block(made, n + 3)
        made += n + 3
        if what == "add":
            c = candle(b, tf, 1)
            history.add(tf, c)
            reference[tf].append(c)
        else:  # candles [1, 1 + n) of the block: a run, maybe empty
            history.add_run(tf, b, 1, 1 + n)
            reference[tf].extend(candle(b, tf, j) for j in range(1, 1 + n))
    assert dict(history.items()) == reference
    assert [list(h) for h in history.values()] == [list(reference[tf]) for tf in history]
    assert history.get("1m") == reference["1m"] and history.get("4h", ()) == ()


def test_nothing_is_made_until_read_and_only_what_is_kept() -> None:
    """A long run of a long block and a few stepped candles keep a few items, not a candle each; a
    read makes the last `maxlen` only."""
    history = CandleHistory(["1m"], 5)
    b = block(0, 10_000)
    history.add_run("1m", b, 0, 10_000)
    history.add("1m", candle(b, "1m", 9_999))
    history.add_run("1m", b, 0, 3)
    assert dict.__getitem__(history, "1m") == deque()  # nothing made yet
    assert len(history._pending["1m"]) == 3
    history.add_run("1m", b, 3, 9)  # six newer candles: the three items before are dropped unmade
    assert len(history._pending["1m"]) == 1
    assert list(history["1m"]) == [candle(b, "1m", j) for j in range(4, 9)]
    assert not history._pending


def test_a_history_taken_over_drops_what_was_pending_and_survives_pickling() -> None:
    history = CandleHistory(["1m"], 3)
    b = block(0, 4)
    history.add_run("1m", b, 0, 4)
    other = deque([candle(b, "1m", 0)], maxlen=3)
    history["1m"] = other  # a hot reload: the old market's history
    assert history["1m"] is other
    history.add_run("1m", b, 2, 4)
    copy = pickle.loads(pickle.dumps(history))
    assert list(copy["1m"]) == [candle(b, "1m", j) for j in (0, 2, 3)]


def _closed(prices: list[float], start: int = 0) -> list[CandleClosed]:
    return [
        CandleClosed("ADAUSDT", "1m", o, o + 59_999, *(Decimal(str(p)),) * 4, Decimal(1), Decimal(p), 1, Decimal(0))
        for o, p in ((start + i * 60_000, p) for i, p in enumerate(prices))
    ]


def test_a_backfill_puts_older_candles_in_front_and_rewarms_as_a_start_on_them_all_would():
    book = compile_text(BASE.replace("ema(close@1m, 3)", "ema(close@1m, 10)"))
    prices = [100.0 + (i % 5) * 3 for i in range(40)]
    market = SymbolMarket("ADAUSDT", book)
    market.warm(_closed(prices[-12:], 28 * 60_000))  # the few candles a reload found kept
    taken = backfill(market, _closed(prices))  # the last 12 again among them: not taken twice
    whole = SymbolMarket("ADAUSDT", book)
    whole.warm(_closed(prices))
    assert taken == 28 and [c.open_time for c in market.history["1m"]] == [i * 60_000 for i in range(40)]
    assert market.env["fast"] == whole.env["fast"] and "fast" not in market.not_ready
