"""The facade: dead man's switch, queries, determinism, and account-wide properties."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.account_events import AccountEvent, AccountUpdate, OrderUpdate
from rulebot.core.commands import (
    CancelOrder,
    PlaceOrder,
    SetCountdownCancelAll,
)
from rulebot.core.enums import MarginType, OrderStatus, OrderType, PositionSide, Side
from rulebot.exchange_sim import FillModel, SimExchange

from .conftest import (
    BTCUSD,
    BTCUSDT,
    book,
    coinm,
    limit,
    market,
    order,
    status_of,
    statuses,
    usdm,
)

BUY, SELL = Side.BUY, Side.SELL


# -- dead man's switch ------------------------------------------------------------------------


def test_countdown_cancels_all_orders_of_the_symbol_when_not_renewed() -> None:
    sim = usdm()
    book(sim, "59999.9", "60000")
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 0, False)
    assert sim.execute(SetCountdownCancelAll(BTCUSDT, 1000), 0).ok
    assert sim.countdown(BTCUSDT) == 1000
    sim.execute(limit("l", BUY, "0.1", "59000"), 10)
    sim.execute_algo(order("s", BUY, OrderType.STOP_MARKET, "0.1", trigger="61000"), 10)
    assert sim.on_trade(BTCUSDT, D("60000"), D("1"), 999, False) == []
    assert sim.execute(SetCountdownCancelAll(BTCUSDT, 1000), 900).events == ()  # heartbeat
    assert sim.on_mark_price(BTCUSDT, D("60000"), 1899) == []
    events = sim.on_mark_price(BTCUSDT, D("60000"), 1900)
    assert statuses(events) == [("l", "CANCELED", "CANCELED"), ("s", "ALGO", "CANCELED")]
    assert all(e.time == 1900 for e in events)
    assert sim.countdown(BTCUSDT) is None and sim.open_orders() == []


def test_countdown_fires_before_the_command_that_comes_too_late() -> None:
    sim = usdm()
    sim.execute(SetCountdownCancelAll(BTCUSDT, 500), 0)
    sim.execute(limit("l", BUY, "0.1", "59000"), 1)
    late = sim.execute(CancelOrder(BTCUSDT, "l"), 700)
    assert late.code == -2011  # already canceled by the switch ...
    assert statuses(late.events) == [("l", "CANCELED", "CANCELED")]  # ... which this call fired
    assert late.events[0].time == 500


def test_countdown_zero_stops_the_switch() -> None:
    sim = usdm()
    sim.execute(SetCountdownCancelAll(BTCUSDT, 500), 0)
    sim.execute(limit("l", BUY, "0.1", "59000"), 1)
    sim.execute(SetCountdownCancelAll(BTCUSDT, 0), 2)
    assert sim.on_trade(BTCUSDT, D("60000"), D("1"), 10_000, False) == []
    assert [o.client_order_id for o in sim.open_orders()] == ["l"]
    assert sim.execute(SetCountdownCancelAll("NOPE", 100), 3).code == -1121


# -- queries ------------------------------------------------------------------------------------


def test_order_queries() -> None:
    sim = usdm()
    placed = sim.execute(limit("l", BUY, "0.1", "59000"), 5)
    assert placed.order is not None
    view = sim.order(BTCUSDT, "l")
    assert view == placed.order
    assert view is not None and (view.status, view.time, view.price) == (
        OrderStatus.NEW,
        5,
        D("59000"),
    )
    assert sim.order_by_id(BTCUSDT, view.order_id) == view
    assert sim.order(BTCUSDT, "nope") is None and sim.order_by_id(BTCUSDT, 999) is None
    canceled = sim.execute(CancelOrder(BTCUSDT, "l"), 6)
    assert canceled.order is not None and canceled.order.status is OrderStatus.CANCELED
    assert status_of(sim, "l") is OrderStatus.CANCELED


def test_positions_include_flat_lists_every_leg_of_the_mode() -> None:
    sim = usdm(hedge_mode=True)
    flat = sim.positions(include_flat=True)
    assert [(p.symbol, p.position_side, p.amount) for p in flat] == [
        (BTCUSDT, PositionSide.LONG, D(0)),
        (BTCUSDT, PositionSide.SHORT, D(0)),
    ]
    assert flat[0].leverage == 20 and flat[0].max_notional == D(100_000_000)
    assert flat[0].liquidation_price is None


def test_construction_checks() -> None:
    with pytest.raises(ValueError, match="no leverage brackets"):
        from .conftest import FAPI, USDM

        SimExchange(FAPI[0], {}, market=USDM, balances={"USDT": D(1)})
    with pytest.raises(ValueError, match="not COINM"):
        from rulebot.core.enums import Market

        SimExchange(FAPI[0], FAPI[1], market=Market.COINM, balances={})
    with pytest.raises(ValueError, match="slippage"):
        FillModel(slippage_bps=D(-1))


# -- determinism and properties ------------------------------------------------------------------

ticks = st.integers(min_value=-30, max_value=30)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("book"), ticks),
        st.tuples(st.just("trade"), ticks, st.integers(1, 400), st.booleans()),
        st.tuples(st.just("mark"), st.integers(-400, 30)),
        st.tuples(st.just("funding"), st.integers(-5, 5)),
        st.tuples(
            st.just("order"),
            st.sampled_from([BUY, SELL]),
            st.integers(1, 400),
            st.one_of(st.none(), ticks),
            st.sampled_from([False, False, False, True]),
        ),
        st.tuples(st.just("close"), st.integers(1, 400), st.one_of(st.none(), ticks)),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
    ),
    max_size=50,
)


def run(
    steps: list[tuple[Any, ...]],
    *,
    margin_type: MarginType = MarginType.CROSSED,
    coin: bool = False,
) -> tuple[SimExchange, list[AccountEvent]]:
    """Replay generated steps on a fresh account; returns the sim and every event it sent."""
    symbol = BTCUSD if coin else BTCUSDT
    base, tick, unit = (D(50000), D("50"), D(1)) if coin else (D(60000), D("50"), D("0.001"))
    sim = (
        coinm("0.05", default_margin_type=margin_type, fill_model=FillModel(slippage_bps=D(2)))
        if coin
        else usdm("2000", default_margin_type=margin_type)
    )
    out: list[AccountEvent] = []
    # Start with a market: a book and a trade at the base price.
    for n, step in enumerate([("book", 0), ("trade", 0, 1, False), *steps], start=1):
        kind, *args = step
        if kind == "book":
            mid = base + tick * args[0]
            out += sim.on_book(symbol, mid, D(5) * 100 * unit, mid + tick, D(5) * 100 * unit, n)
        elif kind == "trade":
            price = base + tick * args[0]
            out += sim.on_trade(symbol, price, unit * args[1], n, args[2])
        elif kind == "mark":
            out += sim.on_mark_price(symbol, base + tick * args[0], n)
        elif kind == "funding":
            out += sim.on_funding(symbol, D(args[0]) / 10000, n)
        elif kind == "order":
            side, qty, offset, reduce = args
            quantity = str(unit * qty)
            if offset is None:
                cmd = market(f"o{n}", side, quantity, symbol=symbol, reduce_only=reduce)
            else:
                price = str(base + tick * offset)
                cmd = limit(f"o{n}", side, quantity, price, symbol=symbol, reduce_only=reduce)
            out += sim.execute(cmd, n).events
        elif kind == "close":  # reduce-only, on whichever side the position is
            held = sum((p.amount for p in sim.positions()), D(0))
            side = SELL if held > 0 else BUY
            qty, offset = args
            quantity = str(unit * qty)
            if offset is None:
                cmd = market(f"o{n}", side, quantity, symbol=symbol, reduce_only=True)
            else:
                price = str(base + tick * offset)
                cmd = limit(f"o{n}", side, quantity, price, symbol=symbol, reduce_only=True)
            out += sim.execute(cmd, n).events
        else:
            out += sim.execute(CancelOrder(symbol, f"o{args[0]}"), n).events
    return sim, out


def money_flow(events: Iterable[AccountEvent]) -> D:
    """Realized PnL minus commission of every fill, plus every funding payment."""
    total = D(0)
    for e in events:
        if isinstance(e, OrderUpdate) and e.last_filled_qty:
            total += e.realized_pnl - e.commission
        elif isinstance(e, AccountUpdate) and e.reason == "FUNDING_FEE":
            total += sum((b.balance_change for b in e.balances), D(0))
    return total


@settings(max_examples=40, deadline=None)
@given(steps=steps)
def test_the_same_inputs_give_the_same_outputs(steps: list[tuple[Any, ...]]) -> None:
    first_sim, first = run(steps)
    second_sim, second = run(steps)
    assert first == second
    assert first_sim.positions() == second_sim.positions()
    assert first_sim.open_orders() == second_sim.open_orders()


@settings(max_examples=150, deadline=None)
@given(
    steps=steps,
    margin_type=st.sampled_from([MarginType.CROSSED, MarginType.ISOLATED]),
    coin=st.booleans(),
)
def test_wallet_is_start_plus_realized_minus_fees_plus_funding(
    steps: list[tuple[Any, ...]], margin_type: MarginType, coin: bool
) -> None:
    sim, events = run(steps, margin_type=margin_type, coin=coin)
    asset, start = ("BTC", D("0.05")) if coin else ("USDT", D(2000))
    (balance,) = sim.balances()
    assert balance.wallet_balance == start + money_flow(events)
    ledger = sim.ledger(asset)
    assert balance.wallet_balance == start + ledger.realized_pnl - ledger.commission + ledger.funding
    # A liquidation takes the margin, never more: the wallet never goes below zero.
    assert balance.wallet_balance >= 0
    assert balance.cross_wallet_balance >= 0 or margin_type is MarginType.ISOLATED


@settings(max_examples=150, deadline=None)
@given(steps=steps, coin=st.booleans())
def test_a_reduce_only_fill_never_increases_the_position(steps: list[tuple[Any, ...]], coin: bool) -> None:
    _, events = run(steps, coin=coin)
    size = D(0)
    pending: OrderUpdate | None = None
    for e in events:
        if isinstance(e, OrderUpdate) and e.last_filled_qty:
            pending = e
        elif isinstance(e, AccountUpdate) and e.reason == "ORDER":
            (pos,) = e.positions
            if pending is not None and pending.reduce_only:
                assert abs(pos.amount) < size
                assert abs(pos.amount) == size - pending.last_filled_qty
            size, pending = abs(pos.amount), None


def test_market_data_queries_and_bad_countdown() -> None:
    sim = usdm()
    sim.on_mark_price(BTCUSDT, D("60000"), 1, index=D("59990"))
    quotes = sim.quotes(BTCUSDT)
    assert (quotes.mark, quotes.index, quotes.last, quotes.bid) == (
        D("60000"),
        D("59990"),
        None,
        None,
    )
    assert sim.execute(SetCountdownCancelAll(BTCUSDT, -1), 2).code == -1130


def test_views_false_gives_the_same_events_and_no_views() -> None:
    """The paper venue reads only the events (views=False): the same commands on two accounts,
    one asked for views and one not, report the same events; only the views are left out."""
    steps = [
        (market("in", Side.BUY, "0.01"), False),
        (order("sl", Side.SELL, OrderType.STOP_MARKET, "0.01", trigger="50000", reduce_only=True), True),
        (limit("lim", Side.BUY, "0.01", "55000"), False),
        (CancelOrder(BTCUSDT, "lim"), False),
        (CancelOrder(BTCUSDT, "sl"), False),
        (market("out", Side.SELL, "0.01", reduce_only=True), False),
    ]
    with_views, without = usdm(), usdm()
    for sim in (with_views, without):
        book(sim, "60000", "60001")
    for t, (cmd, algo) in enumerate(steps, start=1):
        if algo:
            assert isinstance(cmd, PlaceOrder)
            full, bare = with_views.execute_algo(cmd, t), without.execute_algo(cmd, t, views=False)
        else:
            full, bare = with_views.execute(cmd, t), without.execute(cmd, t, views=False)
        assert full.ok and bare.ok
        assert bare.events == full.events
        assert (full.order is not None) or (full.algo is not None)
        assert bare.order is None and bare.algo is None
    assert without.balances() == with_views.balances()
