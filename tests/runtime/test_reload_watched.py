"""A watched rulebook edited while a dry-run bot holds a position: a broken file is refused with
where it is broken, the old rules run on, and the next valid edit is taken."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from rulebot.journal.writer import read_only
from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig

from .conftest import HOLD_ON_CANDLE, until

BOOK = HOLD_ON_CANDLE


def _write(path: Path, text: str) -> None:
    """An edit saved a minute ago: whole, so the reload takes it at once."""
    path.write_text(text)
    past = time.time() - 60
    os.utime(path, (past, past))


async def test_a_broken_edit_is_refused_with_its_place_and_the_next_valid_one_is_taken(tmp_path):
    path = tmp_path / "book.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=True, reload_settle_s=0.2)
    runner = await dry_run(compile_file(str(path)), cfg, "simulated", hours=24, speed=300)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.status().get("positions") and runner.status().get("orders"), timeout=10)
        await asyncio.sleep(0.3)  # the watcher is up
        version, orders = runner.status()["version"], runner.status()["orders"]
        _write(path, BOOK.replace("  - name: note", "\t- name: note"))
        await until(lambda: runner.reloads, timeout=8)
        (refused,) = runner.reloads
        assert not refused["accepted"]
        assert refused["errors"][0].startswith(f"{path}:11:1: error: YAML syntax error"), refused
        await asyncio.sleep(0.5)  # the old rules go on
        status = runner.status()
        assert status["version"] == version and status["positions"] and status["orders"] == orders
        assert status["guards"]["halted"] is None and len(runner.reloads) == 1
        _write(path, BOOK.replace("holding at", "still holding at"))
        await until(lambda: len(runner.reloads) == 2, timeout=8)
        assert runner.reloads[1]["accepted"], runner.reloads
        assert runner.status()["version"] != version and runner.status()["positions"]
    finally:
        await runner.request({"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 10)
    db = read_only(cfg.journal_path())
    rows = db.execute("SELECT accepted, errors FROM reloads ORDER BY rowid").fetchall()
    assert [bool(r[0]) for r in rows] == [False, True] and ":11:1: error: YAML syntax error" in rows[0][1]


async def test_two_edits_in_quick_succession_end_on_the_second(tmp_path):
    path = tmp_path / "book.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=True, reload_settle_s=0.3)
    runner = await dry_run(compile_file(str(path)), cfg, "simulated", hours=24, speed=300)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.status().get("positions") and runner.status().get("orders"), timeout=10)
        await asyncio.sleep(0.3)  # the watcher is up
        orders = runner.status()["orders"]
        first, second = BOOK.replace("holding at", "first at"), BOOK.replace("holding at", "second at")
        path.write_text(first)
        await asyncio.sleep(0.05)
        path.write_text(second)
        want = compile_file(str(path)).source_hash[:12]
        await until(lambda: runner.status()["version"] == want, timeout=8)
        await asyncio.sleep(1.0)  # anything still queued has come and gone
        assert runner.status()["version"] == want and all(r["accepted"] for r in runner.reloads), runner.reloads
        assert runner.status()["positions"] and runner.status()["orders"] == orders
    finally:
        await runner.request({"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 10)
