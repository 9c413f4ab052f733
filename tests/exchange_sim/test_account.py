"""Wallet, positions and settings: fees and realized PnL to the last digit (linear and
inverse), average entry, flips, hedge mode, isolated vs cross, leverage and mode commands."""

from __future__ import annotations

from decimal import Decimal as D

from rulebot.core.account_events import LeverageChanged
from rulebot.core.commands import SetLeverage, SetMarginType, SetPositionMode
from rulebot.core.enums import MarginType, PositionSide, Side
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates

from .conftest import BTCUSD, BTCUSDT, ZERO_FEES, accounts, book, coinm, limit, market, trades, usdm

BUY, SELL = Side.BUY, Side.SELL
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
ISOLATED, CROSSED = MarginType.ISOLATED, MarginType.CROSSED


def test_linear_fees_and_realized_pnl_margin_md_e1() -> None:
    # E1: 0.5 BTC long at 60,000; taker 0.05 % -> 15.00 to open. Close at 62,500 as maker.
    sim = usdm()
    book(sim, "59999.9", "60000")
    opened = trades(sim.execute(market("open", BUY, "0.5"), 1).events)[0]
    assert (opened.commission, opened.commission_asset, opened.realized_pnl) == (
        D("15.0000"),
        "USDT",
        D(0),
    )
    sim.execute(limit("close", SELL, "0.5", "62500", reduce_only=True), 2)
    closed = trades(sim.on_trade(BTCUSDT, D("62500.1"), D("1"), 3, False))[0]
    assert closed.is_maker
    assert closed.realized_pnl == D("1250.0")  # 0.5 * (62,500 - 60,000)
    assert closed.commission == D("6.250000")  # 31,250 * 0.0002
    (balance,) = sim.balances()
    assert balance.wallet_balance == D("10000") - D("15") + D("1250") - D("6.25")
    assert sim.ledger("USDT").realized_pnl == D("1250")
    assert sim.ledger("USDT").commission == D("21.25")


def test_inverse_fees_and_realized_pnl_margin_md_e7() -> None:
    # E7: 100 contracts BTCUSD (100 USD each), long 50,000 -> 55,000, taker 0.05 %.
    sim = coinm()
    sim.on_book(BTCUSD, D("49999.9"), D("1000"), D("50000"), D("1000"), 0)
    opened = trades(sim.execute(market("open", BUY, "100", symbol=BTCUSD), 1).events)[0]
    assert opened.commission == D("0.0001")  # 0.2 BTC * 0.0005
    assert opened.commission_asset == "BTC"
    sim.on_book(BTCUSD, D("55000"), D("1000"), D("55000.1"), D("1000"), 2)
    closed = trades(sim.execute(market("close", SELL, "100", symbol=BTCUSD), 3).events)[0]
    # Booked amounts carry 8 decimals, like Binance's: 0.0181818181... -> 0.01818182 (E7).
    assert closed.realized_pnl == D("0.01818182")
    assert closed.commission == D("0.00009091")  # 0.18181818... BTC * 0.0005
    (balance,) = sim.balances()
    assert balance.asset == "BTC"
    assert balance.wallet_balance == D(1) - D("0.0001") + closed.realized_pnl - closed.commission


def test_short_loses_what_the_long_gains_inverse() -> None:
    sim = coinm(fee_rates=ZERO_FEES)
    sim.on_book(BTCUSD, D("49999.9"), D("1000"), D("50000"), D("1000"), 0)
    sim.on_book(BTCUSD, D("50000"), D("1000"), D("50000.1"), D("1000"), 0)
    sim.execute(market("open", SELL, "100", symbol=BTCUSD), 1)
    sim.on_book(BTCUSD, D("54999.9"), D("1000"), D("55000"), D("1000"), 2)
    closed = trades(sim.execute(market("close", BUY, "100", symbol=BTCUSD), 3).events)[0]
    assert closed.realized_pnl == D("-0.01818182")


def test_adding_averages_the_entry_and_account_update_carries_it() -> None:
    sim = usdm(fee_rates=ZERO_FEES)
    book(sim, "59999.9", "60000")
    sim.execute(market("a", BUY, "0.1"), 1)
    book(sim, "61999.9", "62000")
    result = sim.execute(market("b", BUY, "0.3"), 2)
    (update,) = accounts(result.events)
    (position,) = update.positions
    assert position.entry_price == (D("0.1") * 60000 + D("0.3") * 62000) / D("0.4")  # 61,500
    assert (position.amount, position.margin_type) == (D("0.4"), CROSSED)
    (balance,) = update.balances
    assert (balance.asset, balance.wallet_balance, balance.balance_change) == (
        "USDT",
        D(10000),
        D(0),
    )


def test_inverse_adding_uses_the_harmonic_mean() -> None:
    sim = coinm(fee_rates=ZERO_FEES)
    sim.on_book(BTCUSD, D("49999.9"), D("1000"), D("50000"), D("1000"), 0)
    sim.execute(market("a", BUY, "100", symbol=BTCUSD), 1)
    sim.on_book(BTCUSD, D("39999.9"), D("1000"), D("40000"), D("1000"), 2)
    sim.execute(market("b", BUY, "100", symbol=BTCUSD), 2)
    (pos,) = sim.positions()
    assert pos.entry_price == D(200) / (D(100) / D(50000) + D(100) / D(40000))


def test_one_way_flip_realizes_then_opens_the_rest_at_the_fill_price() -> None:
    sim = usdm(fee_rates=ZERO_FEES)
    book(sim, "59999.9", "60000")
    sim.execute(market("long", BUY, "0.2"), 1)
    book(sim, "61000", "61000.1")
    flip = trades(sim.execute(market("flip", SELL, "0.5"), 2).events)[0]
    assert flip.realized_pnl == D("0.2") * (D("61000") - D("60000"))
    (pos,) = sim.positions()
    assert (pos.amount, pos.entry_price, pos.position_side) == (
        D("-0.3"),
        D("61000"),
        PositionSide.BOTH,
    )


def test_hedge_mode_keeps_long_and_short_apart() -> None:
    sim = usdm(hedge_mode=True, fee_rates=ZERO_FEES)
    book(sim, "59999.9", "60000")
    assert sim.execute(market("l", BUY, "0.3", ps=LONG), 1).ok
    assert sim.execute(market("s", SELL, "0.1", ps=SHORT), 2).ok
    positions = {p.position_side: p for p in sim.positions()}
    assert positions[LONG].amount == D("0.3") and positions[SHORT].amount == D("-0.1")
    assert positions[LONG].entry_price == D("60000")
    assert positions[SHORT].entry_price == D("59999.9")
    # Closing the LONG is a SELL on LONG; more than held shrinks to the position.
    close = sim.execute(market("cl", SELL, "0.5", ps=LONG), 3)
    assert close.order is not None and close.order.quantity == D("0.3")
    assert [p.position_side for p in sim.positions()] == [SHORT]
    assert sim.execute(market("again", SELL, "0.1", ps=LONG), 4).code == -2022


def test_isolated_margin_moves_into_the_position_wallet_and_back() -> None:
    sim = usdm(default_margin_type=ISOLATED, default_leverage=10)
    book(sim, "59999.9", "60000")
    result = sim.execute(market("open", BUY, "0.5"), 1)
    (update,) = accounts(result.events)
    (position,) = update.positions
    assert (position.margin_type, position.isolated_wallet) == (ISOLATED, D("3000"))  # 30,000/10
    (balance,) = update.balances
    assert balance.wallet_balance == D("10000") - D("15")
    assert balance.cross_wallet_balance == D("10000") - D("15") - D("3000")
    assert sim.balances()[0].available_balance == balance.cross_wallet_balance
    # Half closed: half the isolated wallet comes back to the cross wallet with the PnL.
    book(sim, "61000", "61000.1")
    result = sim.execute(market("half", SELL, "0.25"), 2)
    (position,) = accounts(result.events)[0].positions
    assert position.isolated_wallet == D("1500")
    sim.on_mark_price(BTCUSDT, D("61000"), 3)
    assert sim.positions()[0].isolated_margin == D("1500") + D("0.25") * (D("61000") - D("60000"))


def test_cross_available_balance_counts_unrealized_pnl_and_margin() -> None:
    sim = usdm(fee_rates=ZERO_FEES)
    book(sim, "59999.9", "60000")
    sim.execute(market("open", BUY, "0.5"), 1)
    sim.on_mark_price(BTCUSDT, D("62500"), 2)
    account = sim.account("USDT")
    assert account.unrealized_pnl == D("1250")  # MARGIN.md E1
    assert account.position_initial_margin == D("1562.5")  # at mark, 20x
    assert account.maint_margin == D("125.000")  # E2: 31,250 * 0.004
    assert account.available_balance == D("10000") + D("1250") - D("1562.5")
    assert account.cross_margin_ratio == D("125") / D("11250")


# -- settings ----------------------------------------------------------------------------------


def test_set_leverage_checks_and_event() -> None:
    sim = usdm("100000")
    result = sim.execute(SetLeverage(BTCUSDT, 126), 1)
    assert (result.code, result.message) == (-4028, "Leverage 126 is not valid")
    assert sim.execute(SetLeverage(BTCUSDT, 0), 1).code == -4028
    ok = sim.execute(SetLeverage(BTCUSDT, 125), 2)
    assert ok.ok and ok.events == (LeverageChanged(BTCUSDT, 125, 2),)
    assert (sim.leverage(BTCUSDT), sim.max_notional(BTCUSDT)) == (125, D(50000))
    book(sim, "59999.9", "60000")
    sim.execute(market("open", BUY, "0.8"), 3)  # 48,000 of notional
    book(sim, "69999.9", "70000")
    sim.on_mark_price(BTCUSDT, D("70000"), 4)  # 56,000 now: over 125x's 50,000 cap
    assert sim.execute(SetLeverage(BTCUSDT, 125), 5).code == -2027
    assert sim.execute(SetLeverage(BTCUSDT, 100), 5).ok


def test_lowering_leverage_needs_margin_for_it() -> None:
    sim = usdm("1000", fee_rates=ZERO_FEES)
    book(sim, "59999.9", "60000")
    sim.execute(market("open", BUY, "0.3"), 1)  # IM 900 at 20x
    result = sim.execute(SetLeverage(BTCUSDT, 10), 2)  # IM 1,800 > 1,000
    assert (result.code, result.message) == (
        -2028,
        "Leverage is smaller than permitted: insufficient margin balance.",
    )
    assert sim.leverage(BTCUSDT) == 20


def test_isolated_leverage_cannot_go_down_with_a_position() -> None:
    sim = usdm(default_margin_type=ISOLATED)
    book(sim, "59999.9", "60000")
    sim.execute(market("open", BUY, "0.1"), 1)
    assert sim.execute(SetLeverage(BTCUSDT, 10), 2).code == -4161
    assert sim.execute(SetLeverage(BTCUSDT, 25), 2).ok


def test_margin_type_changes() -> None:
    sim = usdm()
    assert sim.execute(SetMarginType(BTCUSDT, CROSSED), 1).code == -4046
    sim.execute(limit("o", BUY, "0.1", "50000"), 1)
    assert sim.execute(SetMarginType(BTCUSDT, ISOLATED), 2).code == -4047
    book(sim, "59999.9", "60000")
    sim.execute(market("m", SELL, "0.1"), 3)  # the limit stays; cancel all, keep the short
    from rulebot.core.commands import CancelAllOrders

    sim.execute(CancelAllOrders(BTCUSDT), 4)
    result = sim.execute(SetMarginType(BTCUSDT, ISOLATED), 5)
    assert (result.code, result.message) == (
        -4048,
        "Margin type cannot be changed if there exists position.",
    )
    sim.execute(market("flat", BUY, "0.1", reduce_only=True), 6)
    assert sim.execute(SetMarginType(BTCUSDT, ISOLATED), 7).ok
    assert sim.margin_type(BTCUSDT) is ISOLATED


def test_position_mode_changes() -> None:
    sim = usdm()
    assert sim.execute(SetPositionMode(False), 1).code == -4059
    sim.execute(limit("o", BUY, "0.1", "50000"), 1)
    assert sim.execute(SetPositionMode(True), 2).code == -4067
    from rulebot.core.commands import CancelOrder

    sim.execute(CancelOrder(BTCUSDT, "o"), 3)
    book(sim, "59999.9", "60000")
    sim.execute(market("m", BUY, "0.1"), 4)
    assert sim.execute(SetPositionMode(True), 5).code == -4068
    sim.execute(market("x", SELL, "0.1"), 6)
    assert sim.execute(SetPositionMode(True), 7).ok and sim.hedge_mode
    assert sim.execute(market("y", BUY, "0.1", ps=LONG), 8).ok


def test_default_fee_rates_are_the_core_defaults() -> None:
    assert FeeRates(D("0.0002"), D("0.0005")) == DEFAULT_FEE_RATES
