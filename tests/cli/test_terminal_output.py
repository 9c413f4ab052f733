"""A backtest's output in a pipe: whole table lines (not cut at 80 columns) and no progress bar;
on a terminal, a progress bar with an ETA on stderr."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from rulebot.backtest.metrics import CONVENTION
from rulebot.cli.terminal import PIPE_WIDTH, ReplayProgress, output_console
from rulebot.testing.shared import ARCHIVE, require

RULES = Path(__file__).resolve().parents[2] / "rules"
BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"
DAY = 86_400_000


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TERM")}
    return subprocess.run(
        [sys.executable, "-m", "rulebot.cli", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def backtest_args(tmp_path: Path, *more: str) -> list[str]:
    return [
        "backtest",
        str(RULES / "ema-trend-btc.yaml"),
        "--data",
        str(require(BTC_1M)),
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-09",
        "--report",
        str(tmp_path / "r.html"),
        *more,
    ]


def test_a_piped_summary_keeps_its_lines_whole_and_shows_no_progress_bar(tmp_path):
    done = piped(*backtest_args(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The conventions row alone needs more than 80 columns; at 80 it was cut into two-line cells.
    (convention,) = [line for line in lines if "convention" in line]
    assert len(convention) > 80 and CONVENTION in convention
    assert max(len(line) for line in lines) <= PIPE_WIDTH
    for stream in (done.stdout, done.stderr):
        assert "\r" not in stream and "\x1b[" not in stream  # no bar redrawn in place, no colour codes
        assert "eta" not in stream and "replaying" not in stream


def test_json_output_is_only_json_in_a_pipe(tmp_path):
    done = piped(*backtest_args(tmp_path, "--format", "json"))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ratio_convention"].startswith("annualised") and "by_month" in doc
    assert "\r" not in done.stderr and "eta" not in done.stderr


def test_on_a_terminal_the_bar_measures_replayed_time_and_shows_an_eta():
    screen = io.StringIO()
    with ReplayProgress("replaying", Console(file=screen, force_terminal=True, width=120)) as bar:
        assert bar.enabled
        bar.span(0, 4 * DAY)
        bar.update(65_536, DAY)
        task = bar.progress.tasks[0]
        assert (task.total, task.completed) == (4 * DAY, DAY)
        bar.progress.refresh()
    shown = screen.getvalue()
    assert "eta" in shown and "25%" in shown and "65,536 events" in shown


def test_off_a_terminal_the_bar_writes_nothing():
    quiet = io.StringIO()
    with ReplayProgress("replaying", Console(file=quiet)) as bar:
        assert not bar.enabled
        bar.span(0, DAY)
        bar.update(10, DAY // 2)
    assert quiet.getvalue() == ""


def test_a_piped_console_is_wide_and_a_terminal_keeps_its_width(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert output_console().width == PIPE_WIDTH  # pytest captures stdout: not a terminal
    monkeypatch.setenv("COLUMNS", "100")
    assert output_console().width == 100  # the user's COLUMNS wins
