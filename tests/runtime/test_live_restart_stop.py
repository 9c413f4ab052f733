"""A live bot killed (SIGKILL) after its entry filled and before the entry's stop reached the
exchange, then restarted: the position must get its rule's stop at once, not sit bare until the
protective-stop guard places its own, looser one."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from decimal import Decimal

from rulebot.core.enums import Market, OrderType
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live import market, start_bot
from .test_live_reload import BOOK as RELOADED
from .test_live_reload import RESTING, TIGHTER, held, resting
from .test_live_reload import stops as rule_stops
from .test_live_runner import running

D = Decimal
BOOK = """\
rulebook: killed
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 2%}}, {goto: long}]
"""


def stops(fake: FakeBinance) -> list[Decimal]:
    """The triggers of the position's stops (the daily loss cap's is far below 50,000)."""
    return [
        o.trigger_price
        for o in fake.sim.open_algo_orders("BTCUSDT")
        if o.order_type is OrderType.STOP_MARKET and o.trigger_price is not None and o.trigger_price > 50000
    ]


async def test_a_restart_after_a_kill_between_the_fill_and_its_stop_places_the_rules_stop_at_once(tmp_path):
    """Before: the restarted bot held the 0.01 long with no stop for 10 s (protective_stop_within,
    counted from the restart), then got the guard's 5% stop (57,000) for good, not the rule's 2%."""
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    async with FakeBinance(Market.USDM) as fake:
        stop = asyncio.Event()
        feeder = asyncio.create_task(market(fake, stop))
        bots = []

        def kill_as_the_stop_leaves(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/algoOrder":  # the entry filled; its stop goes out
                bots[0].send_signal(signal.SIGKILL)
                fake.rest_faults.status_503 = 1  # and never arrives
                fake.on_request = None

        fake.on_request = kill_as_the_stop_leaves
        bot = start_bot(fake, book, run_dir)
        bots.append(bot)
        try:
            await asyncio.to_thread(bot.wait, 20)
            assert fake.sim.positions("BTCUSDT") and not stops(fake)  # the position is bare
            bot = start_bot(fake, book, run_dir)
            await until(lambda: bool(stops(fake)), timeout=20)
            (trigger,) = stops(fake)
        finally:
            with contextlib.suppress(ProcessLookupError):
                bot.send_signal(signal.SIGTERM)
            await asyncio.to_thread(bot.communicate, timeout=20)
            stop.set()
            await feeder
    assert D(58700) < trigger < D(58900), f"stop at {trigger}: not the rule's 2% under the 60,003 fill"
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        (last_run,) = db.execute("SELECT run_id FROM entries ORDER BY id DESC LIMIT 1").fetchone()
        rows = db.execute(
            "SELECT time, body FROM entries WHERE run_id = ? AND kind = 'command' ORDER BY id", (last_run,)
        ).fetchall()
    started = next(t for t, body in rows if '"SetPositionMode"' in body)  # the engine's start
    placed = next(t for t, body in rows if '"STOP_MARKET"' in body and '"daily_loss_cap"' not in body)
    assert placed - started < 1000, f"the position waited {placed - started} ms for its stop after the start"


async def test_a_restart_with_a_changed_rulebook_adopts_the_position_and_moves_its_changed_stop(tmp_path):
    """Restarted on a rulebook with half the size and a 2% stop: the 0.01 position is the
    exchange's and stays; its stop moves as a reload moves it (before: it stayed at 5%, 57,000,
    while a reload of the same file would have moved it); the next entry is 0.005."""
    level = {"price": D(60000)}
    async with FakeBinance(Market.USDM) as fake:
        async with running(fake, RELOADED, tmp_path, [], price=lambda i: level["price"]):
            await until(lambda: held(fake) == D("0.01") and rule_stops(fake) == [D("57000.00")], timeout=10)
        async with running(fake, TIGHTER, tmp_path, [], price=lambda i: level["price"]) as runner:
            await until(lambda: rule_stops(fake) == [D("58800.00")], timeout=10)
            assert held(fake) == D("0.01") and runner.status()["states"] == {"BTCUSDT": "long"}
            level["price"] = D(60600)  # `sell`, then `buy` by the new rulebook
            await until(lambda: held(fake) == 0, timeout=10)
            level["price"] = D(60000)
            await until(lambda: held(fake) == D("0.005") and rule_stops(fake) == [D("58800.00")], timeout=10)


async def test_a_restart_on_a_halved_size_sends_the_resting_entry_again_at_the_new_size(tmp_path):
    """Killed while its 0.01 limit entry rests, restarted on a rulebook that says 0.005: the adopted
    entry used to fill at 0.01."""
    book = tmp_path / "book.yaml"
    book.write_text(RESTING)
    run_dir = tmp_path / "run"
    async with FakeBinance(Market.USDM) as fake:
        stop = asyncio.Event()
        feeder = asyncio.create_task(market(fake, stop))
        bot = start_bot(fake, book, run_dir)
        try:
            await until(lambda: resting(fake) == [D("0.01")], timeout=20)
            bot.send_signal(signal.SIGKILL)
            await asyncio.to_thread(bot.wait, 5)
            book.write_text(RESTING.replace('size: "0.01"', 'size: "0.005"'))
            bot = start_bot(fake, book, run_dir)
            await until(lambda: resting(fake) == [D("0.005")], timeout=20)
        finally:
            with contextlib.suppress(ProcessLookupError):
                bot.send_signal(signal.SIGTERM)
            await asyncio.to_thread(bot.communicate, timeout=20)
            stop.set()
            await feeder
