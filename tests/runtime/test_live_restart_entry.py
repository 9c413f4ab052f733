"""A live bot killed (SIGKILL) while its limit entry rests on the book, then restarted: the
entry it adopts is still its one entry on the symbol (no second one beside it, which could
double the position), still expires when the rulebook said, and still gets its rule's stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from decimal import Decimal
from pathlib import Path

from rulebot.core.enums import Market, OrderType, Side
from rulebot.core.events import BookTop, Trade
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live import market, start_bot

D = Decimal
BOOK = """\
rulebook: resting
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do:
      - enter: {side: long, size: "0.01", order: limit, price: "bid - 100", expire: 6s}
      - stop_loss: {distance: 5%}
      - goto: long
"""


def resting_entries(fake: FakeBinance) -> list[str]:
    return [
        o.client_order_id
        for o in fake.sim.open_orders("BTCUSDT")
        if o.order_type is OrderType.LIMIT and o.side is Side.BUY
    ]


async def test_a_restart_keeps_the_adopted_entry_as_the_only_one_and_lets_it_expire(tmp_path):
    book = tmp_path / "resting.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    async with FakeBinance(Market.USDM) as fake:
        stop = asyncio.Event()
        feeder = asyncio.create_task(market(fake, stop))
        bot = start_bot(fake, book, run_dir)
        most = 0
        try:
            await until(lambda: bool(resting_entries(fake)), timeout=20)
            (first,) = resting_entries(fake)
            bot.send_signal(signal.SIGKILL)  # the entry rests on; nothing cancels it
            await asyncio.to_thread(bot.wait, 5)
            bot = start_bot(fake, book, run_dir)
            for _ in range(int(12 / 0.05)):  # well past the entry's 6 s
                most = max(most, len(resting_entries(fake)))
                assert bot.poll() is None, bot.communicate()[1].decode()
                await asyncio.sleep(0.05)
            expired = fake.sim.order("BTCUSDT", first)
            assert expired is not None and expired.status.value == "CANCELED", "the adopted entry never expired"
        finally:
            with contextlib.suppress(ProcessLookupError):
                bot.send_signal(signal.SIGTERM)
            await asyncio.to_thread(bot.communicate, timeout=20)
            stop.set()
            await feeder
    assert most == 1, f"{most} entries rested at once after the restart; the rulebook sends one"


async def test_an_entry_adopted_at_a_restart_gets_its_rules_stop_when_it_fills(tmp_path):
    """The rule's 2% stop waits for the entry's fill; the run that was to place it died. The
    restarted bot places it when the adopted entry fills, not only the engine's 5% protective
    stop (ten seconds later)."""
    book = tmp_path / "resting.yaml"
    book.write_text(BOOK.replace(", expire: 6s", "").replace("distance: 5%", "distance: 2%"))
    level = {"price": D(60000)}
    async with FakeBinance(Market.USDM) as fake:
        stop = asyncio.Event()

        async def quotes() -> None:
            i = 1
            while not stop.is_set():
                px = level["price"]
                await fake.feed(BookTop("BTCUSDT", px, D(5), px + D("0.1"), D(5), 0, i))
                await fake.feed(Trade("BTCUSDT", px, D("0.01"), 0, True, i, i, i))
                i += 1
                await asyncio.sleep(0.02)

        feeder = asyncio.create_task(quotes())
        bot = start_bot(fake, book, tmp_path / "run")
        try:
            await until(lambda: bool(resting_entries(fake)), timeout=20)  # at 59,900
            bot.send_signal(signal.SIGKILL)
            await asyncio.to_thread(bot.wait, 5)
            bot = start_bot(fake, book, tmp_path / "run")
            await until(lambda: any(k == "notice" and "adopted" in b for k, b in _journal(tmp_path)), timeout=20)
            level["price"] = D(59850)  # the adopted entry fills
            await until(lambda: bool(fake.sim.positions("BTCUSDT")), timeout=10)
            # 2% under the 59,900 fill: 58,702
            await until(lambda: any(D(58600) < a.trigger_price < D(58800) for a in _stops(fake)), timeout=5)
        finally:
            with contextlib.suppress(ProcessLookupError):
                bot.send_signal(signal.SIGTERM)
            await asyncio.to_thread(bot.communicate, timeout=20)
            stop.set()
            await feeder


def _stops(fake: FakeBinance) -> list:
    return [a for a in fake.sim.open_algo_orders("BTCUSDT") if a.trigger_price is not None]


def _journal(tmp_path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(tmp_path / "run" / "journal.sqlite")
    try:
        return db.execute("SELECT kind, body FROM entries").fetchall()
    finally:
        db.close()
