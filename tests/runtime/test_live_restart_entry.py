"""A live bot killed (SIGKILL) while its limit entry rests on the book, then restarted: the
entry it adopts is still its one entry on the symbol (no second one beside it, which could
double the position) and still expires when the rulebook said."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from decimal import Decimal

from rulebot.core.enums import Market, OrderType, Side
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
