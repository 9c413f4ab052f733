"""The realistic model's bar volume: trades counted at once (`on_trades`, the fast path's folds)
leave exactly what counting them one by one (`on_trade`) leaves."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rulebot.exchange_sim import FillModel
from rulebot.exchange_sim.liquidity import MINUTE_MS, Liquidity

qtys = st.lists(st.decimals(Decimal("0.001"), Decimal("900"), places=3), min_size=1, max_size=30)
# Minutes relative to a start: the same, the next (the previous minute's volume carries), or later.
minutes = st.lists(st.tuples(st.sampled_from([0, 0, 1, 3]), qtys), min_size=1, max_size=8)


def _state(liq: Liquidity) -> tuple[object, ...]:
    bar = liq._bar("BTCUSDT")
    return bar.key, bar.volume, bar.used, bar.previous, liq.volume("BTCUSDT")


@given(groups=minutes, used=st.decimals(Decimal(0), Decimal(5), places=3))
def test_trades_counted_at_once_leave_what_counting_them_one_by_one_leaves(
    groups: list[tuple[int, list[Decimal]]], used: Decimal
) -> None:
    one, bulk = Liquidity(FillModel.realistic()), Liquidity(FillModel.realistic())
    minute = 28_929_000  # 2025-01-01
    for step, group in groups:
        minute += step
        time = minute * MINUTE_MS + 17
        for qty in group:
            one.on_trade("BTCUSDT", time, qty)
        bulk.on_trades("BTCUSDT", time, iter(group))
        one.use("BTCUSDT", used)
        bulk.use("BTCUSDT", used)
        assert _state(bulk) == _state(one)


def test_a_candle_walk_keeps_its_volume_whatever_trades_say() -> None:
    liq = Liquidity(FillModel.realistic())
    liq.on_bar("BTCUSDT", 0, Decimal(40))
    liq.on_trades("BTCUSDT", 5, [Decimal(3), Decimal(4)])
    assert liq.volume("BTCUSDT") == Decimal(40)
