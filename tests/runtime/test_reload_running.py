"""Hot reload of a running dry-run bot on the simulated market: a valid rulebook that the
exchange cannot take as it stands is refused, and the bot, its position and its stops go on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

from rulebot.journal.writer import read_only
from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner

from .conftest import HOLD_ON_CANDLE, until

BOOK = HOLD_ON_CANDLE  # leverage 3, long 0.01 BTCUSDT with a 5% stop


def _aged(path: Path, seconds: float = 60) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


@contextlib.asynccontextmanager
async def holding(tmp_path: Path) -> AsyncIterator[Runner]:
    path = tmp_path / "book.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=False, reload_settle_s=0.2)
    runner = await dry_run(compile_file(str(path)), cfg, "simulated", hours=24, speed=300)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.status().get("positions") and _stops(runner), timeout=10)
        yield runner
    finally:
        await runner.request({"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 10)


def _stops(runner: Runner) -> list[dict]:
    return [o for o in runner.status().get("orders", []) if o.get("purpose") == "stop_loss"]


async def _reload(runner: Runner, text: str) -> dict:
    path = runner.cfg.rulebook
    path.write_text(text)
    _aged(path)
    return await runner.request({"cmd": "reload"})


async def test_lowering_the_leverage_under_an_isolated_position_is_refused_not_flattened(tmp_path):
    """Binance refuses to lower an isolated position's leverage (-4161). The reload used to be
    accepted, the refusal then halted the bot and closed the position at market."""
    async with holding(tmp_path) as runner:
        version = runner.status()["version"]
        answer = await _reload(runner, BOOK.replace("leverage: 3", "leverage: 2"))
        assert not answer["ok"], answer
        assert "leverage" in answer["errors"][0] and "3x" in answer["errors"][0] and "2x" in answer["errors"][0]
        await asyncio.sleep(0.5)  # events go on
        status = runner.status()
        assert status["version"] == version and not status["guards"]["halted"]
        assert status["positions"] and _stops(runner)
    db = read_only(runner.cfg.journal_path())
    refusals = [r[0] for r in db.execute("SELECT errors FROM reloads WHERE NOT accepted")]
    assert len(refusals) == 1 and "leverage" in refusals[0]


async def test_raising_the_leverage_under_a_position_is_taken(tmp_path):
    async with holding(tmp_path) as runner:
        answer = await _reload(runner, BOOK.replace("leverage: 3", "leverage: 4"))
        assert answer["ok"], answer
        await asyncio.sleep(0.5)
        status = runner.status()
        assert not status["guards"]["halted"] and status["positions"] and _stops(runner)


async def test_a_guard_loosened_by_a_reload_is_clamped_and_the_operator_is_told(tmp_path):
    """A rulebook may only tighten the guards; a looser value is clamped with a warning. On a
    reload the warning used to be dropped: `reloaded` and nothing else, nothing in the journal."""
    async with holding(tmp_path) as runner:
        answer = await _reload(runner, BOOK + "risk: {daily_loss_cap: 40%}\n")
        assert answer["ok"], answer
        assert any("daily_loss_cap" in w and "clamped" in w for w in answer["warnings"]), answer
        assert runner.status()["positions"] and _stops(runner)
    db = read_only(runner.cfg.journal_path())
    bodies = [r[0] for r in db.execute("SELECT body FROM entries WHERE kind = 'reload'")]
    assert len(bodies) == 1 and "daily_loss_cap" in bodies[0] and "clamped" in bodies[0]


async def test_a_watched_rulebook_whose_folder_is_switched_by_a_deploy_is_reloaded(tmp_path):
    """A deploy switches `current` from one release folder to the next. inotify kept watching the
    old folder: the new rulebook, and every later edit of it, was silently never loaded."""
    (tmp_path / "r1").mkdir(mode=0o700)
    (tmp_path / "r2").mkdir(mode=0o700)
    (tmp_path / "current").symlink_to("r1")
    path = tmp_path / "current" / "book.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=True, reload_settle_s=0.2)
    runner = await dry_run(compile_file(str(path)), cfg, "simulated", hours=24, speed=300)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.status().get("positions"), timeout=10)
        await asyncio.sleep(0.3)  # the watcher is up
        release = tmp_path / "r2" / "book.yaml"
        release.write_text(BOOK.replace("holding at", "still holding at"))
        _aged(release)
        (tmp_path / "next").symlink_to("r2")
        os.replace(tmp_path / "next", tmp_path / "current")
        await until(lambda: any(r["accepted"] for r in runner.reloads), timeout=8)
        release.write_text(BOOK.replace("holding at", "now holding at"))  # and an edit after it
        await until(lambda: sum(r["accepted"] for r in runner.reloads) == 2, timeout=8)
        assert runner.status()["positions"] and _stops(runner)
    finally:
        await runner.request({"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 10)


async def test_a_reload_with_a_tighter_stop_moves_the_paper_stop_too(tmp_path):
    async with holding(tmp_path) as runner:
        (before,) = _stops(runner)
        answer = await _reload(runner, BOOK.replace("distance: 5%", "distance: 2%"))
        assert answer["ok"], answer
        await until(lambda: [o["trigger_price"] for o in _stops(runner)] != [before["trigger_price"]], timeout=5)
        await asyncio.sleep(0.3)
        (after,) = _stops(runner)
        assert D(after["trigger_price"]) > D(before["trigger_price"])  # 2% under the entry, not 5%
