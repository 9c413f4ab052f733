"""The runner in dry-run: journal, control channel, kill policies, hot reload, scheduler, signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from freezegun import freeze_time

from rulebot.core.enums import Market
from rulebot.core.events import Timer, Trade
from rulebot.engine.engine import Engine
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.journal.verify import verify
from rulebot.journal.writer import read_only
from rulebot.rulebook.compiler import compile_file, compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.scheduler import next_fire_times

from .conftest import HOLD_ON_CANDLE, ROOT, until

BOOK = HOLD_ON_CANDLE


@pytest.fixture
def rulebook(tmp_path: Path) -> Path:
    path = tmp_path / "book.yaml"
    path.write_text(BOOK)
    return path


async def test_a_dry_run_to_the_end_is_journaled_and_verifies(rulebook, tmp_path):
    cfg = RunConfig(rulebook, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(rulebook)), cfg, "simulated", hours=2)
    status = await runner.run()
    assert status["states"] == {"BTCUSDT": "long"} and Decimal(status["positions"][0]["size"]) == Decimal("0.01")
    db = read_only(cfg.journal_path())
    assert verify(db).ok
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM entries GROUP BY kind").fetchall())
    assert kinds["run_start"] == kinds["run_stop"] == 1 and kinds["decision"] > 0 and kinds["daily"] > 0


async def test_status_and_kill_flatten_over_the_control_socket(rulebook, tmp_path):
    cfg = RunConfig(rulebook, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(rulebook)), cfg, "simulated", hours=24, speed=600)
    task = asyncio.create_task(runner.run())
    await until(lambda: (cfg.run_dir / "control.sock").exists() and runner.status().get("positions"), timeout=10)
    status = await control.request(cfg.run_dir, {"cmd": "status"})
    assert status["running"] and status["positions"][0]["side"] == "long"
    assert os.stat(cfg.run_dir / "control.sock").st_mode & 0o077 == 0  # only the owner may talk to the bot
    answer = await control.request(cfg.run_dir, {"cmd": "kill", "policy": "flatten"})
    assert answer == {"ok": True, "policy": "flatten"}
    final = await asyncio.wait_for(task, 10)
    assert final["positions"] == [] and final["guards"]["halted"]
    db = read_only(cfg.journal_path())
    stop = json.loads(db.execute("SELECT body FROM entries WHERE kind = 'run_stop'").fetchone()[0])
    assert stop["policy"] == "flatten" and stop["reason"] == "rulebot kill"


async def test_kill_keep_leaves_the_position_with_its_stop(rulebook, tmp_path):
    cfg = RunConfig(rulebook, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(rulebook)), cfg, "simulated", hours=24, speed=600)
    task = asyncio.create_task(runner.run())
    await until(lambda: runner.status().get("positions") and runner.status().get("orders"), timeout=10)
    (cfg.run_dir / "KILL").write_text("keep")  # the kill file works like `rulebot kill --keep`
    final = await asyncio.wait_for(task, 10)
    assert final["positions"][0]["side"] == "long"
    # the daily loss cap's stop stays too: it is what holds the cap while the bot is dead
    assert sorted(o["purpose"] for o in final["orders"]) == ["daily_cap", "stop_loss"]


@pytest.mark.parametrize("kind", ["fifo", "unreadable", "dangling link"])
async def test_a_kill_file_that_cannot_be_read_still_kills(rulebook, tmp_path, kind):
    # Its being there is the kill; reading a FIFO used to block the event loop and freeze the bot.
    cfg = RunConfig(rulebook, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(rulebook)), cfg, "simulated", hours=24, speed=600)
    task = asyncio.create_task(runner.run())
    await until(lambda: runner.status().get("positions") and runner.status().get("orders"), timeout=10)
    kill = cfg.run_dir / "KILL"
    if kind == "fifo":
        os.mkfifo(kill)
    elif kind == "unreadable":
        kill.write_text("keep")  # root reads it anyway; another user cannot
        kill.chmod(0)
    else:
        kill.symlink_to(tmp_path / "nowhere")
    final = await asyncio.wait_for(task, 10)
    assert final["positions"][0]["side"] == "long"  # the rulebook's policy, keep
    db = read_only(cfg.journal_path())
    stop = json.loads(db.execute("SELECT body FROM entries WHERE kind = 'run_stop'").fetchone()[0])
    assert "kill file" in stop["reason"]


async def test_hot_reload_swaps_a_valid_rulebook_and_keeps_the_old_one_on_errors(rulebook, tmp_path):
    cfg = RunConfig(rulebook, "dry-run", tmp_path / "run", watch=True)
    runner = await dry_run(compile_file(str(rulebook)), cfg, "simulated", hours=24, speed=300)
    task = asyncio.create_task(runner.run())
    await until(lambda: runner.status().get("positions"), timeout=10)
    await asyncio.sleep(0.3)  # the file watcher is up
    rulebook.write_text(BOOK.replace("holding at", "still holding at"))
    await until(lambda: any(r["accepted"] for r in runner.reloads), timeout=10)
    assert runner.status()["states"] == {"BTCUSDT": "long"} and runner.status()["positions"]  # carried over
    good = runner.status()["version"]

    def decided_by_new_version() -> bool:
        with sqlite3.connect(cfg.journal_path()) as db:
            return bool(db.execute("SELECT 1 FROM decisions WHERE version LIKE ?", (good + "%",)).fetchone())

    await until(decided_by_new_version, timeout=15)
    rulebook.write_text(BOOK.replace("close@1m > 0", "closee@1m > 0"))
    await until(lambda: any(not r["accepted"] for r in runner.reloads), timeout=10)
    assert runner.status()["version"] == good  # the old rulebook keeps running
    refused = next(r for r in runner.reloads if not r["accepted"])
    assert "book.yaml:14:11: error:" in refused["errors"][0] and "unknown candle field 'closee'" in refused["errors"][0]
    answer = await control.request(cfg.run_dir, {"cmd": "reload"})
    assert not answer["ok"]
    await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
    await asyncio.wait_for(task, 10)
    db = read_only(cfg.journal_path())
    reloads = db.execute("SELECT accepted FROM reloads ORDER BY id").fetchall()
    assert [r[0] for r in reloads][:2] == [1, 0]
    versions = {r[0] for r in db.execute("SELECT DISTINCT version FROM decisions")}
    assert len(versions) == 2  # every decision names the rulebook version that made it


def test_sigterm_follows_the_rulebooks_signal_policy(rulebook, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rulebot.cli",
            "dry-run",
            str(rulebook),
            "--hours",
            "48",
            "--speed",
            "300",
            "--run-dir",
            str(run_dir),
            "--no-watch",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if (run_dir / "control.sock").exists():
                try:
                    st = asyncio.run(control.request(run_dir, {"cmd": "status"}))
                except ConnectionRefusedError:  # the socket file exists from bind(), before listen()
                    st = {}
                if st.get("positions"):
                    break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    db = sqlite3.connect(run_dir / "journal.sqlite")
    stop = json.loads(db.execute("SELECT body FROM entries WHERE kind = 'run_stop'").fetchone()[0])
    assert stop["reason"] == "SIGTERM" and stop["policy"] == "keep"  # risk.on_signal defaults to keep


def test_the_scheduler_fires_the_day_roll_and_funding_timers_on_the_wall_clock():
    book = compile_text(
        BOOK.replace(
            "  - name: note",
            """\
  - name: early
    on: before_funding 15m
    do: [{log: soon}]
  - name: hourly
    on: every 1h
    do: [{log: tick}]
  - name: note""",
        )
    )
    with freeze_time("2026-11-25 23:59:59", tz_offset=0):
        nxt = next_fire_times(book, datetime.now(UTC))
    assert nxt["daily-reset"] == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    # Woken each hour at :45: the engine fires it where the symbol settles next (every 8 h, 4 h or 1 h).
    assert nxt["before_funding 15m"] == datetime(2026, 11, 26, 0, 45, tzinfo=UTC)
    assert nxt["every 1h"] == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def test_a_timer_event_at_midnight_ends_a_daily_loss_breach_in_live_mode():
    book = compile_text(BOOK)
    engine = Engine(
        book, builtin_instruments(Market.USDM), {"USDT": Decimal(1000)}, brackets=builtin_brackets(Market.USDM)
    )
    with freeze_time("2026-11-25 23:00:00", tz_offset=0):
        now = int(datetime.now(UTC).timestamp() * 1000)
        engine.start(now)
        engine.on_event(Trade("BTCUSDT", Decimal(60000), Decimal(1), now, True, 1))
        engine.state.daily_breach_day = now // 86_400_000  # breached during the day
    with freeze_time("2026-11-26 00:00:00", tz_offset=0):
        midnight = int(datetime.now(UTC).timestamp() * 1000)
        engine.on_event(Timer(midnight, "daily-reset"))  # what the scheduler delivers at 00:00 UTC
    assert engine.daily_breach_day is None
    assert engine.today is not None and engine.today.day == midnight // 86_400_000


async def test_a_second_bot_on_the_same_run_directory_is_refused_before_it_writes_anything(rulebook, tmp_path):
    cfg = RunConfig(rulebook, "dry-run", tmp_path / "run", watch=False)
    first = await dry_run(compile_file(str(rulebook)), cfg, "simulated", hours=24, speed=600)
    task = asyncio.create_task(first.run())
    await until(lambda: (cfg.run_dir / "control.sock").exists() and first.status().get("positions"), timeout=10)
    second = await dry_run(compile_file(str(rulebook)), cfg, "simulated", hours=24, speed=600)
    with pytest.raises(FileExistsError, match="a bot is already running"):
        await second.run()
    assert (await control.request(cfg.run_dir, {"cmd": "status"}))["run_id"] == first.run_id  # still reachable
    await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
    await asyncio.wait_for(task, 10)
    db = read_only(cfg.journal_path())
    assert verify(db).ok and [r[0] for r in db.execute("SELECT run_id FROM runs")] == [first.run_id]


def test_the_scheduler_reads_cron_weekdays_as_cron_does_and_a_cron_that_never_fires_is_never_due():
    book = compile_text(
        BOOK.replace(
            "  - name: note",
            """\
  - name: weekdays
    on: cron "0 9 * * 1-5"
    do: [{log: open}]
  - name: never
    on: cron "0 0 30 2 *"
    do: [{log: never}]
  - name: note""",
        )
    )
    with freeze_time("2026-11-28 12:00:00", tz_offset=0):  # a Saturday
        nxt = next_fire_times(book, datetime.now(UTC))
    assert nxt["cron 0 9 * * 1-5"] == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday, not Tuesday
    assert nxt["cron 0 0 30 2 *"] is None
