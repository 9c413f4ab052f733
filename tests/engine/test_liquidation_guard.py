"""The liquidation-distance guard's float shortcut (engine/liquidation_guard.py `clearly_far`):
whenever it says an entry keeps the liquidation price far enough, the exact Decimal answer
(`distance_after`, Binance's formula over every bracket) says so too; and it says so for the
ordinary entry, or it would save nothing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import MarginType, Market
from rulebot.engine.liquidation_guard import Holding, _float_rows, clearly_far, distance_after, largest_entry
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments

INST = builtin_instruments(Market.USDM)["BTCUSDT"]
TABLE = builtin_brackets(Market.USDM)["BTCUSDT"]
ISOLATED = MarginType.ISOLATED


def holding(qty: D, entry: D, leverage: int, extra: D) -> Holding:
    wallet = abs(qty) * entry / leverage + extra if qty else D(0)
    return Holding(qty, entry if qty else D(0), wallet, D(0), D(0), D(0))


@settings(max_examples=500, deadline=None)
@given(
    held=st.sampled_from(["0", "0.5", "-0.5", "3", "-40", "120"]).map(D),
    add=st.sampled_from(["0.001", "0.05", "1", "-1", "-0.05", "25", "-150", "400"]).map(D),
    leverage=st.sampled_from([1, 2, 5, 10, 20, 50, 125]),
    drift=st.floats(-0.3, 0.3),
    extra=st.sampled_from(["0", "-50", "200", "10000"]).map(D),
    min_distance=st.sampled_from(["0", "0.01", "0.05", "0.15", "0.4", "0.6"]).map(D),
)
def test_the_float_shortcut_never_allows_what_the_exact_distance_refuses(
    held: D, add: D, leverage: int, drift: float, extra: D, min_distance: D
) -> None:
    entry = D(60_000)
    mark = (entry * D(1 + drift)).quantize(D("0.1"))
    h = holding(held, entry, leverage, extra)
    if h.qty and h.isolated_wallet <= 0:
        return
    if clearly_far(INST, TABLE, h, add, mark, mark, leverage, ISOLATED, min_distance):
        assert distance_after(INST, TABLE, h, add, mark, mark, leverage, ISOLATED) >= min_distance


def test_an_ordinary_entry_takes_the_shortcut_and_a_close_one_does_not() -> None:
    flat = holding(D(0), D(0), 1, D(0))
    mark = D(60_000)
    assert clearly_far(INST, TABLE, flat, D("0.01"), mark, mark, 10, ISOLATED, D("0.01"))
    # 10x: the liquidation price is about 9.6% away, so a 15% minimum needs the exact answer.
    assert not clearly_far(INST, TABLE, flat, D("0.01"), mark, mark, 10, ISOLATED, D("0.15"))
    assert largest_entry(INST, TABLE, flat, D("0.01"), 1, mark, mark, 10, ISOLATED, D("0.15")) < D("0.01")
    assert not clearly_far(INST, TABLE, flat, D("0.01"), mark, mark, 10, MarginType.CROSSED, D("0.01"))


def test_the_float_rows_follow_the_table_they_were_built_from() -> None:
    """Each table's float brackets are cached by identity: another table (a reload's, say) gets
    its own rows, never the rows of a table cached before it."""
    first = _float_rows(TABLE)
    assert first == [(float(b.notional_cap), float(b.maint_margin_ratio), float(b.cum)) for b in TABLE.brackets]
    assert _float_rows(TABLE) is first  # built once
    cheaper = replace(
        TABLE, brackets=tuple(replace(b, maint_margin_ratio=b.maint_margin_ratio / 2) for b in TABLE.brackets)
    )
    rows = _float_rows(cheaper)
    assert [r[1] for r in rows] == [r[1] / 2 for r in first]
    assert _float_rows(TABLE) is first
