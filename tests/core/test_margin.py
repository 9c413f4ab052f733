"""Margin math against MARGIN.md's worked examples E1-E10 and the real bracket payloads."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rulebot.binance.payloads.account import fee_rates_from_payload
from rulebot.binance.payloads.exchange_info import InstrumentParseError
from rulebot.core.enums import MarginType, PositionSide, Side
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates, break_even_price, funding_fee, funding_rate, trading_fee
from rulebot.core.instruments import Instrument
from rulebot.core.margin import (
    Bracket,
    BracketTable,
    Position,
    UnderMaintenanceError,
    initial_margin,
    liquidation_price,
    margin_balance,
    margin_ratio,
    roe,
    unrealized_pnl,
)

ISOLATED, CROSSED = MarginType.ISOLATED, MarginType.CROSSED


def usd(value: D) -> D:
    """MARGIN.md's display rounding for USDT/USD amounts: half-up to 0.01."""
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def coin(value: D) -> D:
    """MARGIN.md's display rounding for coin amounts: half-up to 1e-8."""
    return value.quantize(D("1e-8"), rounding=ROUND_HALF_UP)


def liq(
    inst: Instrument,
    table: BracketTable,
    legs: list[Position],
    wallet: str | D,
    margin_type: MarginType,
    **kw: Any,
) -> D:
    price = liquidation_price(inst, table, legs, D(wallet), margin_type=margin_type, **kw)
    assert price is not None
    return price


def equity_at(inst: Instrument, legs: list[Position], wallet: D, price: D) -> D:
    return wallet + sum((unrealized_pnl(inst, p, price) for p in legs), D(0))


def mm_at(inst: Instrument, table: BracketTable, legs: list[Position], price: D) -> D:
    return sum((table.maintenance_margin(inst.notional(p.size, price)) for p in legs), D(0))


# -- brackets ----------------------------------------------------------------------------------


def test_btcusdt_brackets_parse_as_margin_md_prints_them(btcusdt_brackets: BracketTable) -> None:
    t = btcusdt_brackets
    assert [b.bracket for b in t.brackets] == list(range(1, 13))
    assert t.brackets[0] == Bracket(1, 125, D(0), D(50000), D("0.004"), D(0))
    assert t.brackets[2] == Bracket(3, 75, D(600000), D(3000000), D("0.0065"), D(950))
    assert t.brackets[-1] == Bracket(12, 1, D(1200000000), D(1800000000), D("0.5"), D(421481450))
    assert t.notional_coef is None


def test_cum_makes_maintenance_margin_continuous(btcusdt_brackets: BracketTable) -> None:
    # MARGIN.md §2: cum_n = cum_(n-1) + floor_n * (MMR_n - MMR_(n-1)), checked on real data.
    bs = btcusdt_brackets.brackets
    for prev, cur in itertools.pairwise(bs):
        assert cur.cum == prev.cum + cur.notional_floor * (cur.maint_margin_ratio - prev.maint_margin_ratio)
        edge = cur.notional_floor
        assert edge * prev.maint_margin_ratio - prev.cum == edge * cur.maint_margin_ratio - cur.cum


def test_bracket_lookup_boundaries(btcusdt_brackets: BracketTable) -> None:
    t = btcusdt_brackets
    assert t.for_notional(D(0)).bracket == 1
    assert t.for_notional(D("49999.99")).bracket == 1
    assert t.for_notional(D(50000)).bracket == 2  # floor inclusive, cap exclusive (MARGIN.md)
    assert t.for_notional(D(-750000)).bracket == 3  # sign does not matter
    assert t.for_notional(D(10) ** 12).bracket == 12  # beyond the last cap: last bracket's rate
    assert t.max_leverage(D(750000)) == 75


def test_max_notional_at_leverage(
    btcusdt_brackets: BracketTable, btcusd_brackets: BracketTable, payload: Callable[[str], Any]
) -> None:
    t = btcusdt_brackets
    assert t.max_notional(125) == D(50000)
    assert t.max_notional(100) == D(600000)
    assert t.max_notional(20) == D(100000000)
    assert t.max_notional(1) == D(1800000000)
    for bad in (0, 126):
        with pytest.raises(ValueError, match="leverage"):
            t.max_notional(bad)
    # dapi: positionRisk reports maxQty "50" (coin) at leverage 125 = bracket 1's qtyCap.
    risk = payload("rest_dapi_v1_positionRisk.json")[1]
    assert btcusd_brackets.max_notional(int(risk["leverage"])) == D(risk["maxQty"])


def test_e1_linear_long(btcusdt: Instrument) -> None:
    long = Position(D("0.5"), D("60000"))
    entry_notional = btcusdt.notional(long.size, long.entry_price)
    mark_notional = btcusdt.notional(long.size, D("62500"))
    assert usd(entry_notional) == D("30000.00")
    assert usd(mark_notional) == D("31250.00")
    assert usd(unrealized_pnl(btcusdt, long, D("62500"))) == D("1250.00")
    assert usd(initial_margin(entry_notional, 20)) == D("1500.00")
    assert usd(initial_margin(mark_notional, 20)) == D("1562.50")
    rates = FeeRates(maker=D("0.0002"), taker=D("0.0005"))
    assert rates == DEFAULT_FEE_RATES
    assert usd(trading_fee(btcusdt, long.size, D("60000"), rates.rate(is_maker=False))) == D("15.00")
    assert usd(trading_fee(btcusdt, long.size, D("60000"), rates.rate(is_maker=True))) == D("6.00")
    short = Position(D("-0.5"), D("60000"))
    assert usd(unrealized_pnl(btcusdt, short, D("62500"))) == D("-1250.00")
    # ROE as Binance shows it: PnL over the initial margin at mark, 1,250 / 1,562.50.
    assert roe(btcusdt, long, D("62500"), 20) == D("0.8")


def test_e2_maintenance_margin_across_brackets(btcusdt_brackets: BracketTable) -> None:
    t = btcusdt_brackets
    assert usd(t.maintenance_margin(D("31250"))) == D("125.00")
    assert usd(t.maintenance_margin(D("750000"))) == D("3925.00")
    slices = D(50000) * D("0.004") + D(550000) * D("0.005") + D(150000) * D("0.0065")
    assert t.maintenance_margin(D("750000")) == slices


def test_e3_cross_margin_ratio(btcusdt: Instrument, btcusdt_brackets: BracketTable) -> None:
    long = Position(D("0.5"), D("60000"))
    mark = D("62500")
    balance = margin_balance(D("2000"), [unrealized_pnl(btcusdt, long, mark)])
    assert usd(balance) == D("3250.00")
    ratio = margin_ratio(btcusdt_brackets.maintenance_margin(btcusdt.notional(long.size, mark)), balance)
    assert usd(ratio * 100) == D("3.85")
    assert (ratio * 100).quantize(D("0.0001")) == D("3.8462")
    assert margin_ratio(D("1"), D("0")) == D("Infinity")


# -- E4-E6, E8, E10: liquidation price ---------------------------------------------------------


def test_e4_isolated_long(btcusdt: Instrument, btcusdt_brackets: BracketTable) -> None:
    legs = [Position(D("0.5"), D("60000"))]
    lp = liq(btcusdt, btcusdt_brackets, legs, "1500", ISOLATED)
    assert usd(lp) == D("57228.92")
    assert lp == D(-28500) / D("-0.498")
    assert usd(btcusdt.notional(D("0.5"), lp)) == D("28614.46")
    assert btcusdt_brackets.for_notional(btcusdt.notional(D("0.5"), lp)).bracket == 1
    assert usd(equity_at(btcusdt, legs, D(1500), lp)) == usd(mm_at(btcusdt, btcusdt_brackets, legs, lp)) == D("114.46")


def test_e5_cross_short_needs_the_bracket_at_the_liquidation_price(
    btcusdt: Instrument, btcusdt_brackets: BracketTable
) -> None:
    legs = [Position(D("-2"), D("60000"))]
    lp = liq(btcusdt, btcusdt_brackets, legs, "10000", CROSSED)
    assert usd(lp) == D("64701.49")
    assert lp == D(130050) / D("2.010")
    # MARGIN.md's first try with bracket 1 gives 64,741.04, whose notional is in bracket 2.
    first_try = D(130000) / D("2.008")
    assert usd(first_try) == D("64741.04")
    assert btcusdt_brackets.for_notional(2 * first_try).bracket == 2


def test_bracket_iteration_moves_down_from_the_entry_bracket(
    btcusdt: Instrument, btcusdt_brackets: BracketTable
) -> None:
    # 1 BTC @ 60,000 starts in bracket 2 (60,000 notional) but its liquidation notional is
    # under 50,000: the answer must use bracket 1's (0.004, 0), not bracket 2's (0.005, 50).
    legs = [Position(D("1"), D("60000"))]
    lp = liq(btcusdt, btcusdt_brackets, legs, "12000", ISOLATED)
    assert lp == D(-48000) / D("-0.996")
    assert lp != (D(12050) - D(60000)) / D("-0.995")
    assert equity_at(btcusdt, legs, D(12000), lp) - mm_at(btcusdt, btcusdt_brackets, legs, lp) < D("1e-20")


def test_a_consistent_price_is_found_where_iterating_from_the_entry_bracket_stops(
    btcusdt: Instrument, btcusdt_brackets: BracketTable
) -> None:
    # Nearly 1x: 1 BTC @ 60,000 with 59,990 isolated. The entry bracket (2: 0.005, 50) gives
    # (59,990 + 50 - 60,000) / (0.005 - 1) < 0, where MARGIN.md's iteration would stop at "no
    # price"; bracket 1 gives 10 / 0.996 = 10.04, whose notional is in bracket 1: consistent.
    legs = [Position(D("1"), D("60000"))]
    assert (D(59990) + 50 - 60000) / (D("0.005") - 1) < 0
    lp = liq(btcusdt, btcusdt_brackets, legs, "59990", ISOLATED)
    assert lp == D(-10) / D("-0.996") and usd(lp) == D("10.04")


def test_hedge_pair_with_two_liquidation_prices_returns_the_nearest(
    btcusdt: Instrument, btcusdt_brackets: BracketTable
) -> None:
    # Long 1 and short 0.9 BTC: the net long is liquidated on a fall, and at an absurd price
    # the maintenance margin of both legs (rate up to 0.5 each) outgrows the net long's gain.
    legs = [
        Position(D("1"), D("60000"), PositionSide.LONG),
        Position(D("-0.9"), D("60000"), PositionSide.SHORT),
    ]
    near = liq(btcusdt, btcusdt_brackets, legs, "1000", CROSSED)
    far = liq(btcusdt, btcusdt_brackets, legs, "1000", CROSSED, mark_price=D(10) ** 9)
    assert usd(near) == D("54157.55") and far > D(10) ** 8
    assert near == liq(btcusdt, btcusdt_brackets, legs, "1000", CROSSED, mark_price=D(60000))
    for lp in (near, far):
        gap = equity_at(btcusdt, legs, D(1000), lp) - mm_at(btcusdt, btcusdt_brackets, legs, lp)
        assert abs(gap) < D("1e-15")


def test_under_maintenance_at_every_price_is_an_error(btcusdt: Instrument, btcusdt_brackets: BracketTable) -> None:
    # A short on a wallet already 70,000 in debt is below maintenance even at a price of ~0.
    legs = [Position(D("-1"), D("60000"))]
    with pytest.raises(UnderMaintenanceError, match="being liquidated"):
        liquidation_price(btcusdt, btcusdt_brackets, legs, D(-70000), margin_type=CROSSED)


def test_e6_hedge_cross_both_sides(btcusdt: Instrument, btcusdt_brackets: BracketTable) -> None:
    legs = [
        Position(D("1"), D("60000"), PositionSide.LONG),
        Position(D("-0.4"), D("62000"), PositionSide.SHORT),
    ]
    lp = liq(btcusdt, btcusdt_brackets, legs, "5000", CROSSED)
    assert usd(lp) == D("50808.90")
    assert btcusdt_brackets.for_notional(lp).bracket == 2
    assert btcusdt_brackets.for_notional(D("0.4") * lp).bracket == 1
    # The (1, 1) try of MARGIN.md: 50,807.54, with the LONG notional already in bracket 2.
    first_try = (D(5000) - D(60000) + D("0.4") * D(62000)) / (D("0.004") + D("0.4") * D("0.004") - 1 + D("0.4"))
    assert usd(first_try) == D("50807.54")
    assert abs(equity_at(btcusdt, legs, D(5000), lp) - mm_at(btcusdt, btcusdt_brackets, legs, lp)) < D("1e-18")


def test_e8_coin_m_isolated_long(btcusd: Instrument, btcusd_brackets: BracketTable) -> None:
    legs = [Position(D("100"), D("50000"))]
    lp = liq(btcusd, btcusd_brackets, legs, "0.02", ISOLATED)
    assert usd(lp) == D("45636.36")
    assert lp == D(10040) / D("0.22")
    equity = equity_at(btcusd, legs, D("0.02"), lp)
    assert coin(equity) == coin(mm_at(btcusd, btcusd_brackets, legs, lp)) == D("0.00087649")


def test_e10_reproduces_binance_liquidation_prices(
    btcusdt: Instrument, btcusdt_brackets: BracketTable, payload: Callable[[str], Any]
) -> None:
    risk = {p["positionSide"]: p for p in payload("rest_fapi_v2_positionRisk_hedge.json")}
    update = {p["ps"]: p for p in payload("ws_ACCOUNT_UPDATE.json")["a"]["P"]}
    # 2020-era bracket 2 of BTCUSDT as MARGIN.md E10 uses it; today's table has the same
    # (0.005, 50) for these notionals, so both must give Binance's figures.
    era_2020 = BracketTable("BTCUSDT", (Bracket(2, 100, D(0), D(10) ** 9, D("0.005"), D(50)),))
    for side in (PositionSide.LONG, PositionSide.SHORT):
        r, u = risk[side], update[side]
        wallet = D(r["isolatedMargin"]) - D(r["unRealizedProfit"])
        assert wallet == D(u["iw"])
        # positionRisk's SHORT entry is "0.00000" in this docs example; ACCOUNT_UPDATE has it.
        leg = Position(D(r["positionAmt"]), D(u["ep"]), side)
        for table in (era_2020, btcusdt_brackets):
            lp = liq(btcusdt, table, [leg], wallet, ISOLATED)
            assert usd(lp) == D(r["liquidationPrice"])
    assert risk[PositionSide.SHORT]["entryPrice"] == "0.00000"


def test_no_liquidation_price(
    btcusdt: Instrument,
    btcusdt_brackets: BracketTable,
    btcusd: Instrument,
    btcusd_brackets: BracketTable,
) -> None:
    # A fully collateralised 1x linear long can only reach zero: no liquidation price.
    one_x = [Position(D("0.5"), D("60000"))]
    assert liquidation_price(btcusdt, btcusdt_brackets, one_x, D(30000), margin_type=ISOLATED) is None
    # An inverse short backed by more coin than its notional cannot lose it all.
    short = [Position(D("-100"), D("50000"))]
    assert liquidation_price(btcusd, btcusd_brackets, short, D("0.3"), margin_type=ISOLATED) is None
    assert liquidation_price(btcusdt, btcusdt_brackets, [], D(1), margin_type=CROSSED) is None


def test_liquidation_price_refuses_impossible_inputs(btcusdt: Instrument, btcusdt_brackets: BracketTable) -> None:
    long = Position(D("1"), D("60000"), PositionSide.LONG)
    short = Position(D("-1"), D("60000"), PositionSide.SHORT)
    with pytest.raises(ValueError, match="isolated"):
        liquidation_price(btcusdt, btcusdt_brackets, [long, short], D(1000), margin_type=ISOLATED)
    with pytest.raises(ValueError, match="isolated"):
        liquidation_price(
            btcusdt,
            btcusdt_brackets,
            [long],
            D(1000),
            margin_type=ISOLATED,
            other_maint_margin=D(1),
        )
    with pytest.raises(ValueError, match="one BOTH"):
        liquidation_price(btcusdt, btcusdt_brackets, [long, Position(D(1), D(1))], D(1), margin_type=CROSSED)
    with pytest.raises(ValueError, match="LONG"):
        Position(D("-1"), D("60000"), PositionSide.LONG)


def test_cross_uses_other_positions(btcusdt: Instrument, btcusdt_brackets: BracketTable) -> None:
    legs = [Position(D("0.5"), D("60000"))]
    alone = liq(btcusdt, btcusdt_brackets, legs, "3000", CROSSED)
    # Another symbol's MM eats margin (liquidation nearer); its profit adds margin (further).
    assert liq(btcusdt, btcusdt_brackets, legs, "3000", CROSSED, other_maint_margin=D(100)) > alone
    assert liq(btcusdt, btcusdt_brackets, legs, "3000", CROSSED, other_unrealized_pnl=D(100)) < alone


# -- liquidation properties --------------------------------------------------------------------

entries = st.decimals(min_value=D("1000"), max_value=D("200000"), places=1)
leverages = st.integers(min_value=2, max_value=100)


@settings(max_examples=200, deadline=None)
@given(
    entry=entries,
    size=st.decimals(min_value=D("0.001"), max_value=D("5000"), places=3),
    leverage=leverages,
    is_long=st.booleans(),
)
def test_linear_isolated_liquidation_is_where_equity_meets_maintenance(
    btcusdt: Instrument,
    btcusdt_brackets: BracketTable,
    entry: D,
    size: D,
    leverage: int,
    is_long: bool,
) -> None:
    notional = btcusdt.notional(size, entry)
    assume(leverage <= btcusdt_brackets.max_leverage(notional))  # Binance refuses the rest
    qty = size if is_long else -size
    legs = [Position(qty, entry)]
    wallet = initial_margin(notional, leverage)
    lp = liquidation_price(btcusdt, btcusdt_brackets, legs, wallet, margin_type=ISOLATED)
    assert lp is not None
    assert (lp < entry) if is_long else (lp > entry)  # leverage > 1: liquidated before zero
    gap = equity_at(btcusdt, legs, wallet, lp) - mm_at(btcusdt, btcusdt_brackets, legs, lp)
    assert abs(gap) <= D("1e-12") * max(D(1), btcusdt.notional(size, entry))


@settings(max_examples=200, deadline=None)
@given(entry=entries, contracts=st.integers(1, 5000), leverage=leverages, is_long=st.booleans())
def test_inverse_isolated_liquidation_is_where_equity_meets_maintenance(
    btcusd: Instrument, entry: D, contracts: int, leverage: int, is_long: bool
) -> None:
    table = BracketTable(
        "BTCUSD_PERP",
        (
            Bracket(1, 125, D(0), D(5), D("0.004"), D(0)),
            Bracket(2, 100, D(5), D(10), D("0.005"), D("0.005")),
            Bracket(3, 50, D(10), D(10) ** 6, D("0.01"), D("0.055")),
        ),
    )
    notional = btcusd.notional(D(contracts), entry)
    assume(leverage <= table.max_leverage(notional))
    qty = D(contracts) if is_long else -D(contracts)
    legs = [Position(qty, entry)]
    wallet = initial_margin(notional, leverage)
    lp = liquidation_price(btcusd, table, legs, wallet, margin_type=ISOLATED)
    if lp is None:
        assert not is_long  # only an inverse short can be beyond reach
        return
    assert (lp < entry) if is_long else (lp > entry)
    gap = equity_at(btcusd, legs, wallet, lp) - mm_at(btcusd, table, legs, lp)
    assert abs(gap) <= D("1e-18")


@settings(max_examples=200, deadline=None)
@given(
    long_size=st.decimals(min_value=D("0.001"), max_value=D("500"), places=3),
    short_size=st.decimals(min_value=D("0.001"), max_value=D("500"), places=3),
    long_entry=entries,
    short_entry=entries,
    wallet=st.decimals(min_value=D("100"), max_value=D("10000000"), places=2),
)
def test_hedge_cross_liquidation_balances_both_legs(
    btcusdt: Instrument,
    btcusdt_brackets: BracketTable,
    long_size: D,
    short_size: D,
    long_entry: D,
    short_entry: D,
    wallet: D,
) -> None:
    legs = [
        Position(long_size, long_entry, PositionSide.LONG),
        Position(-short_size, short_entry, PositionSide.SHORT),
    ]
    try:
        lp = liquidation_price(btcusdt, btcusdt_brackets, legs, wallet, margin_type=CROSSED)
    except UnderMaintenanceError:
        for price in (D(1), long_entry, short_entry, D(10) ** 6, D(10) ** 9):
            assert equity_at(btcusdt, legs, wallet, price) < mm_at(btcusdt, btcusdt_brackets, legs, price)
        return
    if lp is None:  # never liquidated: safe at every price
        for price in (D(1), long_entry, short_entry, D(10) ** 6, D(10) ** 9):
            assert equity_at(btcusdt, legs, wallet, price) > mm_at(btcusdt, btcusdt_brackets, legs, price)
        return
    gap = equity_at(btcusdt, legs, wallet, lp) - mm_at(btcusdt, btcusdt_brackets, legs, lp)
    assert abs(gap) <= D("1e-12") * (long_size * long_entry + short_size * short_entry)


# -- E9 and fees: funding, rates, break-even ---------------------------------------------------


def test_e9_funding(btcusdt: Instrument, btcusd: Instrument) -> None:
    long_pays = funding_fee(btcusdt, D("0.5"), D("62500"), D("0.0001"))
    assert long_pays == D("-3.125") and usd(-long_pays) == D("3.13")
    assert funding_fee(btcusdt, D("-0.5"), D("62500"), D("0.0001")) == D("3.125")
    assert funding_fee(btcusdt, D("0.5"), D("62500"), D("-0.0001")) == D("3.125")  # shorts pay
    # COIN-M: contracts * size / mark * rate, in coin.
    assert funding_fee(btcusd, D("100"), D("50000"), D("0.0001")) == D("-0.00002")
    interest = D("0.0001")
    assert funding_rate(D("0.0003"), interest) == D("0.0001")
    assert funding_rate(D("0.001"), interest) == D("0.0005")
    assert funding_rate(D("-0.0002"), interest) == D("0.0001")
    assert funding_rate(D("0.01"), interest, cap=D("0.003")) == D("0.003")
    assert funding_rate(D("-0.01"), interest, floor=D("-0.003")) == D("-0.003")


def test_funding_on_the_premium_index_payload(btcusdt: Instrument, payload: Callable[[str], Any]) -> None:
    p = payload("rest_fapi_v1_premiumIndex.json")
    fee = funding_fee(btcusdt, D("1"), D(p["markPrice"]), D(p["lastFundingRate"]))
    assert fee == -D("11793.63104562") * D("0.00038246")


def test_fee_rates_from_commission_payloads(payload: Callable[[str], Any]) -> None:
    assert fee_rates_from_payload(payload("rest_fapi_v1_commissionRate.json")) == FeeRates(D("0.0002"), D("0.0004"))
    assert fee_rates_from_payload(payload("rest_dapi_v1_commissionRate.json")) == FeeRates(D("0.00015"), D("0.0004"))
    with pytest.raises(InstrumentParseError):
        fee_rates_from_payload({"symbol": "BTCUSDT"})


def test_e7_coin_m_fee(btcusd: Instrument) -> None:
    assert coin(trading_fee(btcusd, D("100"), D("50000"), D("0.0005"))) == D("0.00010000")


def test_break_even_price_linear_long_matches_margin_md(btcusdt: Instrument) -> None:
    f = D("0.0005")
    assert break_even_price(btcusdt, Side.BUY, D("60000"), f, f) == D("60000") * (1 + f) / (1 - f)
    assert break_even_price(btcusdt, Side.BUY, D("60000"), f, D(0)) == D("60030")


@given(
    entry=entries,
    open_rate=st.sampled_from([D(0), D("0.0002"), D("0.0005")]),
    close_rate=st.sampled_from([D(0), D("0.0002"), D("0.0005")]),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_break_even_price_pays_both_fees(
    btcusdt: Instrument, btcusd: Instrument, entry: D, open_rate: D, close_rate: D, side: Side
) -> None:
    for inst, qty in ((btcusdt, D("0.5")), (btcusd, D("100"))):
        exit_ = break_even_price(inst, side, entry, open_rate, close_rate)
        fees = trading_fee(inst, qty, entry, open_rate) + trading_fee(inst, qty, exit_, close_rate)
        assert abs(inst.pnl(side, qty, entry, exit_) - fees) < D("1e-18")
