"""The engine forgets finished orders beyond the newest `keep` (issue 14: a backtest calls this
whenever the orders pass a count, so it must keep what is still needed: every working order,
and the newest finished ones, which late reports and the runner's fill labels look up)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderType, Side
from rulebot.engine.oms import OrderManager


def place(oms: OrderManager) -> str:
    cid = oms.next_id()
    oms.track(PlaceOrder(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")), "entry", "go")
    return cid


@settings(max_examples=60, deadline=None)
@given(finish=st.lists(st.booleans(), max_size=60), keep=st.integers(0, 10))
def test_forget_keeps_every_working_order_and_the_newest_finished(finish: list[bool], keep: int) -> None:
    oms = OrderManager("bt")
    ids = [place(oms) for _ in finish]
    for cid, done in zip(ids, finish, strict=True):
        if done:
            oms.rejected(cid, "test")
    oms.forget_finished(keep)
    finished = [cid for cid, done in zip(ids, finish, strict=True) if done]
    working = [cid for cid, done in zip(ids, finish, strict=True) if not done]
    kept = finished[len(finished) - min(keep, len(finished)) :]
    assert list(oms.orders) == [cid for cid in ids if cid in set(working) | set(kept)]
    assert all(oms.get(cid) is not None and oms.get(cid).is_open for cid in working)  # type: ignore[union-attr]
