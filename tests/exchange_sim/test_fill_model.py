"""The realistic fill model: spread on klines, a cap per bar, square-root impact, partial IOC, FOK.

Worked numbers: bar volume 20 BTC, 10% cap = 2 BTC; the last trade 60000.0 and one tick of
spread (0.1) puts the assumed ask at 60000.1; 2 BTC is 10% participation, impact
10 bps * sqrt(0.1) = 3.1623 bps, 60000.1 * 1.00031623 = 60019.07 -> 60019.1 (tick up).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.account_events import AccountEvent, OrderUpdate
from rulebot.core.enums import OrderStatus, OrderType, Side, TimeInForce
from rulebot.exchange_sim import FillModel, SimExchange
from rulebot.testing.shared import load_doc

from .conftest import BTCUSDT, FAPI, limit, market, order, statuses, trades, usdm

BUY, SELL = Side.BUY, Side.SELL
REAL = FillModel.realistic()


def fills(events: Iterable[AccountEvent]) -> list[tuple[D, D, bool]]:
    return [(f.last_filled_qty, f.last_filled_price, f.is_maker) for f in trades(events)]


def bar(sim: SimExchange, open_time: int, volume: str, *prices: str) -> list[AccountEvent]:
    """A candle as the paper venue walks it: its volume first, then its prices as trades."""
    sim.on_bar(BTCUSDT, open_time, D(volume))
    out: list[AccountEvent] = []
    for i, p in enumerate(prices):
        out += sim.on_trade(BTCUSDT, D(p), D(volume) / 4, open_time + i, i % 2 == 1)
    return out


def documented_statuses() -> set[str]:
    """FACTS.md §6.3: the order statuses Binance sends."""
    for line in load_doc("FACTS.md").splitlines():
        if line.startswith("| Order status"):
            return {v.strip(" `") for v in line.split("|")[2].split(",")}
    raise AssertionError("FACTS.md lists no order statuses")


def test_the_documented_statuses_include_what_partial_fills_report() -> None:
    assert {"PARTIALLY_FILLED", "EXPIRED", "FILLED", "NEW"} <= documented_statuses()


def test_a_market_order_past_the_cap_fills_ten_percent_then_expires_the_rest() -> None:
    sim = usdm("1000000", fill_model=REAL)
    bar(sim, 0, "20", "60000")
    result = sim.execute(market("m", BUY, "5"), 10)
    assert result.ok
    assert fills(result.events) == [(D("2"), D("60019.1"), False)]
    # Binance: the market remainder is cancelled (`er` 9), the order EXPIRED with executedQty 2.
    assert statuses(result.events) == [
        ("m", "NEW", "NEW"),
        ("m", "TRADE", "PARTIALLY_FILLED"),
        ("m", "EXPIRED", "EXPIRED"),
    ]
    assert result.order is not None and result.order.status is OrderStatus.EXPIRED
    assert result.order.filled_qty == D("2")
    assert [p.amount for p in sim.positions()] == [D("2")]


def test_a_small_market_order_pays_one_tick_of_spread_and_its_impact() -> None:
    sim = usdm(fill_model=REAL)
    bar(sim, 0, "1000", "60000")
    buy = sim.execute(market("b", BUY, "0.01"), 10)
    sell = sim.execute(market("s", SELL, "0.01"), 11)
    # 0.01 of 1000: 0.001% participation -> 10 * sqrt(0.00001) = 0.0316 bps = 0.19 USD, up a tick.
    assert fills(buy.events) == [(D("0.01"), D("60000.3"), False)]
    # The sell comes second in the bar: participation 0.02/1000 -> 0.0447 bps = 0.27 USD.
    assert fills(sell.events) == [(D("0.01"), D("59999.6"), False)]


def test_ideal_model_fills_the_same_order_whole_at_the_last_trade() -> None:
    sim = usdm("1000000")
    bar(sim, 0, "20", "60000")
    result = sim.execute(market("m", BUY, "5"), 10)
    assert fills(result.events) == [(D("5"), D("60000.0"), False)]


def test_ioc_fills_what_the_bar_allows_and_expires_the_rest() -> None:
    sim = usdm("1000000", fill_model=REAL)
    bar(sim, 0, "20", "60000")
    result = sim.execute(limit("i", BUY, "5", "60100", tif=TimeInForce.IOC), 10)
    assert fills(result.events) == [(D("2"), D("60019.1"), False)]
    assert statuses(result.events)[-1] == ("i", "EXPIRED", "EXPIRED")
    assert result.order is not None and result.order.filled_qty == D("2")


def test_a_limit_takes_only_what_keeps_its_impact_within_its_price() -> None:
    sim = usdm("1000000", fill_model=REAL)
    bar(sim, 0, "20", "60000")
    # Room: (60010 - 60000.1) / 60000.1 = 1.65 bps -> participation (1.65/10)^2 = 2.72% of 20
    # = 0.544 BTC, at 60000.1 * (1 + 10 * sqrt(0.544/20) bps) = 60009.995 -> 60010.0.
    result = sim.execute(limit("i", BUY, "5", "60010", tif=TimeInForce.IOC), 10)
    assert fills(result.events) == [(D("0.544"), D("60010.0"), False)]


def test_a_limit_at_the_last_trade_does_not_take_on_klines() -> None:
    # The assumed ask is a tick above the last trade: a buy at the last trade rests, and GTX is
    # accepted (the ideal model would have taken it at the last trade).
    sim = usdm(fill_model=REAL)
    bar(sim, 0, "20", "60000")
    result = sim.execute(limit("p", BUY, "0.1", "60000", tif=TimeInForce.GTX), 10)
    assert result.ok and fills(result.events) == []
    assert [o.client_order_id for o in sim.open_orders()] == ["p"]


def test_fok_that_the_bar_cannot_fill_whole_is_rejected_with_5021() -> None:
    sim = usdm("1000000", fill_model=REAL)
    bar(sim, 0, "20", "60000")
    refused = sim.execute(limit("f", BUY, "5", "60100", tif=TimeInForce.FOK), 10)
    assert (refused.ok, refused.code) == (False, -5021)
    assert fills(refused.events) == [] and sim.positions() == []
    whole = sim.execute(limit("g", BUY, "1", "60100", tif=TimeInForce.FOK), 11)
    assert whole.ok and whole.order is not None and whole.order.status is OrderStatus.FILLED


def test_a_gtc_remainder_rests_and_fills_in_later_bars_under_their_cap() -> None:
    sim = usdm("1000000", fill_model=REAL)
    bar(sim, 0, "20", "60000")
    placed = sim.execute(limit("g", BUY, "5", "60100"), 10)
    assert fills(placed.events) == [(D("2"), D("60019.1"), False)]
    assert placed.order is not None and placed.order.status is OrderStatus.PARTIALLY_FILLED
    # Later in the same bar a trade prints through the limit: the bar's cap is used up.
    assert fills(sim.on_trade(BTCUSDT, D("60050"), D("5"), 20, False)) == []
    # The next bar (10 BTC, cap 1) fills 1 as maker at the limit's own price.
    assert fills(bar(sim, 60_000, "10", "60050", "60040", "60080", "60060")) == [(D("1"), D("60100"), True)]
    assert fills(bar(sim, 120_000, "30", "60050", "60040", "60080", "60060")) == [(D("2"), D("60100"), True)]
    assert sim.order(BTCUSDT, "g") is not None and sim.order(BTCUSDT, "g").status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_on_trade_data_the_cap_is_a_share_of_the_last_minute() -> None:
    sim = usdm("1000000", fill_model=REAL)
    for i in range(3):
        sim.on_trade(BTCUSDT, D("60000"), D("1"), 1_000 + i, False)
    sim.on_trade(BTCUSDT, D("60000"), D("0.1"), 60_500, False)  # the next minute starts
    result = sim.execute(market("m", BUY, "1"), 60_600)
    # max(3 of the last minute, 0.1 so far) = 3 -> 10% = 0.3.
    assert [q for q, _, _ in fills(result.events)] == [D("0.3")]


def test_a_book_tops_quoted_quantity_fills_without_the_cap() -> None:
    sim = usdm("1000000", fill_model=REAL)
    bar(sim, 0, "1", "60000")
    sim.on_book(BTCUSDT, D("60000"), D("3"), D("60000.1"), D("0.5"), 5)
    result = sim.execute(market("m", BUY, "1"), 10)
    # The quoted 0.5 is observed liquidity; it used more than the bar's 0.1 cap, so nothing more.
    assert fills(result.events) == [(D("0.5"), D("60000.1"), False)]
    assert statuses(result.events)[-1] == ("m", "EXPIRED", "EXPIRED")


def test_a_bar_without_volume_fills_nothing() -> None:
    sim = usdm(fill_model=REAL)
    bar(sim, 0, "0", "60000")
    result = sim.execute(market("m", BUY, "0.1"), 10)
    assert fills(result.events) == [] and statuses(result.events)[-1] == ("m", "EXPIRED", "EXPIRED")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"participation": D(0)}, "participation"),
        ({"participation": D("1.5")}, "participation"),
        ({"impact_bps": D(-1)}, "impact_bps"),
        ({"half_spread_bps": D(-1)}, "half_spread_bps"),
    ],
)
def test_bad_knobs_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FillModel.realistic(**kw)


def test_the_model_says_what_it_assumed() -> None:
    assert FillModel().describe() == "ideal: any size at the quote or last trade, slippage 0 bps"
    assert REAL.describe() == (
        "realistic: spread from bookTicker, else half-spread one tick on klines/trades, at most 10% of each "
        "bar's volume, impact 10 bps x sqrt(participation), slippage 0 bps"
    )
    assert REAL.parameters() == {
        "slippage_bps": "0",
        "half_spread_bps": None,
        "participation": "0.1",
        "impact_bps": "10",
    }


# -- properties ----------------------------------------------------------------------------------

volumes = st.sampled_from(["0", "0.5", "3", "20", "150"])
kinds = st.sampled_from(["market", "ioc", "fok", "gtc"])
qtys = st.sampled_from(["0.001", "0.05", "0.4", "1", "3", "12"])
offsets = st.integers(min_value=-30, max_value=60)  # limit price offset from 60000, in USD
steps = st.lists(
    st.tuples(volumes, st.lists(st.tuples(kinds, st.sampled_from([BUY, SELL]), qtys, offsets), max_size=3)),
    min_size=1,
    max_size=5,
)


def _place(sim: SimExchange, cid: str, kind: str, side: Side, qty: str, offset: int, time: int) -> Any:
    price = str(D(60000) + (offset if side is BUY else -offset))
    if kind == "market":
        return sim.execute(market(cid, side, qty), time)
    tif = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK, "gtc": TimeInForce.GTC}[kind]
    return sim.execute(order(cid, side, OrderType.LIMIT, qty, price=price, tif=tif), time)


@settings(max_examples=60, deadline=None)
@given(steps=steps)
def test_fills_in_a_bar_never_exceed_the_cap_and_fok_is_all_or_nothing(steps: list[Any]) -> None:
    sim = usdm("100000000", fill_model=REAL)
    n = 0
    for i, (volume, orders) in enumerate(steps):
        t0 = i * 60_000
        filled = sum((q for q, _, _ in fills(bar(sim, t0, volume, "60000", "59980", "60030", "60010"))), D(0))
        for j, (kind, side, qty, offset) in enumerate(orders):
            n += 1
            result = _place(sim, f"o{n}", kind, side, qty, offset, t0 + 100 + j)
            got = sum((q for q, _, _ in fills(result.events)), D(0))
            filled += got
            if kind == "fok":
                assert got in (D(0), D(qty))
                assert result.ok == (got == D(qty))
        assert filled <= REAL.participation * D(volume)  # type: ignore[operator]


@settings(max_examples=60, deadline=None)
@given(
    volume=volumes,
    kind=kinds,
    side=st.sampled_from([BUY, SELL]),
    qty=qtys,
    offset=offsets,
    touch=st.sampled_from(["60000", "60000.1", "59999.9", "60012.3"]),
)
def test_a_realistic_fill_is_never_better_than_the_ideal_one(
    volume: str, kind: str, side: Side, qty: str, offset: int, touch: str
) -> None:
    got: dict[str, tuple[D, D]] = {}
    for name, model in (("ideal", FillModel()), ("realistic", REAL)):
        sim = usdm("100000000", fill_model=model)
        bar(sim, 0, volume, "59990", touch)
        result = _place(sim, "x", kind, side, qty, offset, 10)
        done = [u for u in result.events if isinstance(u, OrderUpdate) and u.last_filled_qty > 0]
        qty_filled = sum((u.last_filled_qty for u in done), D(0))
        cost = sum((u.last_filled_qty * u.last_filled_price for u in done), D(0))
        got[name] = (qty_filled, cost / qty_filled if qty_filled else D(0))
    (ideal_qty, ideal_avg), (real_qty, real_avg) = got["ideal"], got["realistic"]
    assert real_qty <= ideal_qty
    if real_qty:
        assert real_avg >= ideal_avg if side is BUY else real_avg <= ideal_avg


@pytest.mark.parametrize("knob", ["slippage_bps", "half_spread_bps", "impact_bps"])
def test_a_price_knob_of_100_percent_or_more_is_refused(knob: str) -> None:
    # 10000 bps worse sells at zero: the loss would exceed anything the account could hold
    with pytest.raises(ValueError, match="below 10000"):
        FillModel(**{knob: D(10000)})


@settings(max_examples=200, deadline=None)
@given(
    ticks=st.integers(min_value=1, max_value=10**9),
    bps=st.integers(min_value=0, max_value=9999),
    side=st.sampled_from([BUY, SELL]),
)
def test_slippage_and_impact_never_price_a_fill_at_zero_or_better(ticks: int, bps: int, side: Side) -> None:
    from rulebot.exchange_sim.liquidity import impacted
    from rulebot.exchange_sim.market import slipped

    inst = FAPI[0][BTCUSDT]
    tick = inst.price_filter.tick_size
    price = tick * ticks
    for worse in (slipped(inst, price, side, FillModel(slippage_bps=D(bps))), impacted(inst, price, side, D(bps))):
        assert worse >= tick and worse % tick == 0
        assert (worse >= price) if side is BUY else (worse <= price)
