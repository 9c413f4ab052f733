"""A halt the rulebook asked for holds across a restart of the runner, until it is started with
--resume; a kill or a signal does not (the operator restarting is what lifts those)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.testing.bots import until

BOOK = """\
rulebook: halter
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 3}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: panic
    on: candle_close 1m
    in: long
    do: [{halt: "stop everything"}]
"""


def _entries_sent(db: sqlite3.Connection, run_id: str) -> int:
    bodies = [
        json.loads(b)
        for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'command' AND run_id = ?", (run_id,))
    ]
    return sum(
        1 for c in bodies if c.get("type") == "PlaceOrder" and not c.get("reduce_only") and not c.get("close_position")
    )


def _notices(db: sqlite3.Connection, run_id: str) -> list[tuple[str, str]]:
    rows = db.execute("SELECT body FROM entries WHERE kind = 'notice' AND run_id = ?", (run_id,))
    return [(json.loads(b)["kind"], json.loads(b)["message"]) for (b,) in rows]


async def test_a_halt_action_holds_across_restarts_until_resumed(tmp_path: Path) -> None:
    path = tmp_path / "halter.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=False)
    first = await (await dry_run(compile_file(str(path)), cfg, "simulated", hours=1)).run()
    assert first["guards"]["halted"] == "stop everything"
    # A crash and a supervisor's restart: the bot must not trade again on its own.
    second = await (await dry_run(compile_file(str(path)), cfg, "simulated", hours=1)).run()
    assert "stop everything" in second["guards"]["halted"] and second["positions"] == []
    # The operator lifts it.
    cfg.resume = True
    third = await (await dry_run(compile_file(str(path)), cfg, "simulated", hours=1)).run()
    db = sqlite3.connect(cfg.journal_path())
    runs = [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY started")]
    assert len(runs) == 3
    assert _entries_sent(db, runs[0]) == 1 and _entries_sent(db, runs[1]) == 0 and _entries_sent(db, runs[2]) == 1
    assert any(k == "halt-holds" and "still halted since" in m for k, m in _notices(db, runs[1]))
    assert any(k == "halt-lifted" and "--resume" in m for k, m in _notices(db, runs[2]))
    # The resumed run halted again (its rule did): the next start holds again.
    assert third["guards"]["halted"] == "stop everything"
    cfg.resume = False
    fourth = await (await dry_run(compile_file(str(path)), cfg, "simulated", hours=1)).run()
    assert fourth["guards"]["halted"]


async def test_a_kill_is_over_with_the_run_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "holder.yaml"
    path.write_text(BOOK.replace('do: [{halt: "stop everything"}]', "do: [{log: held}]"))
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(path)), cfg, "simulated", hours=24, speed=600)
    task = asyncio.create_task(runner.run())
    await until(lambda: runner.status().get("positions"))
    await runner.request({"cmd": "kill", "policy": "flatten"})
    killed = await asyncio.wait_for(task, 30)
    assert killed["guards"]["halted"]  # the kill halted that run ...
    again = await (await dry_run(compile_file(str(path)), cfg, "simulated", hours=1)).run()
    assert not again["guards"]["halted"]  # ... not the next one
    db = sqlite3.connect(cfg.journal_path())
    runs = [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY started")]
    assert _entries_sent(db, runs[1]) == 1
