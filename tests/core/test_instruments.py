"""Instruments: exchangeInfo parsing, tick/step rounding, filter checks, linear vs inverse value."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rulebot.core.enums import (
    MarginType,
    Market,
    OrderStatus,
    OrderType,
    PositionSide,
    Rounding,
    Side,
    TimeInForce,
)
from rulebot.core.instruments import Instrument, LotSize, PriceFilter, direction
from rulebot.core.order_filters import Violation, check_order
from rulebot.core.reject_codes import REJECT_MESSAGES

MARK = D("60000")


def make(
    tick: str = "0.10",
    min_price: str = "0",
    step: str = "0.001",
    min_qty: str = "0.001",
    market_step: str | None = None,
    **kw: Any,
) -> Instrument:
    """A hand-made USDⓈ-M instrument for grid cases no real payload has."""
    lot = LotSize(D(min_qty), D("1000"), D(step))
    market_lot = lot if market_step is None else LotSize(D(market_step), D("100"), D(market_step))
    return Instrument(
        symbol="TESTUSDT",
        market=Market.USDM,
        base_asset="TEST",
        quote_asset="USDT",
        margin_asset="USDT",
        price_filter=PriceFilter(D(min_price), D("0"), D(tick)),
        lot_size=lot,
        market_lot_size=market_lot,
        **kw,
    )


def codes(violations: list[Violation]) -> list[int]:
    return [v.code for v in violations]


# -- enums -------------------------------------------------------------------------------------


def test_enum_values_are_binance_strings() -> None:
    assert Side.BUY == "BUY" and Side.SELL.opposite is Side.BUY
    assert [p.value for p in PositionSide] == ["BOTH", "LONG", "SHORT"]
    assert OrderType("TRAILING_STOP_MARKET").is_conditional
    assert not OrderType.LIMIT.executes_as_market and OrderType.STOP_MARKET.executes_as_market
    assert {t.value for t in TimeInForce} >= {"GTC", "IOC", "FOK", "GTX"}
    assert OrderStatus.EXPIRED_IN_MATCH.is_final and not OrderStatus.PARTIALLY_FILLED.is_final


def test_margin_type_reads_payload_spellings() -> None:
    # positionRisk/ACCOUNT_UPDATE say "cross"/"isolated"; the marginType request says CROSSED.
    assert MarginType("cross") is MarginType.CROSSED
    assert MarginType("isolated") is MarginType.ISOLATED
    assert MarginType("CROSSED") is MarginType.CROSSED
    with pytest.raises(ValueError):
        MarginType("portfolio")


def test_direction() -> None:
    assert direction(Side.BUY) == direction(PositionSide.LONG) == 1
    assert direction(Side.SELL) == direction(PositionSide.SHORT) == -1
    with pytest.raises(ValueError, match="BOTH"):
        direction(PositionSide.BOTH)


# -- parsing the real payloads -----------------------------------------------------------------


def test_fapi_btcusdt_filters(btcusdt: Instrument) -> None:
    i = btcusdt
    assert (i.market, i.base_asset, i.quote_asset, i.margin_asset) == (
        Market.USDM,
        "BTC",
        "USDT",
        "USDT",
    )
    assert i.contract_size == 1 and not i.is_inverse
    assert (i.price_precision, i.quantity_precision) == (2, 3)
    assert i.price_filter == PriceFilter(D("402"), D("1246396.60"), D("0.10"))
    assert i.lot_size == LotSize(D("0.001"), D("1000"), D("0.001"))
    assert i.market_lot_size == LotSize(D("0.001"), D("1000"), D("0.001"))
    assert i.min_notional == D("10")
    assert i.percent_price is not None
    assert (i.percent_price.multiplier_up, i.percent_price.multiplier_down) == (
        D("1.1"),
        D("0.5454"),
    )
    assert i.percent_price.multiplier_decimal == 4
    assert (i.max_num_orders, i.max_num_algo_orders) == (200, 10)
    assert (i.maint_margin_percent, i.required_margin_percent) == (D("2.5"), D("5"))
    assert (i.liquidation_fee, i.market_take_bound, i.trigger_protect) == (
        D("0.012"),
        D("0.30"),
        D("0.05"),
    )
    assert (i.pair, i.contract_type, i.status) == ("BTCUSDT", "PERPETUAL", "TRADING")
    assert OrderType.TRAILING_STOP_MARKET in i.order_types and TimeInForce.GTX in i.time_in_force


def test_fapi_other_symbols(fapi: dict[str, Instrument]) -> None:
    assert set(fapi) == {"BTCUSDT", "ETHUSDT", "BTCUSDT_220325", "BLZUSDT"}
    eth = fapi["ETHUSDT"]
    assert eth.price_filter.tick_size == D("0.01") and eth.price_filter.min_price == D("28.23")
    assert eth.percent_price is not None and eth.percent_price.multiplier_down == D("0.9")
    assert eth.liquidation_fee == D("0.03") and eth.market_take_bound == D("0.10")
    quarter = fapi["BTCUSDT_220325"]
    assert (quarter.pair, quarter.contract_type) == ("BTCUSDT", "CURRENT_QUARTER")
    assert quarter.price_filter.tick_size == D("0.1") and quarter.lot_size.max_qty == D("500")
    assert quarter.price_precision == 1 and quarter.market_take_bound == D("0.05")


def test_fapi_docs_symbol_has_a_smaller_market_lot(fapi: dict[str, Instrument]) -> None:
    blz = fapi["BLZUSDT"]
    assert blz.lot_size == LotSize(D("1"), D("10000000"), D("1"))
    assert blz.market_lot_size == LotSize(D("1"), D("590119"), D("1"))
    assert blz.lot(OrderType.MARKET) is blz.market_lot_size
    assert blz.lot(OrderType.LIMIT) is blz.lot_size
    assert blz.min_notional == D("5.0") and blz.max_num_algo_orders is None
    assert blz.trigger_protect == D("0.15") and blz.quantity_precision == 0


def test_dapi_btcusd(btcusd: Instrument) -> None:
    i = btcusd
    assert i.market is Market.COINM and i.is_inverse
    assert (i.base_asset, i.quote_asset, i.margin_asset) == ("BTC", "USD", "BTC")
    assert i.contract_size == D("100")
    assert i.status == "TRADING"  # from `contractStatus`
    assert i.price_filter == PriceFilter(D("0.1"), D("100000"), D("0.1"))
    assert i.lot_size == LotSize(D("1"), D("100000"), D("1"))
    assert i.min_notional is None  # COIN-M has no MIN_NOTIONAL filter
    assert i.max_num_algo_orders is None and i.max_num_orders == 200
    assert i.quantity_precision == 0
    assert OrderType.STOP_MARKET not in i.order_types  # the docs example lists five types


def test_round_price_direction(btcusdt: Instrument) -> None:
    p = D("60000.15")
    assert btcusdt.round_price(p, Side.BUY) == D("60000.10")  # a buy never pays more
    assert btcusdt.round_price(p, Side.SELL) == D("60000.20")  # a sell never gets less
    assert btcusdt.round_price(p, Rounding.DOWN) == D("60000.10")
    assert btcusdt.round_price(p, Rounding.UP) == D("60000.20")
    assert btcusdt.round_price(p, Rounding.NEAREST) == D("60000.20")  # tie goes up
    assert btcusdt.round_price(D("60000.14"), Rounding.NEAREST) == D("60000.10")
    on_tick = D("60000.30")
    assert all(btcusdt.round_price(on_tick, h) == on_tick for h in (*Side, *Rounding))
    with pytest.raises(TypeError):
        btcusdt.round_price(p, "BUY")  # type: ignore[arg-type]


def test_round_price_uses_the_grid_through_min_price() -> None:
    # Binance checks (price - minPrice) % tickSize; a minPrice off the tick moves the grid.
    inst = make(tick="0.1", min_price="0.05")
    assert inst.round_price(D("1.00"), Side.BUY) == D("0.95")
    assert inst.round_price(D("1.00"), Side.SELL) == D("1.05")
    assert inst.is_on_tick(D("1.05")) and not inst.is_on_tick(D("1.00"))


def test_round_price_with_a_tick_no_binary_fraction_can_hold() -> None:
    inst = make(tick="0.3")
    assert inst.round_price(D("1.0"), Side.BUY) == D("0.9")
    assert inst.round_price(D("1.0"), Side.SELL) == D("1.2")


def test_round_qty_is_down_to_step_and_market_orders_use_market_lot() -> None:
    inst = make(step="0.001", market_step="0.01")
    assert inst.round_qty(D("0.0129")) == D("0.012")
    assert inst.round_qty(D("0.0129"), OrderType.MARKET) == D("0.01")
    assert inst.round_qty(D("0.0129"), OrderType.STOP_MARKET) == D("0.01")
    assert inst.round_qty(D("0.0004")) == 0  # below one step: nothing to order
    with pytest.raises(ValueError):
        inst.round_qty(D("-1"))


def test_ticks_and_steps(btcusdt: Instrument, btcusd: Instrument) -> None:
    assert btcusdt.price_to_ticks(D("60000.1")) == 600001
    assert btcusdt.ticks_to_price(600001) == D("60000.1")
    assert btcusdt.qty_to_steps(D("0.5")) == 500 and btcusdt.steps_to_qty(500) == D("0.5")
    assert btcusd.qty_to_steps(D("7")) == 7
    with pytest.raises(ValueError, match="not on the tick grid"):
        btcusdt.price_to_ticks(D("60000.15"))
    with pytest.raises(ValueError, match="not on the step grid"):
        btcusdt.qty_to_steps(D("0.0005"))


prices = st.decimals(min_value=D("0.01"), max_value=D("2000000"), places=4)
quantities = st.decimals(min_value=D("0"), max_value=D("5000"), places=6)
ticks = st.sampled_from(["0.1", "0.01", "0.0001", "0.25", "5", "0.3"])


@given(price=prices, tick=ticks, how=st.sampled_from([*Side, *Rounding]))
def test_round_price_lands_on_tick_within_one_tick(price: D, tick: str, how: Side | Rounding) -> None:
    inst = make(tick=tick)
    rounded = inst.round_price(price, how)
    assert inst.is_on_tick(rounded)
    assert inst.ticks_to_price(inst.price_to_ticks(rounded)) == rounded
    assert abs(rounded - price) < D(tick)
    if how in (Side.BUY, Rounding.DOWN):
        assert rounded <= price
    if how in (Side.SELL, Rounding.UP):
        assert rounded >= price


@given(qty=quantities, step=st.sampled_from(["0.001", "1", "0.01", "0.5"]))
def test_round_qty_on_step_and_never_more(qty: D, step: str) -> None:
    inst = make(step=step, min_qty=step)
    rounded = inst.round_qty(qty)
    assert rounded <= qty < rounded + D(step)
    assert rounded == 0 or inst.is_on_step(rounded)


# -- linear vs inverse value -------------------------------------------------------------------


def test_linear_notional_and_pnl(btcusdt: Instrument) -> None:
    # MARGIN.md E1 at the instrument level.
    assert btcusdt.notional(D("0.5"), D("60000")) == D("30000")
    assert btcusdt.quote_value(D("0.5"), D("62500")) == D("31250")
    assert btcusdt.pnl(Side.BUY, D("0.5"), D("60000"), D("62500")) == D("1250")
    assert btcusdt.pnl(PositionSide.SHORT, D("0.5"), D("60000"), D("62500")) == D("-1250")


def test_inverse_notional_and_pnl(btcusd: Instrument) -> None:
    # MARGIN.md E7: 100 contracts of 100 USD, 50,000 -> 55,000.
    q = D("100")
    assert btcusd.notional(q, D("50000")) == D("0.2")
    assert btcusd.notional(q, D("55000")).quantize(D("1e-8")) == D("0.18181818")
    assert btcusd.quote_value(q, D("55000")) == D("10000")  # USD
    assert btcusd.pnl(Side.BUY, q, D("50000"), D("55000")).quantize(D("1e-8")) == D("0.01818182")
    assert btcusd.pnl(Side.SELL, q, D("50000"), D("55000")).quantize(D("1e-8")) == D("-0.01818182")


def test_average_entry(btcusdt: Instrument, btcusd: Instrument) -> None:
    assert btcusdt.average_entry(D("1"), D("60000"), D("3"), D("64000")) == D("63000")
    # Inverse: harmonic, so the coin notional of the sum is the sum of the coin notionals.
    avg = btcusd.average_entry(D("100"), D("50000"), D("100"), D("40000"))
    total = btcusd.notional(D("100"), D("50000")) + btcusd.notional(D("100"), D("40000"))
    assert abs(btcusd.notional(D("200"), avg) - total) < D("1e-20")


@given(qty=quantities, a=prices, b=prices)
def test_pnl_round_trip_is_antisymmetric(qty: D, a: D, b: D) -> None:
    for inst in (make(), make_inverse()):
        long_ab = inst.pnl(Side.BUY, qty, a, b)
        assert long_ab == -inst.pnl(Side.SELL, qty, a, b)
        assert long_ab == -inst.pnl(Side.BUY, qty, b, a)


@given(qty=quantities, a=prices, b=prices)
def test_signed_pnl_is_pnl_of_the_signed_quantity_to_the_digit(qty: D, a: D, b: D) -> None:
    """Positions are valued from their signed amount (signed_pnl) on the hot paths: the very
    Decimal pnl(side, size) gives, exponent included (summaries print it). An open position's
    amount is never 0 (the callers return 0 first), and -1 * 0 is -0 where -(0) is 0."""
    assume(qty != 0)
    for inst in (make(), make_inverse()):
        for side, amount in ((Side.BUY, qty), (PositionSide.LONG, qty), (Side.SELL, -qty), (PositionSide.SHORT, -qty)):
            assert str(inst.signed_pnl(amount, a, b)) == str(inst.pnl(side, qty, a, b))


def make_inverse() -> Instrument:
    lot = LotSize(D("1"), D("100000"), D("1"))
    return Instrument(
        symbol="BTCUSD_PERP",
        market=Market.COINM,
        base_asset="BTC",
        quote_asset="USD",
        margin_asset="BTC",
        price_filter=PriceFilter(D("0.1"), D("0"), D("0.1")),
        lot_size=lot,
        market_lot_size=lot,
        contract_size=D("100"),
    )


# -- filter checks -----------------------------------------------------------------------------


def limit(inst: Instrument, side: Side, qty: str, price: str, **kw: Any) -> list[Violation]:
    return check_order(
        inst,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        price=D(price),
        mark_price=kw.pop("mark_price", MARK),
        time_in_force=kw.pop("time_in_force", "GTC"),
        **kw,
    )


def test_valid_orders_pass(btcusdt: Instrument) -> None:
    assert limit(btcusdt, Side.BUY, "0.010", "59000.10") == []
    market = check_order(btcusdt, side=Side.SELL, order_type=OrderType.MARKET, quantity=D("0.5"), mark_price=MARK)
    assert market == []


def test_price_filter_codes(btcusdt: Instrument) -> None:
    assert codes(limit(btcusdt, Side.BUY, "0.01", "60000.15")) == [-4014]
    assert codes(limit(btcusdt, Side.BUY, "0.01", "60000.123")) == [-1111]  # > pricePrecision
    assert codes(limit(btcusdt, Side.BUY, "0.1", "401.9")) == [-4013]
    assert codes(limit(btcusdt, Side.SELL, "0.01", "1246396.70", mark_price=D("1200000"))) == [-4002]
    assert codes(limit(btcusdt, Side.BUY, "0.01", "0")) == [-4001]
    stop = check_order(
        btcusdt,
        side=Side.SELL,
        order_type=OrderType.STOP_MARKET,
        quantity=D("0.01"),
        stop_price=D("2000000"),
        mark_price=MARK,
    )
    assert [(v.code, v.field) for v in stop] == [(-4007, "stopPrice")]
    assert stop[0].message == "Stop price greater than max price."


def test_quantity_codes(btcusdt: Instrument, fapi: dict[str, Instrument], payload: Any) -> None:
    zero = limit(btcusdt, Side.BUY, "0", "60000")
    assert codes(zero) == [-4003]
    assert zero[0].message == payload("rest_error_-4003.json")["msg"]
    assert codes(limit(btcusdt, Side.BUY, "1000.001", "60000")) == [-4005]
    assert codes(limit(btcusdt, Side.BUY, "0.0015", "60000")) == [-1111]  # > quantityPrecision
    coarse = make(step="0.002", min_qty="0.01")
    assert codes(limit(coarse, Side.BUY, "0.011", "60000")) == [-4023]
    assert codes(limit(coarse, Side.BUY, "0.008", "60000")) == [-4004]
    blz = fapi["BLZUSDT"]
    market = check_order(blz, side=Side.BUY, order_type=OrderType.MARKET, quantity=D("600000"), mark_price=D("1"))
    assert [(v.code, v.filter) for v in market] == [(-4005, "MARKET_LOT_SIZE")]
    assert limit(blz, Side.BUY, "600000", "0.1", mark_price=D("0.1")) == []


def test_min_notional_at_order_price_for_limits_and_mark_for_market(
    btcusdt: Instrument, fapi: dict[str, Instrument], payload: Any
) -> None:
    # 0.001 BTC: 9 USDT at 9,000, 11 USDT at 11,000; the limit is 10 USDT.
    small = limit(btcusdt, Side.BUY, "0.001", "9000")
    assert codes(small) == [-4164]
    assert small[0].message.startswith("Order's notional must be no smaller than 10 ")
    assert limit(btcusdt, Side.SELL, "0.001", "11000", mark_price=D("9000")) == []
    assert limit(btcusdt, Side.SELL, "0.001", "9000", reduce_only=True, mark_price=D("9000")) == []

    def market(mark: str) -> list[int]:
        return codes(
            check_order(
                btcusdt,
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=D("0.001"),
                mark_price=D(mark),
            )
        )

    assert market("9000") == [-4164]
    assert market("11000") == []
    # The printed limit matches Binance's real message ("5", although the filter says "5.0").
    blz = limit(fapi["BLZUSDT"], Side.BUY, "4", "1.0", mark_price=D("1"))
    assert [(v.code, v.message) for v in blz] == [(-4164, payload("rest_error_-4164.json")["msg"])]


def test_a_repeated_order_is_checked_as_the_first_on_its_own_instrument() -> None:
    # The order's own checks are remembered by its terms (order_filters._OWN): the answer must be
    # the instrument's, whatever an equal order on another one or an equal Decimal got before.
    fine, coarse = make(step="0.001", min_qty="0.01"), make(step="0.002", min_qty="0.01")
    for qty in ("0.011", "0.0110", "0.011"):
        assert limit(fine, Side.BUY, qty, "60000") == []
        assert codes(limit(coarse, Side.BUY, qty, "60000")) == [-4023]
    assert codes(limit(fine, Side.BUY, "0.0110", "60000.15")) == [-4014]
    assert codes(limit(fine, Side.BUY, "0.0110", "60000.1")) == []
    # What the market or the account decides is never remembered: the open orders count here.
    full = make(max_num_orders=2)
    assert limit(full, Side.BUY, "0.011", "60000", open_orders=1) == []
    assert codes(limit(full, Side.BUY, "0.011", "60000", open_orders=2)) == [-2025]


def test_coin_m_has_no_min_notional(btcusd: Instrument) -> None:
    assert limit(btcusd, Side.BUY, "1", "100.0", mark_price=D("100")) == []


def test_percent_price_band(btcusdt: Instrument) -> None:
    # BTCUSDT: up 1.1, down 0.5454 -> with mark 60,000 a buy may bid 66,000, a sell ask 32,724.
    assert limit(btcusdt, Side.BUY, "0.01", "66000.0") == []
    assert codes(limit(btcusdt, Side.BUY, "0.01", "66000.1")) == [-4016]
    assert limit(btcusdt, Side.SELL, "0.01", "32724.0") == []
    assert codes(limit(btcusdt, Side.SELL, "0.01", "32723.9")) == [-4024]
    # A sell above or a buy below the mark is never outside the band.
    assert limit(btcusdt, Side.SELL, "0.01", "90000.0") == []
    assert limit(btcusdt, Side.BUY, "0.01", "20000.0") == []


def test_order_type_tif_and_mandatory_params(
    btcusdt: Instrument, btcusd: Instrument, fapi: dict[str, Instrument]
) -> None:
    stop_market = check_order(
        btcusd,
        side=Side.SELL,
        order_type=OrderType.STOP_MARKET,
        quantity=D("1"),
        stop_price=D("9000"),
        mark_price=D("10000"),
    )
    assert codes(stop_market) == [-1116]  # the dapi docs example does not list STOP_MARKET
    assert codes(limit(btcusdt, Side.BUY, "0.01", "60000", time_in_force="GTD")) == [-1115]
    no_price = check_order(btcusdt, side=Side.BUY, order_type=OrderType.LIMIT, quantity=D("0.01"), mark_price=MARK)
    assert [(v.code, v.message) for v in no_price] == [
        (-1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
    ]
    close_all = check_order(
        btcusdt,
        side=Side.SELL,
        order_type=OrderType.STOP_MARKET,
        quantity=None,
        stop_price=D("55000"),
        mark_price=MARK,
        close_position=True,
    )
    assert close_all == []


def test_open_order_limits(btcusdt: Instrument) -> None:
    assert codes(limit(btcusdt, Side.BUY, "0.01", "60000", open_orders=199)) == []
    assert codes(limit(btcusdt, Side.BUY, "0.01", "60000", open_orders=200)) == [-2025]
    stop = check_order(
        btcusdt,
        side=Side.SELL,
        order_type=OrderType.STOP_MARKET,
        quantity=D("0.01"),
        stop_price=D("55000"),
        mark_price=MARK,
        open_algo_orders=10,
    )
    assert codes(stop) == [-4045]


def test_every_violation_is_reported_not_only_the_first(btcusdt: Instrument) -> None:
    found = limit(btcusdt, Side.BUY, "0.0001", "100.05", time_in_force="GTD")
    assert sorted(codes(found)) == sorted([-1115, -4013, -4014, -4004, -1111, -4164])
    assert all(str(v).startswith(str(v.code)) for v in found)


# The codes `check_order` predicts (the rest of the table is checked in tests/exchange_sim/test_errors.py).
FILTER_CODES = (
    -1102,
    -1111,
    -1115,
    -1116,
    -2025,
    -4001,
    -4002,
    -4003,
    -4004,
    -4005,
    -4006,
    -4007,
    -4013,
    -4014,
    -4016,
    -4023,
    -4024,
    -4045,
    -4164,
)


def test_messages_are_the_ones_facts_md_lists(facts_errors: dict[int, str]) -> None:
    assert len(facts_errors) > 50  # the table was found
    for code in FILTER_CODES:
        message = REJECT_MESSAGES[code]
        if code in (-4001, -4002, -4006, -4007):  # not in FACTS §8; Binance's error-code page
            assert code not in facts_errors
            continue
        listed = facts_errors[code]
        if code == -4003:  # FACTS gives the docs wording and notes the live one we use
            assert "Quantity less than or equal to zero." in listed
            continue
        # FACTS drops the final period of -4164 that the real server sends.
        assert message.rstrip(".") == listed.rstrip("."), code
