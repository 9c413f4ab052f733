"""Rejects Binance makes before an order reaches the book: the order cost with its open loss
(-2019), a MARKET order outside the mark's band (-4131), and priceProtect on stops.

Worked numbers: Binance FAQ "How to Calculate the Cost Required to Open a Position in
Perpetual Futures Contracts" (1 BTC, 20x, mark 9,259.84, order price 9,253.30: initial margin
462.66, open loss of the short 6.54, of the long 0).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from typing import Any

from rulebot.core.enums import OrderType, PositionSide, Side, WorkingType
from rulebot.exchange_sim import SimExchange
from rulebot.exchange_sim.order_cost import assumed_market_price, open_loss, outside_market_band, trigger_protected

from .conftest import BTCUSDT, FAPI, ZERO_FEES, algo_status, book, limit, market, order, usdm

BUY, SELL = Side.BUY, Side.SELL
FAQ_MARK, FAQ_PRICE = D("9259.84"), D("9253.30")


def faq_sim(balance: str) -> SimExchange:
    sim = usdm(balance, fee_rates=ZERO_FEES)
    sim.on_mark_price(BTCUSDT, FAQ_MARK, 0)
    return sim


def test_open_loss_is_the_faq_worked_example() -> None:
    inst = FAPI[0][BTCUSDT]
    assert open_loss(inst, SELL, D(1), FAQ_PRICE, FAQ_MARK) == D("6.54")
    assert open_loss(inst, BUY, D(1), FAQ_PRICE, FAQ_MARK) == 0
    assert open_loss(inst, SELL, D(1), FAQ_PRICE, None) == 0


def test_short_limit_below_the_mark_needs_margin_plus_open_loss() -> None:
    # FAQ: cost of the short = 462.665 (shown 462.66) + 6.54 = 469.205. A wallet that holds the
    # initial margin alone was enough before; Binance refuses it.
    assert faq_sim("469.20").execute(limit("s", SELL, "1", "9253.3"), 1).code == -2019
    assert faq_sim("469.21").execute(limit("s", SELL, "1", "9253.3"), 1).ok
    # The long at the same price has no open loss: its initial margin is its whole cost.
    assert faq_sim("462.67").execute(limit("b", BUY, "1", "9253.3"), 1).ok
    assert faq_sim("462.66").execute(limit("b", BUY, "1", "9253.3"), 1).code == -2019


def test_market_orders_are_costed_at_the_faq_assumed_price() -> None:
    assert assumed_market_price(BUY, D(100), D(101), D(100), None) == D("101.0505")
    assert assumed_market_price(SELL, D(99), D(101), D(100), None) == D(100)  # max(bid, mark)
    assert assumed_market_price(SELL, D("100.5"), D(101), D(100), None) == D("100.5")
    assert assumed_market_price(BUY, None, None, D(100), D(102)) == D("102.051")  # no book: first fill
    assert assumed_market_price(SELL, None, None, None, None) is None


def test_market_buy_that_only_fits_without_its_open_loss_is_2019() -> None:
    # Ask 60,000 = mark: assumed 60,030; 3.3 BTC costs 9,904.95 + 99 open loss > 10,000.
    sim = usdm("10000")
    book(sim, "59999.9", "60000")
    sim.on_mark_price(BTCUSDT, D(60000), 0)
    result = sim.execute(market("big", BUY, "3.3"), 1)
    assert (result.code, result.message) == (-2019, "Margin is insufficient.")
    assert sim.execute(market("fits", BUY, "3.2"), 2).ok


def test_market_band_uses_percent_price_and_market_take_bound() -> None:
    inst = FAPI[0][BTCUSDT]  # PERCENT_PRICE up 1.1000 down 0.5454, marketTakeBound 0.30
    mark = D(50000)
    assert not outside_market_band(inst, BUY, D(55000), mark)
    assert outside_market_band(inst, BUY, D("55000.1"), mark)  # PERCENT_PRICE is tighter up
    assert not outside_market_band(inst, SELL, D(35000), mark)
    assert outside_market_band(inst, SELL, D("34999.9"), mark)  # marketTakeBound is tighter down
    assert not outside_market_band(inst, SELL, D(1), None)  # no mark yet: nothing to hold to
    loose = replace(inst, market_take_bound=None)
    assert not outside_market_band(loose, SELL, D(30000), mark)
    assert outside_market_band(loose, SELL, D(27269), mark)  # 50,000 * 0.5454 = 27,270


def test_market_order_beyond_the_band_is_4131_with_binances_message() -> None:
    sim = usdm("100000")
    book(sim, "59999.9", "60000")
    sim.on_mark_price(BTCUSDT, D(50000), 0)  # the book sits 20% over the mark
    result = sim.execute(market("in", BUY, "0.1"), 1)
    assert (result.code, result.message) == (
        -4131,
        "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
    )
    assert sim.positions() == []
    assert sim.execute(market("out", SELL, "0.1"), 2).ok  # the bid is within the floor
    # A limit order is held to PERCENT_PRICE on its own price, never to -4131.
    assert sim.execute(limit("lim", BUY, "0.1", "54000"), 3).ok


def test_a_panic_exit_market_order_can_be_refused_with_4131() -> None:
    sim = usdm("100000")
    book(sim, "59999.9", "60000")
    sim.on_mark_price(BTCUSDT, D(60000), 0)
    assert sim.execute(market("open", BUY, "0.1"), 1).ok
    book(sim, "40000", "40000.1", time=2)  # the book crashes, the mark lags behind
    sim.on_mark_price(BTCUSDT, D(60000), 3)
    result = sim.execute(market("exit", SELL, "0.1", reduce_only=True), 4)
    assert result.code == -4131
    assert len(sim.positions()) == 1
    sim.on_mark_price(BTCUSDT, D(45000), 5)  # the mark catches up: the exit goes through
    assert sim.execute(market("exit2", SELL, "0.1", reduce_only=True), 6).ok
    assert sim.positions() == []


def test_trigger_protect_threshold() -> None:
    inst = FAPI[0][BTCUSDT]  # triggerProtect 0.0500
    assert not trigger_protected(inst, D(57000), D(60000))  # exactly 5%: still triggers
    assert trigger_protected(inst, D("56999.9"), D(60000))
    assert not trigger_protected(inst, None, D(60000))
    assert not trigger_protected(replace(inst, trigger_protect=None), D(1), D(60000))


def _long_with_stop(price_protect: bool) -> SimExchange:
    sim = usdm("100000")
    book(sim, "59999.9", "60000")
    sim.on_trade(BTCUSDT, D(60000), D(1), 0, False)
    sim.on_mark_price(BTCUSDT, D(60000), 0)
    assert sim.execute(market("open", BUY, "0.1"), 1).ok
    stop = replace(
        order("sl", SELL, OrderType.STOP_MARKET, None, trigger="59000", close_position=True),
        working_type=WorkingType.MARK_PRICE,
        price_protect=price_protect,
    )
    placed = sim.execute_algo(stop, 2)
    assert placed.ok and placed.algo is not None
    assert placed.algo.price_protect is price_protect
    return sim


def test_price_protected_stop_waits_while_last_and_mark_are_apart() -> None:
    sim = _long_with_stop(price_protect=True)
    sim.on_trade(BTCUSDT, D(52000), D(1), 3, False)  # a last-price wick 11.7% under the mark
    sim.on_mark_price(BTCUSDT, D(58900), 4)
    assert algo_status(sim, "sl") == "NEW"
    assert len(sim.positions()) == 1
    sim.on_trade(BTCUSDT, D(58800), D(1), 5, False)
    book(sim, "58800", "58800.1", time=5)
    sim.on_mark_price(BTCUSDT, D(58850), 6)  # back within 5%: it triggers
    assert algo_status(sim, "sl") != "NEW"
    assert sim.positions() == []


def test_stop_without_price_protect_triggers_on_the_same_prices() -> None:
    sim = _long_with_stop(price_protect=False)
    sim.on_trade(BTCUSDT, D(52000), D(1), 3, False)
    sim.on_mark_price(BTCUSDT, D(58900), 4)
    assert algo_status(sim, "sl") != "NEW"


def test_margin_figures_from_orders_built_once_are_the_fresh_ones() -> None:
    """The gatekeeper builds the symbol's open orders once (`Exposure.pending`) and hands them, and
    the margin it just computed, to the questions after: every figure must be the fresh one."""
    from rulebot.exchange_sim.exposure import Pending

    sim = usdm("10000")
    book(sim, "59999.9", "60000")
    sim.on_mark_price(BTCUSDT, D(60000), 0)
    assert sim.execute(market("held", BUY, "0.05"), 1).ok
    for i, (side, qty, price) in enumerate(
        [(BUY, "0.01", "59000"), (SELL, "0.2", "61000"), (BUY, "0.03", "58000"), (SELL, "0.01", "62000")]
    ):
        assert sim.execute(limit(f"l{i}", side, qty, price), 2 + i).ok
    exposure = sim._exposure
    pending = exposure.pending(BTCUSDT)
    assert len(pending) == 4
    for side in (BUY, SELL):
        candidate = Pending(side, PositionSide.BOTH, D("0.02"), D(60000), -1)
        assert str(exposure.order_margin(BTCUSDT, candidate, pending)) == str(exposure.order_margin(BTCUSDT, candidate))
        assert str(exposure.opening_qty(BTCUSDT, PositionSide.BOTH, side, pending)) == str(
            exposure.opening_qty(BTCUSDT, PositionSide.BOTH, side)
        )
    working = exposure.order_margin(BTCUSDT, None, pending)
    assert working > 0 and str(working) == str(exposure.order_margin(BTCUSDT))
    assert str(exposure.available("USDT", {BTCUSDT: working})) == str(exposure.available("USDT"))
    assert pending == exposure.pending(BTCUSDT)  # the questions did not touch the list they were given


def test_a_market_order_fills_against_the_levels_its_margin_check_read(monkeypatch: Any) -> None:
    """The gatekeeper hands a market order's taker levels to the matcher (`Accepted.levels`):
    they must be the levels the matcher would build itself at that moment, side included."""
    from rulebot.exchange_sim.matching import Matcher

    handed: list[bool] = []
    execute = Matcher.execute

    def checked(self: Matcher, order: Any, time: int, events: Any, levels: Any = None) -> None:
        if levels is not None:
            handed.append(True)
            assert levels == self.levels(order.symbol, order.side)
        execute(self, order, time, events, levels)

    monkeypatch.setattr(Matcher, "execute", checked)
    sim = usdm("10000")
    book(sim, "59999.9", "60000.1")
    sim.on_mark_price(BTCUSDT, D(60000), 0)
    assert sim.execute(market("a", BUY, "0.01"), 1).ok
    assert sim.execute(market("b", SELL, "0.03"), 2).ok
    sim.on_trade(BTCUSDT, D(60100), D(1), 3, False)  # a trade past the ask: the book top is stale
    assert sim.execute(market("c", BUY, "0.04"), 4).ok
    assert len(handed) == 3


def test_a_gatekeeper_saved_before_it_read_the_matchers_levels_still_places_market_orders() -> None:
    """A paper account pickled by an older release has no `_taker_levels` on its gatekeeper."""
    sim = usdm("10000")
    book(sim, "59999.9", "60000.1")
    sim.on_mark_price(BTCUSDT, D(60000), 0)
    del sim._gate.__dict__["_taker_levels"]
    result = sim.execute(market("old", BUY, "0.01"), 1)
    assert result.ok and any(getattr(e, "last_filled_qty", 0) > 0 for e in result.events)
