"""A live bot killed (SIGKILL) while a position has no stop and the protective-stop guard counts down,
then restarted: the countdown's end is not journaled, so the restarted bot must not count from its own
start, nor lose the countdown: the position gets a stop at once (one-way: its rule's stop 1.9 s after the
loss, the kill at 1 s). In hedge mode every bare leg does: the restart's guard stop went on the first bare
leg only (LONG) and the SHORT leg had none 30 s later; now both within 1 s of the restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import Market, OrderType, PositionSide, Side
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live import market, start_bot

D = Decimal
ONE_WAY = """\
rulebook: bare-at-restart
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 2%}}, {goto: long}]
"""
HEDGE = """\
rulebook: bare-legs-at-restart
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3, position_mode: hedge}
states:
  flat: {position: none}
  long: {position: long}
  both: {position: any}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {goto: long}]
  - name: hedge
    on: trade
    in: long
    do: [{enter: {side: short, size: "0.01"}}, {goto: both}]
  - name: never
    on: trade
    in: both
    when: price < 0
    do: [exit, {goto: flat}]
"""


def stops(fake: FakeBinance) -> dict[PositionSide, tuple[Side, Decimal]]:
    """The position's stop-markets by leg (the daily loss cap's are far from 60,000)."""
    return {
        o.position_side: (o.side, o.trigger_price)
        for o in fake.sim.open_algo_orders("BTCUSDT")
        if o.order_type is OrderType.STOP_MARKET and o.trigger_price is not None and 50000 < o.trigger_price < 70000
    }


@contextlib.asynccontextmanager
async def bots(fake: FakeBinance, text: str, tmp_path: Path) -> AsyncIterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start the bot (again) with `start()`; the last one started is stopped at the end."""
    book = tmp_path / "book.yaml"
    book.write_text(text)
    stop = asyncio.Event()
    feeder = asyncio.create_task(market(fake, stop))
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        started.append(start_bot(fake, book, tmp_path / "run"))
        return started[-1]

    try:
        yield start
    finally:
        for bot in started:
            with contextlib.suppress(ProcessLookupError):
                bot.send_signal(signal.SIGTERM)
            await asyncio.to_thread(bot.communicate, timeout=20)
        stop.set()
        await feeder


def first_stop_after_start(run_dir: Path) -> int:
    """Milliseconds from the last run's engine start to its first stop of a position (not the cap's)."""
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        (last_run,) = db.execute("SELECT run_id FROM entries ORDER BY id DESC LIMIT 1").fetchone()
        rows = db.execute(
            "SELECT time, body FROM entries WHERE run_id = ? AND kind = 'command' ORDER BY id", (last_run,)
        ).fetchall()
    started = next(t for t, body in rows if '"SetPositionMode"' in body)
    placed = next(t for t, body in rows if '"STOP_MARKET"' in body and '"daily_loss_cap"' not in body)
    return placed - started


async def test_a_restart_while_a_lost_stop_counts_down_places_a_stop_at_once(tmp_path):
    async with FakeBinance(Market.USDM) as fake, bots(fake, ONE_WAY, tmp_path) as start:
        bot = start()
        await until(lambda: PositionSide.BOTH in stops(fake), timeout=20)
        (algo,) = [a for a in fake.sim._store.open_algos("BTCUSDT") if 50000 < a.trigger.stop_price < 70000]
        events: list[AccountEvent] = []
        fake.sim._desk.end_algo(algo, "EXPIRED", "system maintenance", fake.now(), events)
        await fake.publish_account(events)
        lost_at = time.monotonic()
        await asyncio.sleep(1)  # the bot heard it: its countdown (10 s) runs
        bot.send_signal(signal.SIGKILL)
        await asyncio.to_thread(bot.wait, 5)
        assert fake.sim.positions("BTCUSDT") and stops(fake) == {}  # bare, and no bot
        start()
        await until(lambda: PositionSide.BOTH in stops(fake), timeout=20)
        bare_s = time.monotonic() - lost_at
    assert stops(fake)[PositionSide.BOTH][0] is Side.SELL
    assert first_stop_after_start(tmp_path / "run") < 1000
    assert bare_s < 10, bare_s


async def test_a_restart_with_both_hedge_legs_bare_places_both_legs_stops_at_once(tmp_path):
    """Killed within the countdown of two legs opened without a stop: the restart places the guard's
    stop on each leg at once, not on the first and the other a countdown later."""
    async with FakeBinance(Market.USDM) as fake, bots(fake, HEDGE, tmp_path) as start:
        bot = start()
        await until(lambda: len(fake.sim.positions("BTCUSDT")) == 2, timeout=20)
        bot.send_signal(signal.SIGKILL)
        await asyncio.to_thread(bot.wait, 5)
        assert stops(fake) == {}
        start()
        restarted = time.monotonic()
        await until(lambda: len(stops(fake)) == 2, timeout=30)
        both_s = time.monotonic() - restarted
    assert {leg: side for leg, (side, _) in stops(fake).items()} == {
        PositionSide.LONG: Side.SELL,
        PositionSide.SHORT: Side.BUY,
    }
    assert first_stop_after_start(tmp_path / "run") < 1000
    assert both_s < 8, both_s
    # The verdicts say the stops went out at the restart, not "10s after it opened" (no countdown ran).
    verdicts = guard_texts(tmp_path / "run", "protective_stop")
    assert len(verdicts) == 2 and all(
        v.startswith(f"the {side} position had no stop on the exchange when the bot started again: placed")
        for v, side in zip(sorted(verdicts), ("long", "short"), strict=True)
    ), verdicts


def guard_texts(run_dir: Path, guard: str) -> list[str]:
    """The last run's verdict texts of `guard`."""
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        (last_run,) = db.execute("SELECT run_id FROM entries ORDER BY id DESC LIMIT 1").fetchone()
        rows = db.execute("SELECT body FROM entries WHERE run_id = ? AND kind = 'guard'", (last_run,)).fetchall()
    return [v["reason"] for (b,) in rows for v in json.loads(b)["verdicts"] if v["guard"] == guard]


HEDGE_STOPS = """\
rulebook: bare-legs-own-stops
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3, position_mode: hedge}
states:
  flat: {position: none}
  long: {position: long}
  both: {position: any}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 3%}}, {goto: long}]
  - name: hedge
    on: trade
    in: long
    do: [{enter: {side: short, size: "0.01"}}, {stop_loss: {distance: 2%}}, {goto: both}]
  - name: never
    on: trade
    in: both
    when: price < 0
    do: [exit, {goto: flat}]
"""


async def test_a_restart_gives_each_bare_hedge_leg_the_stop_of_the_rule_that_opened_it(tmp_path):
    """Both legs' stops expired, the bot killed, restarted: the long leg got the short rule's 2% stop
    (the rule of the last filled entry, on the first bare leg) and the short leg the guard's 5%."""
    async with FakeBinance(Market.USDM) as fake, bots(fake, HEDGE_STOPS, tmp_path) as start:
        bot = start()
        await until(lambda: len(stops(fake)) == 2, timeout=20)
        before = stops(fake)
        events: list[AccountEvent] = []
        for algo in [a for a in fake.sim._store.open_algos("BTCUSDT") if 50000 < a.trigger.stop_price < 70000]:
            fake.sim._desk.end_algo(algo, "EXPIRED", "system maintenance", fake.now(), events)
        bot.send_signal(signal.SIGKILL)  # it hears nothing of it
        await asyncio.to_thread(bot.wait, 5)
        await fake.publish_account(events)
        assert stops(fake) == {}
        start()
        await until(lambda: len(stops(fake)) == 2, timeout=20)
        await asyncio.sleep(0.5)  # nothing else follows
        after = stops(fake)
    assert after == before, (before, after)
