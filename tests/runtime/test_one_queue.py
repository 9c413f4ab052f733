"""Each market event waits in one queue on its way to the engine (issue 13): Binance's streams put
straight into the runner's queue, replayed and simulated feeds are pumped into it. Requests still
go ahead of queued market data, a full queue makes the feed wait, and the feed lives as long as
the run."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.assemble import Connection, dry_run, live
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import YIELD_EVERY, Runner
from rulebot.runtime.sources import Put
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until

D = Decimal

# Reads every trade and never trades: what is measured is the way in, not orders.
WATCH = """\
rulebook: watch
market: usdm
symbols: [BTCUSDT]
account: {leverage: 2}
rules:
  - name: never
    on: trade
    in: flat
    when: price > 100000000
    do: [{enter: {side: long, size: "0.001"}}]
"""


def trade(i: int) -> Trade:
    return Trade("BTCUSDT", D(60000) + D(i % 7), D("0.01"), 0, i % 2 == 0, i, i, i)


async def _runner(mode: str, fake: FakeBinance, tmp_path: Path) -> Runner:
    path = tmp_path / "watch.yaml"
    path.write_text(WATCH)
    cfg = RunConfig(path, mode, tmp_path / "run", watch=False, use_scheduler=False)
    conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
    if mode == "dry-run":
        return await dry_run(compile_text(WATCH), cfg, "binance", connection=conn, announce=lambda _: None)
    keys = tmp_path / "keys"
    keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
    keys.chmod(0o600)
    return await live(compile_text(WATCH), cfg, conn, str(keys), announce=lambda _: None)


@pytest.mark.parametrize("mode", ["dry-run", "live"])
async def test_each_trade_from_binances_stream_is_queued_once_on_its_way_to_the_engine(mode, tmp_path, monkeypatch):
    """Every put into any asyncio queue is counted (`put` ends in `put_nowait`), over a real run:
    the fake exchange's WebSocket, the market stream, the runner, the engine."""
    puts: Counter[int] = Counter()
    real_put_nowait = asyncio.Queue.put_nowait

    def counted(queue: asyncio.Queue[object], item: object) -> None:
        if isinstance(item, Trade):
            puts[item.trade_id] += 1
        real_put_nowait(queue, item)

    monkeypatch.setattr(asyncio.Queue, "put_nowait", counted)
    n = 300
    async with FakeBinance(Market.USDM) as fake:
        runner = await _runner(mode, fake, tmp_path)
        task = asyncio.create_task(runner.run())
        await until(lambda: fake.hub.connections_on("market") >= 1, timeout=15)
        for i in range(1, n + 1):
            await fake.feed(trade(i))
            if i % 50 == 0:
                await asyncio.sleep(0.005)
        await until(lambda: runner.events_by_type.get("Trade", 0) >= n, timeout=20)
        await runner.request({"cmd": "kill", "policy": "keep"})
        final = await asyncio.wait_for(task, 20)
    assert final["events_by_type"]["Trade"] == n  # each reached the engine once
    assert sorted(puts) == list(range(1, n + 1))
    twice = {i: c for i, c in puts.items() if c != 1}
    assert not twice, f"trades queued more than once on the way to the engine: {dict(list(twice.items())[:5])}"


class Flood:
    """A push source faster than any engine: it puts trades until the queue has no room, then
    waits in `put` for it; it notes when it is started and stopped."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.put_count = 0
        self.started = self.stopped = False
        self._task: asyncio.Task[None] | None = None

    def start(self, put: Put) -> None:
        if self.fail:
            raise RuntimeError("no route to the exchange")
        self.started = True
        self._task = asyncio.create_task(self._flood(put))

    async def _flood(self, put: Put) -> None:
        while True:
            self.put_count += 1
            await put(trade(self.put_count))

    async def stop(self) -> None:
        self.stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _flooded(tmp_path: Path, source: Flood) -> Runner:
    path = tmp_path / "watch.yaml"
    path.write_text(WATCH)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=False, use_scheduler=False)
    return Runner(
        cfg,
        compile_text(WATCH),
        source,
        instruments=builtin_instruments(Market.USDM),
        brackets=builtin_brackets(Market.USDM),
        venue_name="flood",
    )


async def test_a_kill_goes_ahead_of_a_full_queue_of_pushed_market_data_and_the_source_stops_with_the_run(tmp_path):
    flood = Flood()
    runner = _flooded(tmp_path, flood)
    task = asyncio.create_task(runner.run())
    await until(lambda: runner.queue.full(), timeout=20)
    # Back-pressure: the source waits for room; it never gets more than a queue ahead of the engine.
    assert flood.put_count <= runner.events + runner.queue.maxsize + 2
    seen = runner.events
    await asyncio.wait_for(runner.request({"cmd": "kill", "policy": "keep"}), 5)
    final = await asyncio.wait_for(task, 20)
    # The kill did not wait behind the 10,000 queued trades: at most the few the loop takes between two
    # chances for other tasks to run (it used to take the whole queue first, on Python 3.11.2).
    assert final["events"] - seen <= YIELD_EVERY + 1
    assert flood.put_count - final["events"] >= runner.queue.maxsize - 1
    assert flood.started and flood.stopped
    assert runner.stop_reason == "rulebot kill" and not runner.failed


async def test_a_push_source_that_cannot_start_stops_the_run_as_a_failed_feed(tmp_path):
    flood = Flood(fail=True)
    runner = _flooded(tmp_path, flood)
    await asyncio.wait_for(runner.run(), 20)
    assert runner.failed and flood.stopped
    assert runner.stop_reason == "the market feed failed: RuntimeError: no route to the exchange"


async def test_a_kill_sent_while_the_loop_drains_a_busy_queue_waits_behind_only_a_few_events(tmp_path):
    # Steady state: the engine drains, the flood refills. `queue.get` returns without yielding while the
    # queue holds events, so the loop used to take the whole queue (10,000 trades) before the request's
    # task could even run and reach `_urgent`.
    flood = Flood()
    runner = _flooded(tmp_path, flood)
    task = asyncio.create_task(runner.run())
    await until(lambda: runner.events > 3 * runner.queue.maxsize, timeout=60)
    await until(lambda: runner.queue.qsize() > runner.queue.maxsize // 2, timeout=20)
    seen = runner.events
    await asyncio.wait_for(runner.request({"cmd": "kill", "policy": "keep"}), 5)
    final = await asyncio.wait_for(task, 20)
    assert final["events"] - seen <= YIELD_EVERY + 1, (seen, final["events"])
    assert runner.stop_reason == "rulebot kill" and not runner.failed
