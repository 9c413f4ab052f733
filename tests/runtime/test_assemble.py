"""Assembling a bot (rulebot/runtime/assemble.py): what is refused before a bot starts."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from rulebot.cli import main
from rulebot.testing.shared import ARCHIVE

from .conftest import ROOT

BOOK = str(ROOT / "rules" / "ema-trend-btc.yaml")
DAY = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-08.zip"


def test_a_damaged_replay_file_is_refused_before_the_dry_run_starts_as_backtest_refuses_it(tmp_path: Path) -> None:
    damaged = tmp_path / "data" / DAY.name
    damaged.parent.mkdir()
    damaged.write_bytes(DAY.read_bytes()[: DAY.stat().st_size // 2])  # a download cut short
    run_dir = tmp_path / "run"
    backtest = CliRunner().invoke(main, ["backtest", BOOK, "--data", str(damaged)])
    dry = CliRunner().invoke(main, ["dry-run", BOOK, "--market", f"replay:{damaged}", "--run-dir", str(run_dir)])
    assert backtest.exit_code == 1 and "not a readable zip file" in backtest.output, backtest.output
    # Not 3 (a market feed that failed) after the start banner: the bot never started.
    assert (dry.exit_code, dry.output) == (backtest.exit_code, backtest.output)
    assert "running" not in dry.output and not run_dir.exists()
