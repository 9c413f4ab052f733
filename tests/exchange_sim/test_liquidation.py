"""Liquidation by mark price (never by last price), margin calls, bankruptcy-price closes;
numbers from MARGIN.md E4 (isolated linear), E5 (cross short) and E8 (isolated inverse)."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

from rulebot.binance.payloads.exchange_info import instruments_from_exchange_info
from rulebot.core.account_events import MarginCall
from rulebot.core.enums import (
    MarginType,
    Market,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from rulebot.core.instruments import Instrument
from rulebot.core.margin import Position, liquidation_price
from rulebot.exchange_sim import SimExchange

from .conftest import (
    BTCUSD,
    BTCUSDT,
    FAPI,
    ZERO_FEES,
    accounts,
    algos,
    book,
    coinm,
    limit,
    load_payload,
    market,
    order,
    trades,
    updates,
    usdm,
)

BUY, SELL = Side.BUY, Side.SELL
ISOLATED = MarginType.ISOLATED


def cents(value: D) -> D:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def e4() -> SimExchange:
    """E4: long 0.5 BTC at 60,000, isolated, isolated wallet 1,500 (20x)."""
    sim = usdm(default_margin_type=ISOLATED)
    book(sim, "59999.9", "60000")
    assert sim.execute(market("open", BUY, "0.5"), 1).ok
    assert sim.positions()[0].isolated_wallet == D("1500")
    return sim


def test_isolated_liquidation_price_is_margin_md_e4() -> None:
    sim = e4()
    (pos,) = sim.positions()
    assert pos.liquidation_price is not None
    assert cents(pos.liquidation_price) == D("57228.92")
    inst, table = FAPI[0][BTCUSDT], FAPI[1][BTCUSDT]
    core = liquidation_price(inst, table, [Position(D("0.5"), D("60000"))], D("1500"), margin_type=ISOLATED)
    assert pos.liquidation_price == core


def test_last_price_through_the_liquidation_price_does_not_liquidate() -> None:
    sim = e4()
    sim.on_mark_price(BTCUSDT, D("59000"), 2)
    for n, price in enumerate(["57000", "55000", "50000"], start=3):
        events = sim.on_trade(BTCUSDT, D(price), D("10"), n, True)
        assert not [e for e in events if isinstance(e, MarginCall)]
        assert not trades(events)
    assert sim.positions()[0].amount == D("0.5")


def test_mark_through_the_liquidation_price_liquidates_with_a_liquidation_order_at_the_market() -> None:
    # The mark (an index of spot prices) fell through the liquidation price while the book stayed
    # at 60,000: the LIQUIDATION order, IOC limited at the bankruptcy price 57,000, sells at the
    # bid, and the clearance fee takes 1.2% of the notional (BTCUSDT's liquidationFee in the real
    # exchangeInfo) out of what is left. It used to report MARKET at the bankruptcy price.
    sim = e4()
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 2, False)  # the last price stays here
    sim.execute(limit("tp", SELL, "0.5", "65000", reduce_only=True), 3)
    sim.execute_algo(order("sl", SELL, OrderType.STOP_MARKET, "0.5", trigger="56000"), 3)
    # Margin ratio 0.8 is reached at 57,286.43 (0.002 m = 0.8 (0.5 m - 28,500)).
    warned = sim.on_mark_price(BTCUSDT, D("57280"), 4)
    assert warned == [MarginCall(BTCUSDT, PositionSide.BOTH, D("0.5"), D("57280"), D("114.560"), 4)]
    assert sim.on_mark_price(BTCUSDT, D("57229"), 5) == []  # warned once; LP is 57,228.92
    events = sim.on_mark_price(BTCUSDT, D("57228.9"), 6)
    assert [(u.client_order_id, u.status) for u in updates(events)[:1]] == [("tp", OrderStatus.EXPIRED)]
    assert [(a.client_algo_id, a.status) for a in algos(events)] == [("sl", "EXPIRED")]
    (fill,) = trades(events)
    assert fill.client_order_id.startswith("autoclose-")
    assert fill.execution_type == "CALCULATED"
    assert fill.order_type is OrderType.LIQUIDATION
    assert (fill.side, fill.last_filled_qty, fill.status) == (SELL, D("0.5"), OrderStatus.FILLED)
    assert fill.price == D("57000")  # the order's limit: bankruptcy, 60,000 - 1,500 / 0.5, on the tick
    assert fill.last_filled_price == D("59999.9")  # the bid
    assert fill.realized_pnl == D("-0.05")
    assert fill.commission == D("359.9994")  # 0.5 x 59,999.9 x 0.012, less than the 1,499.95 left
    assert fill.time_in_force is TimeInForce.IOC
    (update,) = accounts(events)
    assert update.positions[0].amount == 0 and update.positions[0].isolated_wallet == 0
    assert sim.balances()[0].wallet_balance == D("10000") - D("15") - D("0.05") - D("359.9994")
    assert sim.positions() == [] and sim.open_orders() == [] and sim.open_algo_orders() == []
    assert sim.order(BTCUSDT, fill.client_order_id) is not None


def test_a_jump_past_the_liquidation_price_warns_then_liquidates() -> None:
    sim = e4()
    events = sim.on_mark_price(BTCUSDT, D("50000"), 2)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["MarginCall", "OrderUpdate", "AccountUpdate"]


def test_cross_short_liquidation_margin_md_e5() -> None:
    # E5: short 2 BTC at 60,000, cross wallet 10,000: LP 64,701.49 (bracket 2).
    sim = usdm("10000", fee_rates=ZERO_FEES)
    book(sim, "60000", "60000.1")
    assert sim.execute(market("open", SELL, "2"), 1).ok
    (pos,) = sim.positions()
    assert pos.liquidation_price is not None and cents(pos.liquidation_price) == D("64701.49")
    book(sim, "64701.5", "64701.6", time=2)
    assert not trades(sim.on_mark_price(BTCUSDT, D("64701.4"), 2))
    events = sim.on_mark_price(BTCUSDT, D("64701.5"), 3)
    (fill,) = trades(events)
    assert fill.side is BUY and fill.price == D("65000")  # the limit: 60,000 + 10,000 / 2
    assert fill.last_filled_price == D("64701.6")  # the ask
    assert fill.realized_pnl == D("-9403.2")
    # The clearance fee (2 x 64,701.6 x 1.2% = 1,552.84) takes what is left: 596.80.
    assert fill.commission == D("596.8")
    assert sim.balances()[0].wallet_balance == 0  # the whole cross wallet, never more


def test_isolated_inverse_liquidation_margin_md_e8() -> None:
    # E8: long 100 BTCUSD contracts at 50,000, isolated wallet 0.02 BTC (10x): LP 45,636.36.
    sim = coinm(default_margin_type=ISOLATED, default_leverage=10)
    sim.on_book(BTCUSD, D("49999.9"), D("1000"), D("50000"), D("1000"), 0)
    assert sim.execute(market("open", BUY, "100", symbol=BTCUSD), 1).ok
    (pos,) = sim.positions()
    assert pos.isolated_wallet == D("0.02")
    assert pos.liquidation_price is not None and cents(pos.liquidation_price) == D("45636.36")
    assert not trades(sim.on_mark_price(BTCUSD, D("45636.4"), 2))
    sim.on_book(BTCUSD, D("45636.3"), D("1000"), D("45636.4"), D("1000"), 3)
    (fill,) = trades(sim.on_mark_price(BTCUSD, D("45636.3"), 3))
    # Bankruptcy: 1/P = 1/50,000 + 0.02 / (100 * 100) -> P = 45,454.54..., on the tick upward.
    assert fill.price == D("45454.6") and fill.last_filled_price == D("45636.3")
    assert fill.realized_pnl == D("-0.01912381")  # 10,000 x (1/50,000 - 1/45,636.3), 8 places
    # The fee (0.2191 BTC x 1%) is more than the 0.00087619 BTC left: all of it goes.
    assert fill.commission == D("0.00087619") and fill.commission_asset == "BTC"
    assert sim.balances()[0].wallet_balance == D(1) - D("0.0001") - D("0.02")


def test_cross_liquidation_closes_every_cross_position_of_the_asset() -> None:
    # ETHUSDT is real; with no ETH brackets in the payloads it borrows BTCUSDT's table.
    instruments = {BTCUSDT: FAPI[0][BTCUSDT], "ETHUSDT": _eth()}
    brackets = {
        BTCUSDT: FAPI[1][BTCUSDT],
        "ETHUSDT": replace(FAPI[1][BTCUSDT], symbol="ETHUSDT"),
    }
    sim = SimExchange(instruments, brackets, market=Market.USDM, balances={"USDT": D(3000)}, fee_rates=ZERO_FEES)
    book(sim, "59999.9", "60000")
    sim.on_book("ETHUSDT", D("2999.99"), D("100"), D("3000"), D("100"), 0)
    sim.execute(market("btc", BUY, "0.5"), 1)  # IM 1,500
    sim.execute(market("eth", BUY, "4", symbol="ETHUSDT"), 1)  # IM 600.0
    sim.on_mark_price("ETHUSDT", D("2900"), 2)  # ETH -400 at mark
    book(sim, "55000", "55000.1", time=3)
    events = sim.on_mark_price(BTCUSDT, D("55000"), 3)  # BTC -2,500: under water
    fills = {f.symbol: f for f in trades(events)}
    assert fills["ETHUSDT"].last_filled_price == D("2900")  # the others: at their mark
    assert fills["ETHUSDT"].realized_pnl == D("-400.0")
    # BTC last, limited at the bankruptcy price of what is left (3,000 - 400 = 2,600 over
    # 0.5 BTC), filled at the bid.
    assert fills[BTCUSDT].price == D("60000") - D("2600") / D("0.5")
    assert (fills[BTCUSDT].last_filled_price, fills[BTCUSDT].realized_pnl) == (D("55000"), D("-2500"))
    # The 100 left pays the clearance fees, ETH's first (3% of 11,600 would be 348).
    assert (fills["ETHUSDT"].commission, fills[BTCUSDT].commission) == (D("100"), D("0"))
    assert sim.balances()[0].wallet_balance == 0
    assert sim.positions() == []
    assert [e for e in events if isinstance(e, MarginCall)]


def _eth() -> Instrument:
    payload = load_payload("rest_fapi_v1_exchangeInfo.json")
    return instruments_from_exchange_info(payload, Market.USDM)["ETHUSDT"]


def test_margin_call_re_arms_after_recovery() -> None:
    sim = e4()
    assert [type(e) for e in sim.on_mark_price(BTCUSDT, D("57280"), 2)] == [MarginCall]
    assert sim.on_mark_price(BTCUSDT, D("59000"), 3) == []
    assert [type(e) for e in sim.on_mark_price(BTCUSDT, D("57280"), 4)] == [MarginCall]


def test_hedge_cross_pair_shares_one_liquidation_margin_md_e6() -> None:
    # E6: cross wallet 5,000; LONG 1 BTC at 60,000 and SHORT 0.4 BTC at 62,000: LP 50,808.90.
    sim = usdm("5000", hedge_mode=True, fee_rates=ZERO_FEES)
    book(sim, "59999.9", "60000")
    assert sim.execute(market("l", BUY, "1", ps=PositionSide.LONG), 1).ok
    book(sim, "62000", "62000.1")
    assert sim.execute(market("s", SELL, "0.4", ps=PositionSide.SHORT), 2).ok
    views = sim.positions()
    assert [v.liquidation_price for v in views] == [views[0].liquidation_price] * 2
    assert views[0].liquidation_price is not None
    assert cents(views[0].liquidation_price) == D("50808.90")
    assert not trades(sim.on_mark_price(BTCUSDT, D("50809"), 3))
    events = sim.on_mark_price(BTCUSDT, D("50808.8"), 4)
    fills = trades(events)
    assert [(f.position_side, f.side) for f in fills] == [
        (PositionSide.LONG, SELL),
        (PositionSide.SHORT, BUY),
    ]
    # Both legs at the one bankruptcy price, (60,000 - 0.4 * 62,000 - 5,000) / 0.6 = 50,333.33,
    # on the tick toward the user (the pair is net long: up); the 0.04 left is the fee.
    assert {f.last_filled_price for f in fills} == {D("50333.4")}
    assert sum(f.realized_pnl for f in fills) == D("-4999.96")
    assert sum(f.commission for f in fills) == D("0.04")
    assert sim.balances()[0].wallet_balance == 0 and sim.positions() == []


# -- gaps: an isolated position never loses more than its margin (issue 12, item 1) ----------


def test_a_mark_gap_past_a_stop_and_the_liquidation_price_liquidates_rather_than_fill_the_stop() -> None:
    # The mark gapped from 60,000 to 36,000 through the stop (59,000) and the liquidation
    # price (57,228.92): it crossed the liquidation price on its way, so the liquidation
    # engine has the position before the stop's market order (the margin ratio is past 100%).
    sim = e4()
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 2, False)
    assert sim.execute_algo(
        order("sl", SELL, OrderType.STOP_MARKET, "0.5", trigger="59000", working_type=WorkingType.MARK_PRICE), 3
    ).ok
    book(sim, "57100", "57100.1", time=4)  # between the liquidation and the bankruptcy price
    events = sim.on_mark_price(BTCUSDT, D("36000"), 4)
    (fill,) = trades(events)
    assert fill.client_order_id.startswith("autoclose-")
    # Sold at the bid, within the bankruptcy price; the clearance fee takes the 50 left.
    assert (fill.last_filled_price, fill.realized_pnl, fill.commission) == (D("57100"), D("-1450"), D("50"))
    assert [(a.client_algo_id, a.status) for a in algos(events)] == [("sl", "EXPIRED")]
    assert sim.balances()[0].wallet_balance == D("10000") - D("15") - D("1500")


def test_a_trade_gap_past_the_bankruptcy_price_liquidates_before_a_last_price_stop_fills() -> None:
    # A 40% one-candle gap used to fill the stop at the gap price: equity went below zero with
    # `liquidations 0`. A CONTRACT_PRICE stop fires on the trade, before any mark: filling it
    # at 36,000 would lose 12,000 on a position with 1,500 of margin.
    sim = e4()
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 2, False)
    assert sim.execute_algo(order("sl", SELL, OrderType.STOP_MARKET, "0.5", trigger="59000"), 3).ok
    events = sim.on_trade(BTCUSDT, D("36000"), D("1"), 4, False)
    (fill,) = trades(events)
    assert fill.client_order_id.startswith("autoclose-")
    assert fill.realized_pnl == D("-1500")
    assert sim.positions() == []
    assert sim.balances()[0].wallet_balance == D("10000") - D("15") - D("1500")


def test_a_trade_between_the_liquidation_and_the_bankruptcy_price_still_fills_the_stop() -> None:
    # Above the bankruptcy price a last-price stop is the user's own exit; the loss stays
    # inside the margin, and a last trade alone never liquidates.
    sim = e4()
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 2, False)
    assert sim.execute_algo(order("sl", SELL, OrderType.STOP_MARKET, "0.5", trigger="59000"), 3).ok
    events = sim.on_trade(BTCUSDT, D("57100"), D("1"), 4, False)
    (fill,) = trades(events)
    assert fill.client_order_id == "sl" and fill.last_filled_price == D("57100")


def test_a_bid_gap_past_the_bankruptcy_price_liquidates_before_a_market_exit_fills_there() -> None:
    sim = e4()
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 2, False)
    events = book(sim, "36000", "36000.1", time=3)
    (fill,) = trades(events)
    assert fill.client_order_id.startswith("autoclose-") and fill.realized_pnl == D("-1500")
    assert not sim.execute(market("out", SELL, "0.5", reduce_only=True), 4).ok  # nothing left to close


def test_a_trade_gap_past_what_the_cross_wallet_covers_liquidates_the_cross_account() -> None:
    # Cross, 0.1 BTC at 60,000 on a 1,000 USDT wallet: a last-price stop filled in a 60% gap
    # used to lose 3,600 and leave the wallet at -2,604.
    sim = usdm("1000", default_leverage=10)
    book(sim, "59999.9", "60000")
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 1, False)
    assert sim.execute(market("open", BUY, "0.1"), 2).ok
    assert sim.execute_algo(order("sl", SELL, OrderType.STOP_MARKET, "0.1", trigger="59000", reduce_only=True), 3).ok
    events = sim.on_trade(BTCUSDT, D("24000"), D("5"), 4, False)
    (fill,) = trades(events)
    assert fill.client_order_id.startswith("autoclose-")
    assert sim.positions() == [] and sim.balances()[0].wallet_balance == 0


def cross_short_with_a_stale_mark() -> SimExchange:
    """Cross short 0.1 BTC at 60,000 on 1,000 USDT, a last-price stop at 67,500; the mark stays at 60,000."""
    sim = usdm("1000", default_leverage=7)
    book(sim, "59999.9", "60000")
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 1, False)
    sim.on_mark_price(BTCUSDT, D("60000"), 1)
    assert sim.execute(market("open", SELL, "0.1"), 2).ok
    assert sim.execute_algo(order("sl", BUY, OrderType.STOP_MARKET, "0.1", trigger="67500", reduce_only=True), 3).ok
    return sim


def test_a_stop_whose_commission_would_overdraw_the_cross_wallet_liquidates_instead() -> None:
    # Cross short 0.1 BTC at 60,000 on 1,000 USDT (997 after the entry's 3 fee), the mark left at
    # 60,000: a last-price stop filled at 69,937.3 loses 993.73, inside the wallet, but its 3.50
    # commission is not. It used to fill and leave the wallet at -0.24; Binance never lets a
    # position take more than the wallet behind it, so the account is liquidated there.
    sim = cross_short_with_a_stale_mark()
    events = sim.on_trade(BTCUSDT, D("69937.3"), D("5"), 4, False)
    (fill,) = trades(events)
    assert fill.client_order_id.startswith("autoclose-")
    assert fill.last_filled_price == D("69937.3")
    assert sim.positions() == [] and sim.balances()[0].wallet_balance == 0


def test_a_stop_whose_commission_the_cross_wallet_covers_still_fills() -> None:
    sim = cross_short_with_a_stale_mark()
    events = sim.on_trade(BTCUSDT, D("69900"), D("5"), 4, False)  # loses 990, pays 3.50: 3.50 left
    (fill,) = trades(events)
    assert not fill.client_order_id.startswith("autoclose-")
    assert sim.positions() == [] and sim.balances()[0].wallet_balance > 0
