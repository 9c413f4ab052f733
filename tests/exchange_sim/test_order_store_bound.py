"""The simulator forgets old final orders (issue 14): a year's backtest placed ~40,000 and kept
every one. The newest KEEP_FINAL final orders stay queryable, open ones always, and a triggered
algo order stays until its order finishes it (the FINISHED update must still come)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from rulebot.core.commands import CancelOrder
from rulebot.core.enums import OrderType, Side
from rulebot.exchange_sim import book as store_module

from .conftest import BTCUSDT, algo_status, algos, book, limit, market, order, status_of, usdm

BUY, SELL = Side.BUY, Side.SELL
KEEP = 10


@pytest.fixture(autouse=True)
def small_keep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "KEEP_FINAL", KEEP)


def test_final_orders_beyond_the_newest_are_forgotten_and_open_ones_never() -> None:
    sim = usdm("1000000")
    book(sim, "59999.9", "60000")
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 0, False)
    assert sim.execute(limit("resting", BUY, "0.01", "50000"), 1).ok  # rests the whole time
    for n in range(200):
        assert sim.execute(market(f"m{n}", BUY if n % 2 else SELL, "0.01"), 10 + n).ok
        assert sim.execute(limit(f"l{n}", BUY, "0.01", "50000"), 10 + n).ok
        assert sim.execute(CancelOrder(BTCUSDT, f"l{n}"), 10 + n).ok
        plain, _ = sim._store.remembered()
        assert plain <= 2 * KEEP + 2  # the final ones kept, the resting one, the one being placed
    assert status_of(sim, "resting").value == "NEW"
    assert status_of(sim, "m199").value == "FILLED" and status_of(sim, "l199").value == "CANCELED"
    assert sim.order(BTCUSDT, "m0") is None and sim.order(BTCUSDT, "l0") is None  # Binance's -2013 too
    assert sim.execute(CancelOrder(BTCUSDT, "l0"), 500).code == -2011  # as for any order no longer open


def test_a_triggered_algo_order_is_kept_until_its_order_finishes_it() -> None:
    sim = usdm("1000000")
    book(sim, "59999.9", "60000")
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 0, False)
    # A stop-limit that triggers at 60100 and rests its limit at 59000, far below the market.
    stop = order("stop", BUY, OrderType.STOP, "0.01", price="59000", trigger="60100")
    assert sim.execute_algo(stop, 1).ok
    sim.on_trade(BTCUSDT, D("60100"), D("1"), 2, False)
    assert algo_status(sim, "stop") == "TRIGGERED"
    for n in range(100):  # algo orders placed and cancelled push it far past the newest KEEP
        assert sim.execute_algo(order(f"s{n}", SELL, OrderType.STOP_MARKET, "0.01", trigger="50000"), 10).ok
        assert sim.execute(CancelOrder(BTCUSDT, f"s{n}"), 10).ok
        assert sim._store.remembered()[1] <= 2 * KEEP + 2
    assert sim.algo_order(BTCUSDT, "s0") is None and algo_status(sim, "s99") == "CANCELED"
    events = sim.on_trade(BTCUSDT, D("58000"), D("1"), 20, True)  # the limit fills: the algo is FINISHED
    assert [(a.client_algo_id, a.status) for a in algos(events)] == [("stop", "FINISHED")]
