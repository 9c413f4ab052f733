"""Fills, markers, guard events and trades packed (packed.py, issue 14): what goes in comes back
to the digit (a Decimal's exponent and sign included), and the packed sequence answers as the
list of the same items would, across batch boundaries."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest import packed as packed_module
from rulebot.backtest.result import (
    BacktestResult,
    FillRecord,
    GuardEvent,
    Marker,
    packed_fills,
    packed_guard_events,
    packed_markers,
)
from rulebot.backtest.stats import compute_stats, round_trips

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-(10**9), max_value=10**9)
texts = st.text(max_size=12)  # any text: tabs, newlines, quotes, non-ASCII

fills = st.builds(
    FillRecord,
    st.integers(0, 2**62),
    texts,
    st.sampled_from(["BUY", "SELL"]),
    decimals,
    decimals,
    decimals,
    decimals,
    st.booleans(),
    texts,
    texts,
    texts,
)


def exact(d: Decimal) -> tuple[object, ...]:
    return d.as_tuple()  # sign, digits and exponent: 1.0 and 1.00 differ here


@settings(max_examples=40, deadline=None)
@given(items=st.lists(fills, max_size=40), batch=st.integers(1, 7))
def test_packed_fills_come_back_exactly_and_answer_as_a_list(items: list[FillRecord], batch: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(packed_module, "BATCH", batch)
        log = packed_fills()
        for f in items:
            log.append(f)
        back = list(log)
        assert back == items and log == items and items == log and len(log) == len(items)
        for a, b in zip(back, items, strict=True):
            assert [exact(x) for x in (a.quantity, a.price, a.fee, a.realized_pnl)] == [
                exact(x) for x in (b.quantity, b.price, b.fee, b.realized_pnl)
            ]
        for i in range(-len(items), len(items)):
            assert log[i] == items[i]
        assert log[1:5] == items[1:5] and log[::-2] == items[::-2]
        with pytest.raises(IndexError):
            log[len(items)]
        assert pickle.loads(pickle.dumps(log)) == items
        assert bool(log) == bool(items) and (log != [*items, None]) and log != "text"


def test_markers_and_guard_events_come_back() -> None:
    markers = packed_markers()
    guards = packed_guard_events()
    m = [Marker(n, Decimal(f"6000{n}.10"), "entry", f"entry BUY 0.0{n}", "BTCUSDT") for n in range(3000)]
    g = [GuardEvent(n, "max_position", "resize", f"too big {n}", "go", "ETHUSDT") for n in range(3000)]
    for a, b in zip(m, g, strict=True):
        markers.append(a)
        guards.append(b)
    assert list(markers) == m and list(guards) == g and str(markers[-1].price) == "60002999.10"


signed_fills = st.builds(
    lambda t, side, qty, price, fee, pnl, purpose: FillRecord(
        t, "BTCUSDT", side, qty, price, fee, pnl, purpose != "entry", purpose, "r", f"c{t}"
    ),
    st.integers(0, 10**6),
    st.sampled_from(["BUY", "SELL"]),
    st.decimals(min_value=Decimal("0.001"), max_value=5, places=3),
    st.decimals(min_value=1, max_value=100_000, places=2),
    st.decimals(min_value=0, max_value=5, places=8),
    st.decimals(min_value=-1000, max_value=1000, places=8),
    st.sampled_from(["entry", "exit", "stop_loss"]),
)


@settings(max_examples=40, deadline=None)
@given(items=st.lists(signed_fills, max_size=30))
def test_the_streamed_summary_numbers_are_those_of_the_lists(items: list[FillRecord]) -> None:
    """compute_stats adds the closed trades up as they stream by: the same Decimals, exponent
    included, as the sums, max and min over the list of them."""
    items.sort(key=lambda f: f.time)
    r = BacktestResult("t", "v", "BTCUSDT", "USDT", 0, 10**6, Decimal(1000), 1)
    r.fills = items
    r.end_equity = Decimal(1000)
    stats = compute_stats(r)
    trades = round_trips(items, None)
    closed = [t.net_pnl for t in trades if not t.is_open]
    won, lost = [p for p in closed if p > 0], [p for p in closed if p <= 0]
    assert list(stats.trades) == trades and stats.closed == len(closed)
    assert (stats.wins, stats.losses) == (len(won), len(lost))
    if closed:
        assert exact(stats.average_trade) == exact(sum(closed, Decimal(0)) / len(closed))  # type: ignore[arg-type]
        assert exact(stats.best_trade) == exact(max(closed))  # type: ignore[arg-type]
        assert exact(stats.worst_trade) == exact(min(closed))  # type: ignore[arg-type]
    if sum(lost, Decimal(0)) < 0:
        assert exact(stats.profit_factor) == exact(sum(won, Decimal(0)) / -sum(lost, Decimal(0)))  # type: ignore[arg-type]
    assert exact(stats.gross_realized) == exact(sum((f.realized_pnl for f in items), Decimal(0)))
    assert exact(stats.fees) == exact(sum((f.fee for f in items), Decimal(0)))
