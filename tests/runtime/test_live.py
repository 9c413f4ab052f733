"""The live bot against the fake exchange: SIGKILL mid-order and restart, and a soak with faults."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

from rulebot.core.enums import Market, OrderType
from rulebot.core.events import BookTop, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.testing.fake_binance import FakeBinance

from .conftest import HOLD_ON_TRADE, ROOT, until

D = Decimal
BOOK = HOLD_ON_TRADE


async def market(fake: FakeBinance, stop: asyncio.Event) -> None:
    i = 1
    while not stop.is_set():
        px = D(60000) + D(i % 7)
        await fake.feed(BookTop("BTCUSDT", px, D(5), px + D("0.1"), D(5), 0, i))
        await fake.feed(Trade("BTCUSDT", px, D("0.01"), 0, True, i, i, i))
        i += 1
        await asyncio.sleep(0.02)


def start_bot(fake: FakeBinance, book: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BINANCE_API_KEY": fake.api_key,
        "BINANCE_API_SECRET": fake.api_secret,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rulebot.cli",
            "run",
            str(book),
            "--live",
            "--rest-url",
            fake.rest_url,
            "--ws-url",
            fake.ws_url,
            "--run-dir",
            str(run_dir),
            "--no-watch",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


async def status(run_dir: Path) -> dict:
    try:
        return await control.request(run_dir, {"cmd": "status"}, timeout=2)
    except (ConnectionError, OSError, TimeoutError):
        return {}


async def test_sigkill_while_placing_an_order_then_restart_no_duplicate_no_forgotten_position(tmp_path):
    book = tmp_path / "live.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    async with FakeBinance(Market.USDM) as fake:
        stop = asyncio.Event()
        feeder = asyncio.create_task(market(fake, stop))
        fake.rest_faults.hold_after_execute_ms = 3000  # the entry executes; its answer is on its way
        bot = start_bot(fake, book, run_dir)
        try:
            await until(lambda: any(o.order_type is OrderType.MARKET for o in _orders(fake)), timeout=20)
            bot.send_signal(signal.SIGKILL)  # mid-order: executed on the exchange, not yet confirmed to the bot
            bot.wait(5)
            fake.rest_faults.hold_after_execute_ms = 0
            entries_before = _entries(fake)
            assert entries_before == 1
            bot = start_bot(fake, book, run_dir)
            st: dict = {}

            async def settled() -> bool:
                nonlocal st
                st = await status(run_dir)
                return bool(st.get("positions")) and bool(st.get("orders"))

            deadline = time.monotonic() + 20
            while not await settled():
                assert time.monotonic() < deadline, f"bot did not settle: {st}"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # trades keep coming: the entry rule must stay quiet
            assert _entries(fake) == 1  # no duplicate order after the restart
            assert st["states"] == {"BTCUSDT": "long"}  # the state came back from the journal
            assert st["positions"][0]["size"] == "0.01"  # and the position from the exchange
            assert fake.sim.open_algo_orders("BTCUSDT")  # a stop protects it (the engine's protective stop)
            await control.request(run_dir, {"cmd": "kill", "policy": "keep"})
            await asyncio.to_thread(bot.wait, 15)
        finally:
            with contextlib.suppress(ProcessLookupError):
                bot.kill()
            stop.set()
            await feeder


def _orders(fake: FakeBinance) -> list:
    return [o for o in (fake.sim.order("BTCUSDT", cid) for cid in fake.placed_ids) if o is not None]


def _entries(fake: FakeBinance) -> int:
    return sum(1 for o in _orders(fake) if o.order_type is OrderType.MARKET and o.side.value == "BUY")


async def test_soak_dry_run_on_the_fake_exchange_with_faults_keeps_memory_flat_and_loses_no_trade(tmp_path):
    book = compile_text(BOOK.replace("protective_stop_within: 1s", "protective_stop_within: 5s"))
    async with FakeBinance(Market.USDM) as fake:
        cfg = RunConfig(tmp_path / "soak.yaml", "dry-run", tmp_path / "run", watch=False, use_scheduler=False)
        runner = await dry_run(book, cfg, "binance", connection=Connection(rest_url=fake.rest_url, ws_url=fake.ws_url))
        task = asyncio.create_task(runner.run())
        await until(lambda: fake.hub.connections >= 1)
        tracemalloc.start()
        sizes = []
        n = 6000
        for i in range(1, n + 1):
            await fake.feed(Trade("BTCUSDT", D(60000) + D(i % 11), D("0.01"), 0, i % 2 == 0, i, i, i))
            if i % 1500 == 0:
                fake.hub.faults.drop_after_messages = 1  # a socket cut every 1,500 trades
                fake.rest_faults.status_503 = 2  # and the REST catch-up after it fails twice first
            if i % 100 == 0:
                await asyncio.sleep(0.005)
            if i in (2000, n):
                await until(lambda i=i: runner.events >= i, timeout=20)
                sizes.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        final = await asyncio.wait_for(task, 15)
    assert final["events"] == n  # every trade reached the engine once (gaps backfilled by REST)
    catch_ups = sum(1 for _, path in fake.requests if path.endswith("/aggTrades"))
    assert catch_ups >= 3 * 3  # three cuts before the end, each catch-up refused twice before it got through
    assert sizes[1] - sizes[0] < 3_000_000  # memory stays flat as the run goes on
