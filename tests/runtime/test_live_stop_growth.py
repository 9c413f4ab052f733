"""A live bot over the fake exchange: the stop an added entry replaces goes only once its
replacement works on the exchange, so the grown position always has a stop."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_reload import held, stops
from .test_live_runner import running

D = Decimal
BOOK = """\
rulebook: grown
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
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: add
    on: trade
    in: long
    when: price > 60050
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 2%}}, {goto: added}]
"""


async def test_an_added_entrys_stop_is_working_before_the_first_ones_cancel_is_sent(tmp_path):
    """Before: the first entry's stop was cancelled in the request before the new one was placed."""
    level = {"price": D(60000)}
    at_cancel: list[list[Decimal]] = []
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: held(fake) == D("0.01") and stops(fake) == [D("57000.00")], timeout=10)

        def watch_cancels(method: str, path: str, _: float) -> None:
            if method == "DELETE" and path == "/fapi/v1/algoOrder":
                at_cancel.append(stops(fake))  # what is working as a stop when one goes

        fake.on_request = watch_cancels
        level["price"] = D(60100)
        await until(lambda: held(fake) == D("0.02") and len(stops(fake)) == 1 and at_cancel, timeout=10)
        (new,) = stops(fake)
        assert new != D("57000.00")
        # Every cancel (the daily-cap stop is re-priced too) went while both stops worked.
        assert all(snap == [D("57000.00"), new] for snap in at_cancel), at_cancel
        assert runner.status()["guards"]["halted"] is None
        with sqlite3.connect(runner.cfg.journal_path()) as db:
            rows = db.execute("SELECT json_extract(body, '$.reason') FROM commands WHERE command = 'CancelOrder'")
            reasons = [r for (r,) in rows.fetchall()]
        assert sum(r.endswith(": one stop_loss for the whole position") for r in reasons) == 1, reasons
