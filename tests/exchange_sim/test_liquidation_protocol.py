"""Liquidation as Binance does it (issue 15, item 4): a LIQUIDATION order (IOC, limited at the
bankruptcy price on the tick) that fills at the market, the clearance fee on the notional
liquidated, and tiers: a position above the first bracket is cut down a tier at a time while
that makes it margin compliant.

Binance facts: FACTS §6.3 (type LIQUIDATION, execution type CALCULATED, `autoclose-` ids),
exchangeInfo `liquidationFee` (BTCUSDT 0.012 in payloads/rest_fapi_v1_exchangeInfo.json),
MARGIN.md E4 (long 0.5 BTC at 60,000, isolated wallet 1,500: LP 57,228.92, bankruptcy 57,000)
and §2 (BTCUSDT brackets: bracket 2 from 50,000 at MMR 0.005, cum 50). The liquidation
protocol itself is Binance's FAQ "Liquidation Protocols" (sources in docs/backtest-liquidation.md).
"""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import MarginType, OrderType, Side, TimeInForce

from .conftest import BTCUSDT, accounts, book, market, trades, usdm

ISOLATED = MarginType.ISOLATED
RATE = D("0.012")  # BTCUSDT's liquidationFee in the real exchangeInfo
TICK = D("0.1")


def isolated(qty: str, leverage: int = 20, entry: str = "60000"):
    sim = usdm(default_margin_type=ISOLATED, default_leverage=leverage)
    book(sim, str(D(entry) - TICK), entry)
    assert sim.execute(market("open", Side.BUY, qty), 1).ok
    return sim


def test_the_clearance_fee_is_charged_on_the_notional_liquidated() -> None:
    # The mark fell through the liquidation price (57,228.92) while the bid held at 59,000: the
    # position sells there (-500), and the clearance fee is 0.5 x 59,000 x 1.2% = 354.00. The
    # user keeps the rest of the margin: 1,500 - 500 - 354 = 646.
    sim = isolated("0.5")
    book(sim, "59000", "59000.1", time=2)
    events = sim.on_mark_price(BTCUSDT, D("57228.9"), 3)
    (fill,) = trades(events)
    assert fill.order_type is OrderType.LIQUIDATION and fill.execution_type == "CALCULATED"
    assert fill.client_order_id.startswith("autoclose-") and fill.time_in_force is TimeInForce.IOC
    assert (fill.price, fill.last_filled_price) == (D("57000"), D("59000"))  # limit: bankruptcy
    assert (fill.realized_pnl, fill.commission) == (D("-500"), D("354.00"))
    assert sim.balances()[0].wallet_balance == D(10000) - D(15) - D(500) - D(354)
    assert sim.positions() == []


def test_the_clearance_fee_never_takes_more_than_the_margin_left() -> None:
    # At the liquidation price the margin left is the maintenance margin (0.4%), less than the
    # 1.2% fee: it all goes, and the whole isolated wallet is lost, never more.
    sim = isolated("0.5")
    book(sim, "57228.9", "57229", time=2)
    (fill,) = trades(sim.on_mark_price(BTCUSDT, D("57228.9"), 3))
    assert fill.last_filled_price == D("57228.9")
    assert fill.realized_pnl == D("-1385.55")  # 0.5 x (57,228.9 - 60,000)
    assert fill.commission == D("114.45")  # 1,500 - 1,385.55 < 0.5 x 57,228.9 x 1.2% = 343.37
    assert sim.balances()[0].wallet_balance == D(10000) - D(15) - D(1500)


def test_a_gap_past_the_bankruptcy_price_fills_at_the_bankruptcy_price_on_the_tick() -> None:
    # Long 0.7 at 60,000.1, 20x: wallet 2,100.0035, bankruptcy 57,000.095 -> the order's limit
    # is 57,000.1 (up: a sell limit never below bankruptcy). A bid at 56,000 is past it: the
    # insurance fund takes the position at the limit. It used to be reported at 57,000.095.
    sim = usdm(default_margin_type=ISOLATED)
    book(sim, "60000", "60000.1")
    assert sim.execute(market("open", Side.BUY, "0.7"), 1).ok
    assert sim.positions()[0].isolated_wallet == D("2100.0035")
    (fill,) = trades(book(sim, "56000", "56000.1", time=2))
    assert fill.price == fill.last_filled_price == D("57000.1")
    assert fill.last_filled_price % TICK == 0
    assert (fill.realized_pnl, fill.commission) == (D("-2100.00"), D("0.0035"))
    start = D(10000) - D("21.000035")  # the opening taker fee, 0.7 x 60,000.1 x 0.05%
    assert sim.balances()[0].wallet_balance == start - D("2100.0035")


def test_a_position_above_the_first_bracket_is_cut_down_a_tier_and_kept_when_compliant() -> None:
    # Long 2 BTC at 60,000, 20x: wallet 6,000, notional 120,000 in bracket 2 (MMR 0.005, cum 50):
    # LP = (6,000 + 50 - 120,000) / (2 x 0.005 - 2) = 57,261.31. The mark reaches 57,261.3 with
    # the bid at 59,500. Tier: keep what fits under bracket 2's floor at mark, 50,000 / 57,261.3
    # = 0.873 (step down); cut 1.127 at 59,500: -563.50, fee 1.127 x 59,500 x 1.2% = 804.678.
    # What is left (0.873, wallet 4,631.822) is compliant: MM 0.873 x 57,261.3 x 0.004 = 199.96
    # < 4,631.822 - 0.873 x 2,738.7 = 2,240.93. Liquidation stops there.
    sim = isolated("2")
    (pos,) = sim.positions()
    assert pos.liquidation_price is not None and pos.liquidation_price.quantize(D("0.01")) == D("57261.31")
    book(sim, "59500", "59500.1", time=2)
    events = sim.on_mark_price(BTCUSDT, D("57261.3"), 3)
    (cut,) = trades(events)
    assert (cut.last_filled_qty, cut.last_filled_price, cut.price) == (D("1.127"), D("59500"), D("57000"))
    assert (cut.realized_pnl, cut.commission) == (D("-563.500"), D("804.678"))
    (left,) = sim.positions()
    assert (left.amount, left.isolated_wallet) == (D("0.873"), D("4631.822"))
    assert accounts(events)[-1].positions[0].amount == D("0.873")


def test_a_cut_that_leaves_the_position_deficient_goes_on_to_close_it_all() -> None:
    # Same position, but the bid is at the mark: after the cut (fee 1.2% > the 0.5% of margin it
    # frees) the rest is still under water and is closed too, at its own bankruptcy price.
    sim = isolated("2")
    book(sim, "57261.2", "57261.3", time=2)
    events = sim.on_mark_price(BTCUSDT, D("57261.3"), 3)
    cut, rest = trades(events)
    assert (cut.last_filled_qty, rest.last_filled_qty) == (D("1.127"), D("0.873"))
    assert sim.positions() == []
    lost = sum(f.realized_pnl - f.commission for f in (cut, rest))
    assert lost == D(-6000)  # the whole isolated wallet, never more


@settings(max_examples=120, deadline=None)
@given(
    long=st.booleans(),
    qty=st.sampled_from(["0.05", "0.5", "2", "9"]),
    leverage=st.integers(min_value=2, max_value=20),
    market_move=st.floats(min_value=-0.5, max_value=0.5, allow_nan=False),
    mark_move=st.floats(min_value=0.0, max_value=0.6, allow_nan=False),
)
def test_an_isolated_position_never_loses_more_than_its_margin_and_fills_on_the_tick(
    long: bool, qty: str, leverage: int, market_move: float, mark_move: float
) -> None:
    sim = usdm("1000000", default_margin_type=ISOLATED, default_leverage=leverage)
    entry = D(60000)
    book(sim, str(entry - TICK), str(entry))
    assert sim.execute(market("open", Side.BUY if long else Side.SELL, qty), 1).ok
    (pos,) = sim.positions()
    margin, start, paid = pos.isolated_wallet, sim.balances()[0].wallet_balance, sim.ledger("USDT").commission
    quote = max(TICK, (entry * (1 + D(repr(market_move)))).quantize(TICK))
    events = book(sim, str(quote), str(quote + TICK), time=2)  # a quote past bankruptcy liquidates
    against = D(repr(mark_move))
    mark = (entry * (1 - against if long else 1 + against)).quantize(TICK)
    events += sim.on_mark_price(BTCUSDT, max(TICK, mark), 3)
    fills = trades(events)
    for f in fills:
        assert f.last_filled_price % TICK == 0 and f.price % TICK == 0
        assert f.order_type is OrderType.LIQUIDATION
        assert 0 <= f.commission <= (f.last_filled_qty * f.last_filled_price * RATE).quantize(D("0.00000001"))
    lost = start - sim.balances()[0].wallet_balance
    assert lost <= margin
    assert sim.ledger("USDT").commission - paid == sum(f.commission for f in fills)
