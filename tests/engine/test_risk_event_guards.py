"""The guards the engine runs as events arrive, decided in engine/risk/ modules."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rulebot.core.enums import Market, PositionSide
from rulebot.engine.portfolio import PositionState
from rulebot.engine.risk.order_rate import orders_last_minute
from rulebot.engine.risk.protective_stop import protective_trigger
from rulebot.feeds.catalog import builtin_instruments

BTC = builtin_instruments(Market.USDM)["BTCUSDT"]
prices = st.decimals(min_value=Decimal(1000), max_value=Decimal(200_000), places=1)


@given(entry=prices, mark=prices, long=st.booleans(), d=st.sampled_from([Decimal("0.01"), Decimal("0.05")]))
def test_a_protective_stop_never_sits_on_the_wrong_side_of_the_market(entry, mark, long, d):
    pos = PositionState("BTCUSDT", PositionSide.BOTH, Decimal("0.01") if long else Decimal("-0.01"), entry)
    trigger = protective_trigger(BTC, pos, mark, d)
    if long:
        assert trigger < min(entry, mark)
    else:
        assert trigger > max(entry, mark)


def test_an_order_a_full_minute_old_no_longer_counts_against_the_budget():
    times = deque([0, 30_000, 59_999])
    assert orders_last_minute(times, 60_000) == 2
    assert list(times) == [30_000, 59_999]
    assert orders_last_minute(times, 119_999) == 0
