"""The matching engine and its fill model: market orders, time in force, resting fills."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.account_events import AccountEvent, AccountUpdate, OrderUpdate
from rulebot.core.enums import OrderStatus, Side, TimeInForce
from rulebot.exchange_sim import FillModel

from .conftest import BTCUSDT, book, limit, market, statuses, trades, usdm

BUY, SELL = Side.BUY, Side.SELL


def fills(events: Iterable[AccountEvent]) -> list[tuple[D, D, bool]]:
    return [(f.last_filled_qty, f.last_filled_price, f.is_maker) for f in trades(events)]


# -- market orders ----------------------------------------------------------------------------


def test_market_takes_the_top_then_slips_beyond_it() -> None:
    sim = usdm(fill_model=FillModel(slippage_bps=D(10)))
    sim.on_book(BTCUSDT, D("60000"), D("1"), D("60000.1"), D("0.3"), 1)
    result = sim.execute(market("m", BUY, "0.5"), 2)
    assert result.ok
    # 60000.1 * 1.001 = 60060.1001 -> rounded up to the 0.10 tick against the buyer.
    assert fills(result.events) == [
        (D("0.3"), D("60000.1"), False),
        (D("0.2"), D("60060.2"), False),
    ]
    assert result.order is not None and result.order.status is OrderStatus.FILLED
    assert result.order.average_price == (D("0.3") * D("60000.1") + D("0.2") * D("60060.2")) / D("0.5")
    assert result.order.cum_quote == D("0.3") * D("60000.1") + D("0.2") * D("60060.2")


def test_market_without_a_book_fills_at_the_last_trade_plus_slippage() -> None:
    sim = usdm(fill_model=FillModel(slippage_bps=D(10)))
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 1, False)
    buy = sim.execute(market("b", BUY, "0.1"), 2)
    sell = sim.execute(market("s", SELL, "0.1"), 3)
    assert fills(buy.events) == [(D("0.1"), D("60060.0"), False)]
    assert fills(sell.events) == [(D("0.1"), D("59940.0"), False)]


def test_market_with_no_market_data_expires_unfilled() -> None:
    sim = usdm()
    result = sim.execute(market("m", BUY, "0.1"), 1)
    assert result.ok
    assert statuses(result.events) == [("m", "NEW", "NEW"), ("m", "EXPIRED", "EXPIRED")]
    assert sim.positions() == []


def test_top_qty_only_expires_the_market_remainder() -> None:
    sim = usdm(fill_model=FillModel(top_qty_only=True))
    book(sim, "59999.9", "60000", qty="0.2")
    result = sim.execute(market("m", BUY, "0.5"), 1)
    assert fills(result.events) == [(D("0.2"), D("60000"), False)]
    assert result.order is not None
    assert result.order.status is OrderStatus.EXPIRED
    assert result.order.filled_qty == D("0.2")


def test_what_a_taker_took_from_the_top_is_gone_until_the_next_book() -> None:
    sim = usdm(fill_model=FillModel(slippage_bps=D(10)))
    sim.on_book(BTCUSDT, D("59999.9"), D("1"), D("60000"), D("0.2"), 1)
    first = sim.execute(market("a", BUY, "0.2"), 2)
    second = sim.execute(market("b", BUY, "0.1"), 3)
    assert fills(first.events) == [(D("0.2"), D("60000"), False)]
    assert fills(second.events) == [(D("0.1"), D("60060.0"), False)]
    sim.on_book(BTCUSDT, D("59999.9"), D("1"), D("60000"), D("0.2"), 4)
    third = sim.execute(market("c", BUY, "0.1"), 5)
    assert fills(third.events) == [(D("0.1"), D("60000"), False)]


def test_events_come_new_then_trade_then_account_update() -> None:
    sim = usdm()
    book(sim, "59999.9", "60000")
    result = sim.execute(market("m", BUY, "0.1"), 7)
    kinds = [type(e).__name__ for e in result.events]
    assert kinds == ["OrderUpdate", "OrderUpdate", "AccountUpdate"]
    new, trade, account = result.events
    assert isinstance(new, OrderUpdate) and new.execution_type == "NEW"
    assert isinstance(trade, OrderUpdate) and trade.trade_id == 1 and trade.time == 7
    assert isinstance(account, AccountUpdate) and account.reason == "ORDER"


# -- limit orders ------------------------------------------------------------------------------


def test_resting_limit_fills_only_when_a_trade_prints_through_it() -> None:
    sim = usdm()
    book(sim, "59999.9", "60000")
    placed = sim.execute(limit("l", BUY, "0.5", "59000"), 1)
    assert statuses(placed.events) == [("l", "NEW", "NEW")]
    assert sim.on_trade(BTCUSDT, D("59000"), D("9"), 2, True) == []  # at the price: no touch
    events = sim.on_trade(BTCUSDT, D("58999.9"), D("0.2"), 3, True)
    assert fills(events) == [(D("0.2"), D("59000"), True)]  # at its own price, as maker
    (fill,) = trades(events)
    assert fill.status is OrderStatus.PARTIALLY_FILLED
    assert fill.commission == D("0.2") * D("59000") * D("0.0002")
    events = sim.on_trade(BTCUSDT, D("58000"), D("5"), 4, False)
    assert fills(events) == [(D("0.3"), D("59000"), True)]
    assert trades(events)[0].status is OrderStatus.FILLED
    assert sim.open_orders() == []


def test_fill_at_touch_needs_the_aggressor_on_the_other_side() -> None:
    sim = usdm(fill_model=FillModel(fill_at_touch=True))
    sim.execute(limit("b", BUY, "0.1", "59000"), 1)
    sim.execute(limit("s", SELL, "0.1", "61000"), 1)
    # A buyer lifting asks at 59000 does not reach a bid at 59000; a seller hitting bids does.
    assert sim.on_trade(BTCUSDT, D("59000"), D("1"), 2, False) == []
    assert fills(sim.on_trade(BTCUSDT, D("59000"), D("1"), 3, True)) == [(D("0.1"), D("59000"), True)]
    assert sim.on_trade(BTCUSDT, D("61000"), D("1"), 4, True) == []
    assert fills(sim.on_trade(BTCUSDT, D("61000"), D("1"), 5, False)) == [(D("0.1"), D("61000"), True)]


def test_a_trade_fills_resting_orders_in_price_time_priority_up_to_its_qty() -> None:
    sim = usdm()
    sim.execute(limit("early", BUY, "0.1", "59000"), 1)
    sim.execute(limit("better", BUY, "0.1", "59100"), 2)
    sim.execute(limit("late", BUY, "0.1", "59000"), 3)
    events = sim.on_trade(BTCUSDT, D("58900"), D("0.15"), 4, True)
    assert [(f.client_order_id, f.last_filled_qty) for f in trades(events)] == [
        ("better", D("0.1")),
        ("early", D("0.05")),
    ]


def test_a_book_quoting_through_a_resting_limit_fills_it() -> None:
    sim = usdm()
    sim.execute(limit("b", BUY, "0.1", "59000"), 1)
    events = sim.on_book(BTCUSDT, D("58980"), D("1"), D("58990"), D("0.04"), 2)
    assert fills(events) == [(D("0.04"), D("59000"), True)]
    off = usdm(fill_model=FillModel(fill_on_book_cross=False))
    off.execute(limit("b", BUY, "0.1", "59000"), 1)
    assert off.on_book(BTCUSDT, D("58980"), D("1"), D("58990"), D("0.04"), 2) == []


def test_marketable_limit_takes_then_never_pays_past_its_price() -> None:
    sim = usdm(fill_model=FillModel(slippage_bps=D(5)))
    sim.on_book(BTCUSDT, D("59999.9"), D("1"), D("60000"), D("0.1"), 1)
    result = sim.execute(limit("l", BUY, "0.3", "60010"), 2)
    # 0.1 at the ask; the rest would slip to 60030, past the limit: taken at the limit.
    assert fills(result.events) == [(D("0.1"), D("60000"), False), (D("0.2"), D("60010"), False)]


def test_marketable_gtc_limit_rests_the_rest_with_top_qty_only() -> None:
    sim = usdm(fill_model=FillModel(top_qty_only=True))
    sim.on_book(BTCUSDT, D("59999.9"), D("1"), D("60000"), D("0.1"), 1)
    result = sim.execute(limit("l", BUY, "0.3", "60010"), 2)
    assert fills(result.events) == [(D("0.1"), D("60000"), False)]
    assert result.order is not None and result.order.status is OrderStatus.PARTIALLY_FILLED
    assert [o.client_order_id for o in sim.open_orders()] == ["l"]


def test_ioc_fills_what_it_can_and_expires_the_rest() -> None:
    sim = usdm(fill_model=FillModel(top_qty_only=True))
    sim.on_book(BTCUSDT, D("59999.9"), D("1"), D("60000"), D("0.1"), 1)
    result = sim.execute(limit("i", BUY, "0.3", "60000", tif=TimeInForce.IOC), 2)
    assert fills(result.events) == [(D("0.1"), D("60000"), False)]
    assert statuses(result.events)[-1] == ("i", "EXPIRED", "EXPIRED")
    away = sim.execute(limit("j", BUY, "0.3", "59000", tif=TimeInForce.IOC), 3)
    assert statuses(away.events) == [("j", "NEW", "NEW"), ("j", "EXPIRED", "EXPIRED")]
    assert sim.open_orders() == []


def test_fok_fills_whole_or_is_rejected_with_5021() -> None:
    sim = usdm(fill_model=FillModel(top_qty_only=True))
    sim.on_book(BTCUSDT, D("59999.9"), D("1"), D("60000"), D("0.2"), 1)
    short = sim.execute(limit("f", BUY, "0.3", "60000", tif=TimeInForce.FOK), 2)
    assert (short.ok, short.code, short.events) == (False, -5021, ())
    assert short.message is not None and "FOK" in short.message
    away = sim.execute(limit("g", BUY, "0.1", "59000", tif=TimeInForce.FOK), 3)
    assert away.code == -5021
    whole = sim.execute(limit("h", BUY, "0.2", "60000", tif=TimeInForce.FOK), 4)
    assert whole.ok and fills(whole.events) == [(D("0.2"), D("60000"), False)]
    assert sim.order(BTCUSDT, "f") is None  # a rejected order never existed


def test_post_only_that_would_take_is_rejected_with_5022() -> None:
    sim = usdm()
    book(sim, "59999.9", "60000")
    taking = sim.execute(limit("p", BUY, "0.1", "60000", tif=TimeInForce.GTX), 1)
    assert (taking.ok, taking.code, taking.events) == (False, -5022, ())
    assert taking.message == ("Due to the order could not be executed as maker, the Post Only order will be rejected.")
    making = sim.execute(limit("q", BUY, "0.1", "59999.9", tif=TimeInForce.GTX), 2)
    assert making.ok and statuses(making.events) == [("q", "NEW", "NEW")]
    # Without a book, the last trade stands for the opposite quote.
    bare = usdm()
    bare.on_trade(BTCUSDT, D("60000"), D("1"), 1, False)
    assert bare.execute(limit("p", SELL, "0.1", "60000", tif=TimeInForce.GTX), 2).code == -5022
    assert bare.execute(limit("q", SELL, "0.1", "60000.1", tif=TimeInForce.GTX), 3).ok


# -- never better than the data -------------------------------------------------------------

prices = st.integers(min_value=590000, max_value=610000).map(lambda t: D(t) / 10)
qtys = st.integers(min_value=1, max_value=50).map(lambda s: D(s) / 1000)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("book"), prices, st.integers(0, 30).map(lambda t: D(t) / 10), qtys),
        st.tuples(st.just("trade"), prices, qtys, st.booleans()),
        st.tuples(st.just("limit"), st.sampled_from([BUY, SELL]), qtys, prices),
        st.tuples(st.just("market"), st.sampled_from([BUY, SELL]), qtys, st.just(None)),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(steps=steps, slippage=st.sampled_from([D(0), D(5)]), touch=st.booleans())
def test_no_fill_is_better_than_the_data(steps: list[tuple[Any, ...]], slippage: D, touch: bool) -> None:
    sim = usdm("1000000", fill_model=FillModel(slippage_bps=slippage, fill_at_touch=touch))
    limits: dict[str, D] = {}
    bid = ask = last = None
    for n, step in enumerate(steps):
        kind = step[0]
        if kind == "book":
            _, low, spread, qty = step
            bid, ask = low, low + spread + D("0.1")
            events = sim.on_book(BTCUSDT, bid, qty, ask, qty, n)
            for f in trades(events):  # maker fills: own price, and the book reached it
                assert f.is_maker and f.last_filled_price == limits[f.client_order_id]
                if f.side is BUY:
                    assert ask <= f.last_filled_price
                else:
                    assert bid >= f.last_filled_price
        elif kind == "trade":
            _, price, qty, maker = step
            last = price
            events = sim.on_trade(BTCUSDT, price, qty, n, maker)
            traded = sum((f.last_filled_qty for f in trades(events) if f.side is BUY), D(0))
            assert traded <= qty
            for f in trades(events):
                assert f.is_maker and f.last_filled_price == limits[f.client_order_id]
                if f.side is BUY:
                    assert price <= f.last_filled_price
                else:
                    assert price >= f.last_filled_price
        else:
            _, side, qty, price = step
            cid = f"o{n}"
            if kind == "limit":
                limits[cid] = price
                cmd = limit(cid, side, str(qty), str(price))
            else:
                cmd = market(cid, side, str(qty))
            result = sim.execute(cmd, n)
            # Taker fills: no better than the quote nor the last trade, and within the limit.
            known = [p for p in ((ask if side is BUY else bid), last) if p is not None]
            quote = (max(known) if side is BUY else min(known)) if known else None
            for f in trades(result.events):
                assert not f.is_maker and quote is not None
                if side is BUY:
                    assert f.last_filled_price >= quote
                    assert kind == "market" or f.last_filled_price <= price
                else:
                    assert f.last_filled_price <= quote
                    assert kind == "market" or f.last_filled_price >= price


def test_resting_fills_from_the_book_use_up_its_quantity() -> None:
    sim = usdm(fill_model=FillModel(top_qty_only=True))
    sim.execute(limit("b", BUY, "0.1", "59000"), 1)
    events = sim.on_book(BTCUSDT, D("58980"), D("1"), D("58990"), D("0.04"), 2)
    assert fills(events) == [(D("0.04"), D("59000"), True)]
    # The ask's 0.04 went to the resting order: a market buy finds nothing left at the top.
    taker = sim.execute(market("m", BUY, "0.01"), 3)
    assert fills(taker.events) == []
    assert taker.order is not None and taker.order.status is OrderStatus.EXPIRED
    # The bid side is untouched.
    assert fills(sim.execute(market("s", SELL, "0.01"), 4).events) == [(D("0.01"), D("58980"), False)]


def test_post_only_rests_and_fills_as_maker() -> None:
    sim = usdm()
    book(sim, "59999.9", "60000")
    assert sim.execute(limit("p", SELL, "0.1", "60000", tif=TimeInForce.GTX), 1).ok
    events = sim.on_trade(BTCUSDT, D("60000.1"), D("1"), 2, False)
    assert fills(events) == [(D("0.1"), D("60000"), True)]
