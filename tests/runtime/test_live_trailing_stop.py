"""The live path over the fake exchange (which, like the simulator under it, reports a fill's
ORDER_TRADE_UPDATE before its ACCOUNT_UPDATE): an entry added to a position gets a trailing stop
for the whole position, not for the position without its fill."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from rulebot.core.enums import Market, OrderType
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_runner import running, seen

D = Decimal
BOOK = """\
rulebook: pyramid
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
states:
  flat: {position: none}
  long: {position: long}
  added: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {trailing_stop: {callback: 1%}}, {goto: long}]
  - name: add
    on: trade
    in: long
    when: price > 60050
    do: [{enter: {side: long, size: "0.02"}}, {trailing_stop: {callback: 1%}}, {goto: added}]
  - name: never
    on: trade
    in: added
    when: price < 0
    do: [exit, {goto: flat}]
"""


def trailing_stops(fake: FakeBinance) -> list[Decimal]:
    return [o.quantity for o in fake.sim.open_algo_orders("BTCUSDT") if o.order_type is OrderType.TRAILING_STOP_MARKET]


def position(fake: FakeBinance) -> Decimal:
    return sum((abs(p.amount) for p in fake.sim.positions("BTCUSDT")), D(0))


async def test_an_added_entrys_trailing_stop_covers_the_whole_position_live(tmp_path):
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: bool(seen(runner, "positions")), timeout=10)
        await until(lambda: trailing_stops(fake) == [D("0.01")], timeout=10)
        level["price"] = D(60060)  # `add` fires in `long`
        await until(lambda: position(fake) == D("0.03") and trailing_stops(fake) == [D("0.03")], timeout=10)


ACTIVATED = """\
rulebook: activated-then-added
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
states:
  flat: {position: none}
  long: {position: long}
  added: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do:
      - enter: {side: long, size: "0.01"}
      - trailing_stop: {callback: 1%, activation: "entry_price * 1.001", working_type: contract_price}
      - goto: long
  - name: add
    on: trade
    in: long
    when: price > 60100
    do: [{enter: {side: long, size: "0.02"}}, {goto: added}]
"""


async def test_a_trailing_stop_replaced_after_its_activation_price_was_passed_keeps_working_live(tmp_path):
    """The position grew after the price passed the trailing stop's activation price (60,060): the
    stop placed again for the whole position went out with that activation price and the exchange
    refused it (-2021), leaving the position with no trailing stop. It goes out again without one."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, ACTIVATED, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: trailing_stops(fake) == [D("0.01")], timeout=10)
        level["price"] = D(60120)  # past the activation price; `add` fires in `long`
        await until(lambda: position(fake) == D("0.03") and trailing_stops(fake) == [D("0.03")], timeout=10)
        db = sqlite3.connect(runner.cfg.journal_path())
        rejected = db.execute("SELECT body FROM entries WHERE kind = 'notice' AND body LIKE '%order-rejected%'")
        assert all("placed again without one" in body for (body,) in rejected.fetchall())
