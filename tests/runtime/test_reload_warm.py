"""A reload that lengthens an indicator: the bot goes on with it as warm as a start on the new
rulebook would make it (REST klines), not seeded from the few candles the old one needed."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.core.events import CandleClosed
from rulebot.engine.engine import Engine
from rulebot.feeds.catalog import builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_reload import held
from .test_live_runner import running

D = Decimal
MINUTE = 60_000
BOOK = """\
rulebook: warm
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 3}
indicators:
  slow: ema(close@1m, 5)
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price > slow
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""
LONGER = BOOK.replace("ema(close@1m, 5)", "ema(close@1m, 10)")


def candles(fake: FakeBinance) -> list[CandleClosed]:
    """30 closed minutes before now: 15 at 40,000, then 15 at 61,000 (what REST klines answer)."""
    now = fake.now() // MINUTE * MINUTE
    out = []
    for k in range(30, 0, -1):
        o, close = now - k * MINUTE, D(40000) if k > 15 else D(61000)
        out.append(
            CandleClosed("BTCUSDT", "1m", o, o + MINUTE - 1, close, close, close, close, D(5), D(5) * close, 10, D(2))
        )
    for c in out:
        fake.history.on_market(c)
    return out


async def test_a_reload_to_a_longer_ema_fetches_the_candles_a_start_would_have(tmp_path):
    """The running EMA(5) was warmed from 18 candles (3 x its 6), the last 15 at 61,000. Reloaded as
    EMA(10), it was re-warmed from those 18: ready, seeded 8 candles back, at 59,735, where a start
    fetches 33 and finds the 40,000s weigh less (59,965). At a price of 59,850 the half-warm value
    bought; the warm one does not."""
    async with FakeBinance(Market.USDM) as fake:
        data = candles(fake)
        fresh = Engine(compile_text(LONGER), builtin_instruments(Market.USDM), {"USDT": D(1000)})
        fresh.warm("BTCUSDT", data)
        expected = fresh.market("BTCUSDT").env["slow"]
        assert 59_900 < expected < 60_000
        async with running(fake, BOOK, tmp_path, [], price=lambda i: D(59850)) as runner:
            await until(lambda: runner.status().get("warmup", {}).get("BTCUSDT", {}).get("slow", {}).get("ready"))
            assert runner.engine.market("BTCUSDT").env["slow"] > 60_500  # EMA(5): no entry
            answer = await runner.request({"cmd": "reload", "text": LONGER})
            assert answer["ok"], answer
            assert abs(runner.engine.market("BTCUSDT").env["slow"] - expected) < 50
            await asyncio.sleep(1.0)  # trades at 59,850 go on: below the EMA, no `buy`
            assert held(fake) == 0 and not fake.placed_ids
        with sqlite3.connect(runner.cfg.journal_path()) as db:
            notes = [b for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'notice'")]
        assert any("warm-up" in n and "reload" in n for n in notes), notes
