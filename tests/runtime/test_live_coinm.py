"""A live COIN-M bot against the fake exchange over loopback: contracts of 100 USD, and every
amount in BTC as MARGIN.md §4 and §5 compute it (fee, isolated margin, funding, liquidation
price), in the journal and in the bot's status."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.core.events import FundingRate, MarkPrice, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, live
from rulebot.runtime.run_config import RunConfig
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until

D = Decimal
BOOK = """\
rulebook: hold-coinm
market: coinm
symbols: [BTCUSD_PERP]
account: {leverage: 3}
risk: {protective_stop_within: 1s, daily_loss_cap: "0.01 BTC"}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 100}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: never
    on: trade
    in: long
    when: price > 100000000
    do: [exit]
"""


def _accounts(journal) -> list[dict]:
    db = sqlite3.connect(journal)
    return [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'account' ORDER BY id")]


async def test_a_live_coinm_position_pays_its_fee_and_funding_in_btc(tmp_path):
    async with FakeBinance(Market.COINM, balances={"BTC": D(1)}) as fake:
        keys = tmp_path / "keys"
        keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
        keys.chmod(0o600)
        (tmp_path / "book.yaml").write_text(BOOK)
        cfg = RunConfig(tmp_path / "book.yaml", "live", tmp_path / "run", watch=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await live(compile_text(BOOK), cfg, conn, str(keys), announce=lambda _: None)
        task = asyncio.create_task(runner.run())
        try:
            for i in range(1, 200):
                await fake.feed(MarkPrice("BTCUSD_PERP", D(20000), 0))
                await fake.feed(Trade("BTCUSD_PERP", D(20000), D(10), 0, True, i, i, i))
                await asyncio.sleep(0.02)
                if runner.status().get("positions"):
                    break
            await until(lambda: bool(runner.status().get("positions")))
            await fake.feed(MarkPrice("BTCUSD_PERP", D(20100), 0))
            await fake.feed(FundingRate("BTCUSD_PERP", D("0.0003"), 0, mark_price=D(20100)))
            await until(lambda: any(a["reason"] == "FUNDING_FEE" for a in _accounts(cfg.journal_path())))
            status = runner.status()
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
            await asyncio.wait_for(task, 15)
    opened, funded = [a for a in _accounts(cfg.journal_path()) if a["reason"] in ("ORDER", "FUNDING_FEE")][:2]
    (pos,) = opened["positions"]
    assert (pos["amount"], D(pos["entry_price"])) == ("100", D(20000))
    # 100 contracts x 100 USD / 20,000 = 0.5 BTC: a taker fee of 0.5 x 0.05% and 0.5 / 3 of margin.
    assert D(opened["balances"][0]["wallet_balance"]) == D(1) - D("0.00025")
    assert D(pos["isolated_wallet"]) == D("0.16666667")
    # Funding 100 x 100 / 20,100 x 0.03% = 0.00014925 BTC, paid by the long out of its isolated margin.
    assert D(funded["balances"][0]["balance_change"]) == D("-0.00014925")
    assert D(funded["positions"][0]["isolated_wallet"]) == D("0.16666667") - D("0.00014925")
    risk = status["risk"]["BTCUSD_PERP"]
    # One-way isolated (MARGIN.md §4), the wallet after funding:
    # (100 x 0.004 + 100) x 100 / (0.16651742 + 10,000 / 20,000) = 15,063.37..., on the 0.1 tick
    exact = D(10040) / (D("0.16651742") + D("0.5"))
    assert abs(D(risk["liquidation_price"]) - exact) <= D("0.1")
    assert D(status["daily_loss"]["BTC"]["cap"]) == D("0.01")


async def test_a_reload_moves_a_coinm_stop_a_plain_order_there_new_one_first(tmp_path):
    """On COIN-M a stop is a plain order (no algo service): its NEW comes as an order update, and
    the move waits for that as it waits for an algo order's."""

    def stops() -> list[Decimal]:
        return [
            o.trigger_price for o in fake.sim.open_orders("BTCUSD_PERP") if o.trigger_price and o.trigger_price > 18500
        ]

    book = BOOK.replace('daily_loss_cap: "0.01 BTC"', 'daily_loss_cap: "0.2 BTC"')  # its stop at 18,199
    async with FakeBinance(Market.COINM, balances={"BTC": D(1)}) as fake:
        keys = tmp_path / "keys"
        keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
        keys.chmod(0o600)
        (tmp_path / "book.yaml").write_text(book)
        cfg = RunConfig(tmp_path / "book.yaml", "live", tmp_path / "run", watch=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await live(compile_text(book), cfg, conn, str(keys), announce=lambda _: None)
        task = asyncio.create_task(runner.run())
        stop = asyncio.Event()

        async def quotes() -> None:
            i = 1
            while not stop.is_set():
                await fake.feed(MarkPrice("BTCUSD_PERP", D(20000), 0))
                await fake.feed(Trade("BTCUSD_PERP", D(20000), D(10), 0, True, i, i, i))
                i += 1
                await asyncio.sleep(0.02)

        feeder = asyncio.create_task(quotes())
        try:
            await until(lambda: stops() == [D(19000)], timeout=10)
            at_cancel: list[list[Decimal]] = []
            fake.on_request = lambda method, path, _: (
                at_cancel.append(stops()) if method == "DELETE" and path == "/dapi/v1/order" else None
            )
            answer = await runner.request({"cmd": "reload", "text": book.replace("distance: 5%", "distance: 2%")})
            assert answer["ok"], answer
            await until(lambda: stops() == [D(19600)], timeout=10)
            assert at_cancel == [[D(19000), D(19600)]]  # the old one went once the new one worked
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
            await asyncio.wait_for(task, 15)
            stop.set()
            await feeder
