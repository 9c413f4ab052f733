"""A live runner in-process against the fake exchange: the account it starts from, the daily loss
cap acting on real balances, and an order whose fate is unknown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from rulebot.core.enums import Market, OrderType
from rulebot.core.events import MarkPrice, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, live
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner
from rulebot.testing.fake_binance import FakeBinance

from .conftest import HOLD_ON_TRADE, until

D = Decimal
BOOK = HOLD_ON_TRADE


async def quote(fake: FakeBinance, stop: asyncio.Event, price: Callable[[int], Decimal]) -> None:
    i = 1
    while not stop.is_set():
        px = price(i)
        await fake.feed(MarkPrice("BTCUSDT", px, px, None, 0, 0))
        await fake.feed(Trade("BTCUSDT", px, D("0.01"), 0, True, i, i, i))
        i += 1
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(
    fake: FakeBinance,
    text: str,
    tmp_path: Path,
    said: list[str],
    price: Callable[[int], Decimal] | None = None,
    **settings: Any,
) -> AsyncIterator[Runner]:
    keys = tmp_path / "keys"
    keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
    keys.chmod(0o600)
    path = tmp_path / "book.yaml"
    path.write_text(text)
    cfg = RunConfig(path, "live", tmp_path / "run", watch=False, **settings)
    runner = await live(
        compile_text(text), cfg, Connection(rest_url=fake.rest_url, ws_url=fake.ws_url), str(keys), announce=said.append
    )
    stop = asyncio.Event()
    feeder = asyncio.create_task(quote(fake, stop, price or (lambda i: D(60000) + D(i % 7))))
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        if not task.done():
            with contextlib.suppress(ConnectionError, OSError):
                await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 15)
        stop.set()
        await feeder


def seen(runner: Runner, key: str) -> object:
    return runner.status().get(key)


async def test_live_starts_from_the_accounts_equity_and_says_so_before_any_order(tmp_path):
    said: list[str] = []
    async with FakeBinance(Market.USDM, balances={"USDT": D(5000)}) as fake:
        async with running(fake, BOOK, tmp_path, said) as runner:
            assert not fake.placed_ids  # everything below was said before the first order
            assert "USDT 5000" in said[1] and "isolated margin" in said[1] and "one-way" in said[1]
            assert said[2].startswith("guards: max_leverage=") and "daily_loss_cap=5%" in said[2]
            await until(lambda: bool(seen(runner, "positions")))
            st = runner.status()
        db = sqlite3.connect(runner.cfg.journal_path())
        (body,) = db.execute("SELECT body FROM entries WHERE kind = 'daily' ORDER BY id LIMIT 1").fetchone()
        entry = fake.placed_ids[0]
        fills = db.execute("SELECT COUNT(*) FROM entries WHERE kind = 'order' AND client_order_id = ?", (entry,))
        assert fills.fetchone()[0] >= 2  # the user stream's NEW and FILLED are in the journal, as paper fills are
    daily = json.loads(body)
    assert daily["start_equity"] == {"USDT": "5000"}  # the day starts from the account, not from zero
    assert abs(D(st["daily_pnl"]["USDT"])) < 5  # fees and a few ticks, not the whole wallet


async def test_the_daily_loss_cap_acts_on_a_live_account(tmp_path):
    capped = BOOK.replace("risk: {protective_stop_within: 1s}", 'risk: {daily_loss_cap: "20 USDT"}').replace(
        '"0.01"', '"0.2"'
    )
    # the entry's fees (2 x 6 USDT) fit in the cap; the fall to 59,000 then costs 200 USDT
    falling = lambda i: D(60000) if i < 30 else D(59000)  # noqa: E731
    async with FakeBinance(Market.USDM) as fake, running(fake, capped, tmp_path, [], falling) as runner:
        await until(lambda: runner.status().get("guards", {}).get("daily_loss_breached"), timeout=15)
        await until(lambda: not seen(runner, "positions"), timeout=10)
        await asyncio.sleep(0.5)
        orders = [fake.sim.order("BTCUSDT", c) for c in fake.placed_ids]
        entries = [
            o
            for o in orders
            if o is not None and o.order_type is OrderType.MARKET and not (o.reduce_only or o.close_position)
        ]
    assert len(entries) == 1  # closed at the cap, and no entry after the breach


async def test_an_order_of_unknown_fate_is_not_taken_for_refused(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        fake.rest_faults.unknown_after_execute = 1  # the entry executes; Binance answers "status unknown"

        def lookups_fail(method: str, path: str, _: float) -> None:
            if method == "GET" and path == "/fapi/v1/order":  # and asking Binance about it fails too
                fake.rest_faults.status_503 = 1

        fake.on_request = lookups_fail
        async with running(fake, BOOK, tmp_path, []) as runner:
            await until(lambda: bool(fake.placed_ids), timeout=10)
            await until(lambda: any(n["kind"] == "order-unknown" for n in notices(runner)), timeout=15)
            fake.on_request = None
            await until(lambda: any(n["kind"] == "reconciled" for n in notices(runner)), timeout=10)
            await until(lambda: bool(seen(runner, "positions") and seen(runner, "orders")), timeout=10)
            await asyncio.sleep(0.5)  # trades keep coming: the entry rule must stay quiet
            st = runner.status()
            entries = [
                o
                for o in map(lambda c: fake.sim.order("BTCUSDT", c), fake.placed_ids)
                if o is not None and o.order_type is OrderType.MARKET
            ]
    assert len(entries) == 1 and st["states"] == {"BTCUSDT": "long"}
    # placed when the entry's fill arrived, with the daily loss cap's stop
    assert sorted(o["purpose"] for o in st["orders"]) == ["daily_cap", "stop_loss"]


def notices(runner: Runner) -> list:
    db = sqlite3.connect(runner.cfg.journal_path())
    try:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'notice'")]
    finally:
        db.close()


async def test_an_exit_filled_while_the_user_stream_was_down_is_settled_on_reconnect(tmp_path):
    book = BOOK.replace("when: price > 100000000", "when: price > 60050").replace(
        "    in: flat\n    do:", "    in: flat\n    when: price < 60020\n    do:"
    )
    level = {"price": D(60000)}
    async with FakeBinance(Market.USDM) as fake:

        def no_listen_key(method: str, path: str, _: float) -> None:
            if method == "POST" and path.endswith("/listenKey"):
                fake.rest_faults.status_503 = 1  # the user stream cannot come back for now

        async with running(fake, book, tmp_path, [], price=lambda i: level["price"]) as runner:
            await until(lambda: bool(seen(runner, "positions") and seen(runner, "orders")), timeout=10)
            fake.on_request = no_listen_key
            await fake.expire_listen_key()
            await until(lambda: "user" in runner.status()["guards"]["streams_down"], timeout=5)
            level["price"] = D(60060)  # the exit rule fires; its fill is published to nobody
            await until(lambda: not fake.sim.positions("BTCUSDT"), timeout=10)
            fake.on_request = None
            await until(lambda: "user" not in runner.status()["guards"]["streams_down"], timeout=15)
            await until(lambda: not seen(runner, "orders"), timeout=10)
            st = runner.status()
            # The exit's fill, settled from REST, is in the position the reconciliation read: the
            # bot does not wait for an account update that will never come before it enters again.
            level["price"] = D(60000)
            await until(lambda: bool(fake.sim.positions("BTCUSDT")), timeout=10)
    assert st["states"] == {"BTCUSDT": "flat"} and st["positions"] == []
    assert any("orders brought up to date" in n["message"] and "0 orders" not in n["message"] for n in notices(runner))
    with contextlib.closing(sqlite3.connect(runner.cfg.journal_path())) as db:
        sql = "SELECT COUNT(*) FROM entries WHERE kind = 'guard' AND body LIKE '%not in the position%'"
        assert db.execute(sql).fetchone() == (0,)  # no entry waited for an account update that never came


RESTING_ENTRY = BOOK.replace(
    '{enter: {side: long, size: "0.01"}}', '{enter: {side: long, size: "0.01", order: limit, price: "price * 0.9"}}'
)


async def test_a_bot_that_dies_holding_a_position_leaves_its_stop_working(tmp_path):
    """Binance's countdown cancel-all cancels every open order of the symbol. Armed for as long as the
    bot ran, it took a dead bot's stops 60 s after the last heartbeat and left the position bare."""
    async with FakeBinance(Market.USDM) as fake, running(fake, BOOK, tmp_path, []) as runner:
        await until(lambda: bool(seen(runner, "positions") and seen(runner, "orders")), timeout=10)
        await asyncio.sleep(1.2)  # the switch looks at its orders at least every second
        assert fake.sim.countdown("BTCUSDT") is None  # a market entry filled, only stops work: off
        assert runner.venue is not None
        runner.venue.stop_heartbeat_task()  # the bot "dies": no heartbeat, no clean stop
        fake.sim.tick(fake.now() + 10 * 60_000)  # ten minutes later
        assert fake.sim.positions("BTCUSDT") and fake.sim.open_algo_orders("BTCUSDT")  # still protected


async def test_the_dead_mans_switch_is_armed_while_an_entry_rests_and_off_after_a_keep_stop(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        async with running(fake, RESTING_ENTRY, tmp_path, []) as runner:
            await until(lambda: bool(seen(runner, "orders")), timeout=10)
            await until(lambda: fake.sim.countdown("BTCUSDT") is not None, timeout=2)
            assert fake.sim.countdown("BTCUSDT") > fake.now()  # the entry would die with the bot
            assert not fake.sim.positions("BTCUSDT")
        # `running` stopped it with the keep policy: the countdown is off
        assert fake.sim.countdown("BTCUSDT") is None


async def test_a_dry_run_on_the_same_run_directory_does_not_switch_the_live_daily_cap_off(tmp_path):
    """The issue's run: a dry-run on a 1,000 USDT paper wallet, then live on a 5,000 account
    showed daily PnL +4,000 (the dry-run's start equity), and the cap could not trigger; it
    also came back in the dry-run's state `long` and never entered."""
    from rulebot.runtime.assemble import dry_run

    path = tmp_path / "book.yaml"
    path.write_text(BOOK)
    paper_cfg = RunConfig(path, "dry-run", tmp_path / "run", balance=D(1000), watch=False, max_events=200)
    paper = await (await dry_run(compile_text(BOOK), paper_cfg, "simulated", hours=1)).run()
    assert paper["states"]["BTCUSDT"] == "long"
    async with (
        FakeBinance(Market.USDM, balances={"USDT": D(5000)}) as fake,
        running(fake, BOOK, tmp_path, []) as runner,
    ):
        await until(lambda: bool(seen(runner, "positions")))  # it entered: it did not inherit `long`
        pnl = D(runner.status()["daily_pnl"]["USDT"])
        run_id = runner.run_id
    db = sqlite3.connect(runner.cfg.journal_path())
    (body,) = db.execute("SELECT body FROM entries WHERE kind = 'daily' AND run_id = ?", (run_id,)).fetchone()
    assert json.loads(body)["start_equity"] == {"USDT": "5000"}
    assert abs(pnl) < 5
    modes = dict(db.execute("SELECT run_id, mode FROM entries GROUP BY run_id").fetchall())
    assert modes[run_id] == "live" and sorted(modes.values()) == ["dry-run", "live"]


def test_dry_run_and_live_have_separate_default_run_directories():
    from rulebot.runtime.assemble import default_run_dir

    book = Path("rules/ema-trend-btc.yaml")
    assert default_run_dir(book) != default_run_dir(book, "dry-run")
    assert default_run_dir(book) == Path(".rulebot/ema-trend-btc")  # a live bot keeps its journal across upgrades


async def test_a_restart_adopts_the_daily_cap_stop_as_such_and_places_no_second_one(tmp_path):
    # Adopted as a "stop_loss" (its type), the cap stop stayed at yesterday's price beside a new one.
    capped = BOOK.replace("risk: {protective_stop_within: 1s}", 'risk: {daily_loss_cap: "20 USDT"}').replace(
        '"0.01"', '"0.2"'
    )
    async with FakeBinance(Market.USDM) as fake:
        async with running(fake, capped, tmp_path, []) as runner:
            await until(lambda: len(fake.sim.open_algo_orders("BTCUSDT")) == 2, timeout=10)
        async with running(fake, capped, tmp_path, []) as runner:
            await until(lambda: len(seen(runner, "orders") or ()) == 2, timeout=10)
            await asyncio.sleep(0.5)  # trades keep coming: nothing is re-placed
            purposes = sorted(o["purpose"] for o in seen(runner, "orders"))
            working = fake.sim.open_algo_orders("BTCUSDT")
    assert purposes == ["daily_cap", "stop_loss"]
    assert len(working) == 2
