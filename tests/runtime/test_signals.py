"""Signals to a running bot, under a flood of market data: SIGHUP reloads, SIGINT stops it with
the `--on-exit` policy."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from rulebot.runtime import control

from .conftest import HOLD_ON_CANDLE, ROOT

BOOK = HOLD_ON_CANDLE


def status(run_dir: Path) -> dict:
    try:
        return asyncio.run(control.request(run_dir, {"cmd": "status"}, timeout=2))
    except (ConnectionError, OSError, TimeoutError):
        return {}


def wait_for(cond, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_sighup_reloads_and_sigint_flattens_while_data_floods_in(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    # as fast as the engine goes (no pacing), for far longer than the test lasts
    args = [
        sys.executable,
        "-m",
        "rulebot.cli",
        "dry-run",
        str(book),
        "--hours",
        "5000",
        "--run-dir",
        str(run_dir),
        "--no-watch",
        "--on-exit",
        "flatten",
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        wait_for(lambda: bool(status(run_dir).get("positions")), 15, proc)
        first = status(run_dir)["version"]
        book.write_text(BOOK.replace("holding at", "still holding at"))
        proc.send_signal(signal.SIGHUP)  # no file watcher: only the signal can bring the new text in
        wait_for(lambda: status(run_dir).get("version") not in (None, first), 10, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    db = sqlite3.connect(run_dir / "journal.sqlite")
    stop = json.loads(db.execute("SELECT body FROM entries WHERE kind = 'run_stop'").fetchone()[0])
    assert stop["reason"] == "SIGINT" and stop["policy"] == "flatten"
    accepted = db.execute("SELECT COUNT(*) FROM entries WHERE kind = 'reload' AND body LIKE '%\"accepted\":true%'")
    assert accepted.fetchone()[0] == 1
    closed = db.execute("SELECT body FROM entries WHERE kind = 'command' ORDER BY id DESC LIMIT 3").fetchall()
    assert any(json.loads(b).get("reduce_only") for (b,) in closed)  # the policy's flatten went out last
