"""The tallies fed a run of moving values at once (tally_runs.py) and the chart series fed a run of rows
at once (Thinned.add_run) leave exactly what feeding them sample by sample leaves: after any
history, across hours, days and months, with equal values apart in their exponent (the earlier
one kept), peaks at or below zero, falls, recoveries. Decimals are compared by repr.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest.candle_series import Block
from rulebot.backtest.tally import CurveTally
from rulebot.backtest.tally_runs import curve_rows, curve_run, price_run, symbol_rows, symbol_run
from rulebot.backtest.thinned import Thinned
from rulebot.feeds.kline_chunks import KlineChunk
from rulebot.feeds.replay import ReplaySource
from tests.backtest.test_candle_runs import deep
from tests.feeds.test_replay_batches import _write

DAY_MS = 86_400_000
# Values near each other, some equal but for the exponent (5, 5.0, 5.00), some at or below zero.
values = st.builds(lambda n, e: Decimal(n * 10**e).scaleb(-e), st.integers(-4, 6), st.integers(0, 2))
steps = st.one_of(st.integers(1, 120_000), st.integers(1, 2 * DAY_MS), st.integers(1, 40 * DAY_MS))
points = st.lists(st.tuples(steps, values, values, st.booleans()), max_size=60)
# Decimals of at most 15 significant digits (with trailing zeros), near each other or far apart.
exact = st.builds(
    lambda n, e: Decimal(n).scaleb(e),
    st.one_of(st.integers(1, 10**15 - 1), st.integers(10**14 - 50, 10**14 + 50)),
    st.integers(-30, 30),
)


@settings(max_examples=300, deadline=None)
@given(before=points, run=points, held=st.booleans(), position=values)
def test_a_run_fed_at_once_is_the_run_fed_sample_by_sample(
    before: list[tuple[int, Decimal, Decimal, bool]],
    run: list[tuple[int, Decimal, Decimal, bool]],
    held: bool,
    position: Decimal,
) -> None:
    one, bulk = CurveTally(Decimal(3)), CurveTally(Decimal(3))
    for tally in (one, bulk):
        tally.symbol("X"), tally.price("X")
    t = 1_700_000_000_000
    for step, equity, pnl, was_held in before:
        t += step
        for tally in (one, bulk):
            tally.add(t, equity, was_held)
            tally.symbol("X").add(t, Decimal(int(was_held)), pnl)
            tally.price("X").add(pnl)
    times = []
    for step, *_ in run:
        t += step
        times.append(t)
    equities, pnls = [e for _, e, _, _ in run], [p for _, _, p, _ in run]
    for at, equity, pnl in zip(times, equities, pnls, strict=True):
        one.add(at, equity, held)
        one.symbol("X").add(at, position, pnl)
        one.price("X").add(pnl)
    curve_run(bulk, times, equities, held)
    symbol_run(bulk.symbol("X"), times, position, pnls)
    price_run(bulk.price("X"), pnls)
    assert deep(bulk) == deep(one)


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(st.tuples(values, st.one_of(st.none(), values)), max_size=40),
    run=st.lists(st.tuples(values, values), max_size=80),
    buckets=st.integers(1, 5),
    ordered=st.booleans(),
)
def test_rows_fed_to_the_chart_series_at_once_are_the_rows_fed_one_by_one(
    before: list[tuple[Decimal, Decimal | None]], run: list[tuple[Decimal, Decimal]], buckets: int, ordered: bool
) -> None:
    one, bulk = Thinned(buckets), Thinned(buckets)
    for n, keys in enumerate(before):
        for series in (one, bulk):
            series.add(("before", n), keys)
    rows = [("run", n) for n in range(len(run))]
    for row, keys in zip(rows, run, strict=True):
        one.add(row, keys)
    made: list[int] = []
    firsts, seconds = [a for a, _ in run], [b for _, b in run]
    # The second key with its floats (these values' floats order them exactly), when `ordered`.
    orders = (None, np.array([float(b) for b in seconds])) if ordered else ()
    bulk.add_run(len(rows), lambda j: made.append(j) or rows[j], (firsts, seconds), orders)
    assert deep(bulk) == deep(one)
    assert deep(bulk.rows()) == deep(one.rows())
    assert len(made) == len(set(made))  # each kept row made once


@settings(max_examples=300, deadline=None)
@given(a=exact, b=exact)
def test_floats_order_decimals_of_at_most_15_digits_exactly(a: Decimal, b: Decimal) -> None:
    """What Thinned.add_run's floats stand on (Block.close_order, KlineChunk.closes_ordered): two
    Decimals of at most 15 significant digits in a normal float's range compare as their floats do."""
    fa, fb = float(a), float(b)
    assert (fa < fb, fa == fb, fa > fb) == (a < b, a == b, a > b)


def test_a_chunk_whose_close_texts_may_share_a_float_has_no_close_order(tmp_path: Path) -> None:
    row = "{o},{c},{c},{c},{c},1.5,{t},150,3,0.5,50,0"
    for close, ordered in [("60000.1", True), ("0.30000000000000004", False), ("6.00001E+4", False)]:
        folder = tmp_path / str(ordered) / close
        _write(folder, 1, [row.format(o=1_748_736_000_000, c=close, t=1_748_736_059_999)], True, False)
        (chunk,) = list(_chunks(folder))
        assert chunk.closes_ordered is ordered
        assert (Block(chunk).close_order is not None) is ordered


def _chunks(folder: Path) -> list[KlineChunk]:
    source = ReplaySource(folder)
    source.kline_chunks = True
    return list(source)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(before=points, run=points, positions=st.lists(values, min_size=60, max_size=60))
def test_samples_fed_in_a_batch_are_the_samples_fed_one_by_one(
    before: list[tuple[int, Decimal, Decimal, bool]],
    run: list[tuple[int, Decimal, Decimal, bool]],
    positions: list[Decimal],
) -> None:
    # The sampler's own samples (held or not, position and PnL moving at each), fed in a batch.
    one, bulk = CurveTally(Decimal(3)), CurveTally(Decimal(3))
    for tally in (one, bulk):
        tally.symbol("X"), tally.price("X")
    t = 1_700_000_000_000
    for step, equity, pnl, was_held in before:
        t += step
        for tally in (one, bulk):
            tally.add(t, equity, was_held)
            tally.symbol("X").add(t, Decimal(int(was_held)), pnl)
    times = []
    for step, *_ in run:
        t += step
        times.append(t)
    equities, pnls, helds = [e for _, e, _, _ in run], [p for _, _, p, _ in run], [h for *_, h in run]
    for at, equity, pnl, held, position in zip(times, equities, pnls, helds, positions, strict=False):
        one.add(at, equity, held)
        one.symbol("X").add(at, position, pnl)
    curve_rows(bulk, times, equities, helds)
    symbol_rows(bulk.symbol("X"), times, positions[: len(times)], pnls)
    assert deep(bulk) == deep(one)
