"""Live over the fake exchange: a rule's `cancel: all` on the fill of a reduce whose step also sends a
stop-loss and a take-profit reaches the exchange after them and takes them (tests/test_session.py
checks that the paper venue, which answers each order at once, gives the same)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from rulebot.core.enums import Market, OrderType
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_runner import running

D = Decimal
BOOK = """\
rulebook: cancel-all-in-flight
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
states:
  flat: {position: none}
  long: {position: long}
  trimmed: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: trim
    on: trade
    in: long
    do: [{reduce: {by: 50%}}, {stop_loss: {distance: 1%}}, {take_profit: {distance: 2%}}, {goto: trimmed}]
  - name: on-trimmed
    on: fill
    in: trimmed
    do: [{cancel: all}]
"""


async def test_a_cancel_all_asked_for_on_a_fill_takes_the_orders_its_step_sent_after_that_fill(tmp_path):
    async with FakeBinance(Market.USDM) as fake, running(fake, BOOK, tmp_path, []) as runner:
        await until(lambda: (e := runner.engine) is not None and e.symbol_state("BTCUSDT") == "trimmed", timeout=10)
        sim = fake.sim

        def algos(kind: OrderType) -> list[str]:
            views = [sim.algo_order("BTCUSDT", cid) for cid in fake.placed_ids]
            return [v.status for v in views if v is not None and v.order_type is kind]

        await until(lambda: algos(OrderType.TAKE_PROFIT_MARKET) == ["CANCELED"], timeout=10)
        await asyncio.sleep(0.3)  # what the cancel-all left, given time to settle
        assert algos(OrderType.TAKE_PROFIT_MARKET) == ["CANCELED"]
        assert "NEW" not in algos(OrderType.STOP_MARKET), algos(OrderType.STOP_MARKET)
        assert [p.amount for p in sim.positions("BTCUSDT")] == [D("0.005")]
