"""Live over the fake exchange: a stop-loss whose trigger the price has already passed is refused
(-2021, "Order would immediately trigger") and the position is closed at market, once, rather than
held under the protective stop alone."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from rulebot.core.enums import Market, OrderType
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_runner import running

D = Decimal
# The stop is 1% above a long's entry: the exchange always refuses it. The close ends in `done`.
BOOK = """\
rulebook: passed-stop-live
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
states:
  flat: {position: none}
  long: {position: long}
  done: {position: none}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {price: "entry_price * 1.01"}}, {goto: long}]
  - name: closed
    on: position_closed
    in: long
    do: [{goto: done}]
"""


def position(fake: FakeBinance) -> Decimal:
    return sum((abs(p.amount) for p in fake.sim.positions("BTCUSDT")), D(0))


async def test_a_stop_loss_already_passed_closes_the_position_live(tmp_path):
    async with FakeBinance(Market.USDM) as fake, running(fake, BOOK, tmp_path, []) as runner:
        await until(lambda: len(fake.placed_ids) >= 3 and position(fake) == 0, timeout=10)
        await until(lambda: (e := runner.engine) is not None and e.symbol_state("BTCUSDT") == "done", timeout=10)
        db = sqlite3.connect(runner.cfg.journal_path())
        bodies = [b for (b,) in db.execute("SELECT body FROM entries WHERE kind IN ('notice', 'guard')")]
        assert any("-2021" in b and "closed at market" in b for b in bodies), bodies
        assert any("had already passed" in b for b in bodies)
        orders = [fake.sim.order("BTCUSDT", cid) for cid in fake.placed_ids]
        closes = [o for o in orders if o is not None and o.order_type is OrderType.MARKET and o.reduce_only]
        assert [(o.quantity, o.filled_qty) for o in closes] == [(D("0.01"), D("0.01"))]
        # The daily-cap stop placed with the entry goes too: a close-position stop left on a flat account
        # would close the next position.
        await until(lambda: fake.sim.open_algo_orders("BTCUSDT") == [], timeout=10)
        notices = [b for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'notice'")]
        assert not [b for b in notices if "cancel-failed" in b], notices
