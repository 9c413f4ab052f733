"""The tallies fed a run of moving values at once (tally_runs.py) and the chart series fed a run of rows
at once (Thinned.add_run) leave exactly what feeding them sample by sample leaves: after any
history, across hours, days and months, with equal values apart in their exponent (the earlier
one kept), peaks at or below zero, falls, recoveries. Decimals are compared by repr.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest.tally import CurveTally
from rulebot.backtest.tally_runs import curve_run, price_run, symbol_run
from rulebot.backtest.thinned import Thinned
from tests.backtest.test_candle_runs import deep

DAY_MS = 86_400_000
# Values near each other, some equal but for the exponent (5, 5.0, 5.00), some at or below zero.
values = st.builds(lambda n, e: Decimal(n * 10**e).scaleb(-e), st.integers(-4, 6), st.integers(0, 2))
steps = st.one_of(st.integers(1, 120_000), st.integers(1, 2 * DAY_MS), st.integers(1, 40 * DAY_MS))
points = st.lists(st.tuples(steps, values, values, st.booleans()), max_size=60)


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
)
def test_rows_fed_to_the_chart_series_at_once_are_the_rows_fed_one_by_one(
    before: list[tuple[Decimal, Decimal | None]], run: list[tuple[Decimal, Decimal]], buckets: int
) -> None:
    one, bulk = Thinned(buckets), Thinned(buckets)
    for n, keys in enumerate(before):
        for series in (one, bulk):
            series.add(("before", n), keys)
    rows = [("run", n) for n in range(len(run))]
    for row, keys in zip(rows, run, strict=True):
        one.add(row, keys)
    made: list[int] = []
    bulk.add_run(len(rows), lambda j: made.append(j) or rows[j], ([a for a, _ in run], [b for _, b in run]))
    assert deep(bulk) == deep(one)
    assert deep(bulk.rows()) == deep(one.rows())
    assert len(made) == len(set(made))  # each kept row made once
