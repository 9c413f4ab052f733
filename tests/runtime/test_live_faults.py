"""A live runner against the fake exchange under faults of time: a market feed that arrives late,
a local clock off from Binance's, an order answer held back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from rulebot.core.enums import Market
from rulebot.core.events import MarkPrice, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, live
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until

D = Decimal

# Enters on a trade while flat, then holds. `stale_after` is 1 s so that a lag shows in a second.
ENTER_ON_TRADE = """\
rulebook: lagging
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
risk: {stale_after: 1s}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""


async def quote(fake: FakeBinance, stop: asyncio.Event, symbols: tuple[str, ...] = ("BTCUSDT",)) -> None:
    i = 1
    while not stop.is_set():
        for s in symbols:
            px = D(60000) + D(i % 7) if s == "BTCUSDT" else D(3000) + D(i % 5)
            await fake.feed(MarkPrice(s, px, 0, px, None, 0))
            await fake.feed(Trade(s, px, D("0.01"), 0, True, i, i, i))
        i += 1
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(
    fake: FakeBinance, text: str, tmp_path: Path, symbols: tuple[str, ...] = ("BTCUSDT",), **options: Any
) -> AsyncIterator[Runner]:
    keys = tmp_path / "keys"
    keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
    keys.chmod(0o600)
    path = tmp_path / "book.yaml"
    path.write_text(text)
    cfg = RunConfig(path, "live", tmp_path / "run", watch=False, **options)
    runner = await live(
        compile_text(text),
        cfg,
        Connection(rest_url=fake.rest_url, ws_url=fake.ws_url),
        str(keys),
        announce=lambda _: None,
    )
    stop = asyncio.Event()
    feeder = asyncio.create_task(quote(fake, stop, symbols))
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        if not task.done() and runner.stopping is None:
            with contextlib.suppress(ConnectionError, OSError):
                await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 20)
        stop.set()
        await feeder


def guard_rows(runner: Runner) -> list[dict]:
    if runner.desk is None:  # not started: no journal yet
        return []
    db = sqlite3.connect(runner.cfg.journal_path())
    try:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'guard'")]
    finally:
        db.close()


def stale_refusals(runner: Runner) -> list[str]:
    return [
        v["reason"]
        for g in guard_rows(runner)
        for v in g["verdicts"]
        if v["guard"] == "stale_data" and v["kind"] == "reject"
    ]


async def test_a_market_feed_arriving_late_is_stale_and_the_bot_does_not_enter(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        fake.hub.faults.market_lag_ms = 1_500  # every frame reaches the bot 1.5 s after Binance stamped it
        async with running(fake, ENTER_ON_TRADE, tmp_path) as runner:
            await until(lambda: len(stale_refusals(runner)) >= 3, timeout=10)
            st = runner.status()
    assert fake.placed_ids == [] and st["states"] == {"BTCUSDT": "flat"}
    assert "market data is 1.5s old" in stale_refusals(runner)[0]


async def test_a_local_clock_behind_binances_does_not_make_fresh_data_stale(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        fake.rest_faults.clock_skew_ms = -3_000  # Binance's clock is 3 s behind this machine's
        async with running(fake, ENTER_ON_TRADE, tmp_path) as runner:
            await until(lambda: bool(fake.placed_ids), timeout=10)
            await until(lambda: runner.status()["states"] == {"BTCUSDT": "long"}, timeout=10)
    assert stale_refusals(runner) == []


TWO_SYMBOLS = """\
rulebook: two
market: usdm
symbols: [BTCUSDT, ETHUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""


async def test_one_slow_order_answer_holds_up_neither_other_symbols_nor_the_kill_switch(tmp_path):
    """The live run: one answer held 8 s froze everything for 7-8 s. Here: 3 s, and the bot
    must go on meanwhile — the other symbol's entry leaves, events are processed, a kill is
    taken at once."""
    async with FakeBinance(Market.USDM) as fake:
        fake.rest_faults.hold_next_answer_ms = 3_000  # the first entry (BTCUSDT) executes; its answer waits
        posts: list[tuple[str, float]] = []
        fake.on_request = lambda method, path, at: posts.append((path, at)) if method == "POST" else None
        async with running(fake, TWO_SYMBOLS, tmp_path, ("BTCUSDT", "ETHUSDT")) as runner:
            await until(lambda: len(fake.placed_ids) >= 1, timeout=10)
            held = fake.placed_ids[0]
            assert fake.sim.order("BTCUSDT", held) is not None
            seen = runner.events
            await until(lambda: len(fake.placed_ids) >= 2, timeout=1.5)  # ETHUSDT's entry does not wait
            assert fake.sim.order("ETHUSDT", fake.placed_ids[1]) is not None
            await until(lambda: runner.events > seen + 20, timeout=1.5)  # nor does the market data
            asked = time.monotonic()
            answer = await control.request(runner.cfg.run_dir, {"cmd": "kill", "policy": "keep"})
            took = time.monotonic() - asked
        assert answer["ok"] and took < 1.0, f"the kill waited {took:.1f} s for an order answer"
        st = runner.status()
    assert {p["symbol"] for p in st["positions"]} == {"BTCUSDT", "ETHUSDT"}  # the held answer arrived in the end
    # Per symbol the order holds: BTCUSDT's stops (its stop-loss and its daily-cap stop; 0.01 ETH cannot
    # lose the cap) left after its entry's answer, ETHUSDT's did not wait for it.
    entry_at = next(at for path, at in posts if path.endswith("/v1/order"))
    stops = sorted(at - entry_at for path, at in posts if path.endswith("/algoOrder"))
    assert len(stops) == 3 and stops[0] < 1.5 and stops[1] >= 2.9, stops
    assert len(fake.sim.positions("BTCUSDT")) == 1 and len(fake.sim.positions("ETHUSDT")) == 1


async def test_data_that_waited_in_the_bots_own_queue_is_stale_when_the_engine_gets_it(tmp_path):
    """Arrival stamps alone miss a backlog inside the bot: these trades arrived on time, then
    waited 7 s (a slow journal, a busy machine) before the engine took them."""
    from rulebot.feeds.catalog import builtin_brackets, builtin_instruments

    clock = {"now": 1_750_000_000_000}

    async def backlog() -> AsyncIterator[object]:
        for i in range(1, 6):
            t = clock["now"] - 7_000
            yield Trade("BTCUSDT", D(60000), D("0.01"), t, True, i, received=t + 30)  # it arrived 30 ms late

    path = tmp_path / "book.yaml"
    path.write_text(ENTER_ON_TRADE)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=False, use_scheduler=False)
    runner = Runner(
        cfg,
        compile_text(ENTER_ON_TRADE),
        backlog(),
        instruments=builtin_instruments(Market.USDM),
        brackets=builtin_brackets(Market.USDM),
        clock=lambda: clock["now"],
    )
    status = await runner.run()
    assert status["states"] == {"BTCUSDT": "flat"} and not status["positions"]
    assert "market data is 7.0s old" in stale_refusals(runner)[0]


async def test_a_clock_that_drifts_while_running_is_measured_again(tmp_path):
    """The offset to Binance's clock is measured again while the bot runs: here Binance's clock
    moves 3 s ahead of this machine's during the run, which, unmeasured, would hide a lagging
    feed (its old frames would look 1.5 s younger than they arrived)."""
    async with FakeBinance(Market.USDM) as fake:
        fake.hub.faults.market_lag_ms = 1_500
        async with running(fake, ENTER_ON_TRADE, tmp_path, clock_sync_every_s=0.2) as runner:
            await until(lambda: len(stale_refusals(runner)) >= 2, timeout=10)
            fake.rest_faults.clock_skew_ms = 3_000
            jumped = fake.now()  # frames stamped from here on carry Binance's new clock
            await until(lambda: (runner.status()["data"]["BTCUSDT"]["last_time"] or 0) > jumped + 500, timeout=15)
            st = runner.status()
    assert fake.placed_ids == [] and st["states"] == {"BTCUSDT": "flat"}


async def test_a_reconciliation_does_not_take_an_order_waiting_behind_a_slow_answer_for_lost(tmp_path, monkeypatch):
    """The stop waits in its symbol's lane behind the entry's held answer, unsent: Binance does
    not have it yet, and that must not make the bot forget it (it would then leave, untracked)."""
    from rulebot.runtime import exchange_sync

    monkeypatch.setattr(exchange_sync, "IN_FLIGHT_MS", 100)  # "sent long ago" sooner than the 6 s of the real run
    async with FakeBinance(Market.USDM) as fake:
        fake.rest_faults.hold_next_answer_ms = 2_500
        async with running(fake, ENTER_ON_TRADE, tmp_path) as runner:
            await until(lambda: bool(fake.sim.positions("BTCUSDT")), timeout=10)  # the entry executed, answer held
            await asyncio.sleep(0.3)  # its fill came on the user stream: the stop is queued behind the entry
            answer = await runner.request({"cmd": "reconcile", "reason": "test"})
            await until(lambda: bool(fake.sim.open_algo_orders("BTCUSDT")), timeout=10)  # the stop left in the end
            await until(lambda: "stop_loss" in [o["purpose"] for o in runner.status()["orders"]], timeout=5)
    assert answer["ok"]
    assert journal_says(runner, "reconciled") and not journal_says(runner, "never arrived")


def journal_says(runner: Runner, text: str) -> bool:
    db = sqlite3.connect(runner.cfg.journal_path())
    try:
        return db.execute("SELECT COUNT(*) FROM entries WHERE body LIKE ?", (f"%{text}%",)).fetchone()[0] > 0
    finally:
        db.close()


# Enters at once when flat; gives up on an entry not yet heard of within the next second.
GIVE_UP = """\
rulebook: giving-up
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {goto: long}]
  - name: give_up
    on: every 1s
    in: long
    do: [exit, {goto: flat}]
"""


def entries_like(runner: Runner, text: str) -> list[tuple[str, dict]]:
    db = sqlite3.connect(runner.cfg.journal_path())
    try:
        rows = db.execute("SELECT kind, body FROM entries WHERE body LIKE ? ORDER BY id", (f"%{text}%",)).fetchall()
        return [(k, json.loads(b)) for k, b in rows]
    finally:
        db.close()


def entries_of(runner: Runner, cid: str) -> list[tuple[str, dict]]:
    db = sqlite3.connect(runner.cfg.journal_path())
    try:
        rows = db.execute("SELECT kind, body FROM entries WHERE client_order_id = ? ORDER BY id", (cid,)).fetchall()
        return [(k, json.loads(b)) for k, b in rows]
    finally:
        db.close()


async def test_an_entry_cancelled_while_a_ban_holds_it_back_is_never_sent(tmp_path):
    """The probe: the entry's POST got 418 (Retry-After 3 s) and waited out the ban; the engine
    gave it up meanwhile, but its cancel waited behind it, so the entry filled when the ban ended
    and the cancel failed (-2013). A cancel of an order that has not left withdraws it: it is
    never sent, and the engine hears it CANCELED, journaled, with nothing left working."""
    async with FakeBinance(Market.USDM) as fake:
        fake.rest_faults.retry_after_s = 3
        posts: list[float] = []

        def ban_the_first_entry(method: str, path: str, at: float) -> None:
            if method == "POST" and path == "/fapi/v1/order":
                posts.append(at)
                if len(posts) == 1:
                    fake.rest_faults.status_418 = 1  # this very request is answered 418

        fake.on_request = ban_the_first_entry
        async with running(fake, GIVE_UP, tmp_path) as runner:
            await until(lambda: len(posts) == 1, timeout=10)
            engine = runner.engine
            assert engine is not None
            first = next(r.client_order_id for r in engine.open_orders() if r.purpose == "entry")
            await until(lambda: any(k == "order" for k, _ in entries_of(runner, first)), timeout=5)
            banned_until = posts[0] + 3
            await until(lambda: time.perf_counter() > banned_until + 1, timeout=10)  # the ban is over
        rows = [(k, b) for k, b in entries_of(runner, first) if k != "guard"]
    assert first not in fake.placed_ids, "the cancelled entry reached the exchange after the ban"
    assert fake.sim.order("BTCUSDT", first) is None
    assert [k for k, _ in rows] == ["command", "command", "order"]  # placed, cancelled, CANCELED
    assert rows[1][1]["type"] == "CancelOrder"
    assert rows[2][1]["status"] == "CANCELED" and rows[2][1]["filled_qty"] == "0"
    # Its cancel was never refused. (The test runs on past the ban: a later entry's cycle may have its
    # own refused cancel, e.g. of a stop that had just fired, which is not what this test is about.)
    assert not journal_says(runner, f"cancel of {first} refused"), entries_like(runner, "cancel-failed")
    assert runner.engine is not None and runner.engine.order(first) is not None
    assert all(r.client_order_id != first for r in runner.engine.open_orders())


async def test_an_entry_already_on_the_wire_is_cancelled_on_binance_not_withdrawn(tmp_path):
    """The entry executed, but its answer and its fill's report are held: only Binance can cancel
    it now, so the cancel the engine sends meanwhile goes to Binance (which has filled it)."""
    async with FakeBinance(Market.USDM) as fake:
        fake.rest_faults.hold_next_answer_ms = 3_000
        deletes: list[str] = []

        def hold_the_fill(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/order":
                fake.hub.faults.hold_user = True  # the engine does not hear of the fill yet
            elif method == "DELETE":
                deletes.append(path)

        fake.on_request = hold_the_fill
        async with running(fake, GIVE_UP, tmp_path) as runner:
            await until(lambda: len(fake.placed_ids) == 1, timeout=10)
            first = fake.placed_ids[0]
            await until(lambda: any(b.get("type") == "CancelOrder" for _, b in entries_of(runner, first)), timeout=5)
            await until(lambda: "/fapi/v1/order" in deletes, timeout=10)  # sent once the answer came
            fake.hub.faults.hold_user = False
            await until(lambda: any(b.get("status") == "FILLED" for _, b in entries_of(runner, first)), timeout=5)
        rows = entries_of(runner, first)
    assert "CANCELED" not in [b.get("status") for _, b in rows]  # not answered locally: it was on Binance
    assert [b["status"] for k, b in rows if k == "order"][-1] == "FILLED"
    assert journal_says(runner, "cancel-failed")  # Binance's answer: it had filled (-2011)
