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


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["place", "fill", "new", "reject", "algo_end"]), st.sampled_from(["A", "B"])),
        max_size=40,
    )
)
def test_open_orders_by_symbol_is_the_scan_of_every_working_order(steps: list[tuple[str, str]]) -> None:
    """`open_orders(symbol)` reads a per-symbol index of the working orders: it must list exactly
    the orders a scan of every order finds open on that symbol, in placement order."""
    from rulebot.core.account_events import AlgoUpdate, OrderUpdate
    from rulebot.core.enums import OrderStatus, PositionSide, WorkingType

    oms = OrderManager("bt")
    ids: dict[str, list[str]] = {"A": [], "B": []}
    for what, symbol in steps:
        if what == "place" or not ids[symbol]:
            cid = oms.next_id()
            oms.track(PlaceOrder(cid, symbol, Side.BUY, OrderType.MARKET, D("0.01")), "entry", "go")
            ids[symbol].append(cid)
            continue
        cid = ids[symbol][len(ids[symbol]) // 2]
        if what == "reject":
            oms.rejected(cid, "test")
        elif what == "algo_end":
            oms.apply_algo(
                AlgoUpdate(
                    *(symbol, cid, 1, OrderType.STOP_MARKET, Side.BUY, PositionSide.BOTH, "CANCELED", D(0)),
                    *(D(1), None, False, True, WorkingType.MARK_PRICE, None, None, 1),
                )
            )
        else:
            status = OrderStatus.FILLED if what == "fill" else OrderStatus.NEW
            filled = D("0.01") if what == "fill" else D(0)
            oms.apply(
                OrderUpdate(
                    *(symbol, cid, 1, Side.BUY, OrderType.MARKET, status, "TRADE", D("0.01"), D(0), D(0)),
                    *(
                        filled,
                        filled,
                        D(0),
                        D(0),
                        "USDT",
                        D(0),
                        False,
                        False,
                        PositionSide.BOTH,
                        None,
                        None,
                        None,
                        None,
                        1,
                    ),
                )
            )
        for s in ("A", "B", "C"):
            scan = [r for r in oms.orders.values() if r.command.symbol == s and r.is_open]
            assert oms.open_orders(s) == scan
