"""Shared option types of the command line (rulebot/cli/params.py), through the real commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
DAY = str(ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-08.zip")

# Every command that reads a rulebook file, with RULEBOOK standing for the path it is given.
RULEBOOK_COMMANDS = [
    ("validate", "RULEBOOK"),
    ("backtest", "RULEBOOK", "--data", DAY),
    ("demo", "--rulebook", "RULEBOOK", "--hours", "1"),
    ("sweep", "RULEBOOK", "--data", DAY, "--param", "fast=5"),
    ("dry-run", "RULEBOOK", "--max-events", "1"),
    ("run", "RULEBOOK", "--live"),
]


@pytest.mark.parametrize("command", RULEBOOK_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("kind", ["directory", "missing"])
def test_a_rulebook_that_cannot_be_read_is_invalid_input_for_every_command(
    command: tuple[str, ...], kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a bot that started anyway would leave .rulebot/ here
    folder = tmp_path / "rules"
    folder.mkdir()
    path = str(folder) if kind == "directory" else str(folder / "missing.yaml")
    res = CliRunner().invoke(main, [path if a == "RULEBOOK" else a for a in command])
    # 1, as `validate` always said for a missing file: not 2, a usage error, which click.Path gave
    assert res.exit_code == 1, res.output
    why = "it is a directory, not a rulebook" if kind == "directory" else "No such file or directory"
    assert f"{path}:1:1: error: cannot read file: {why}" in res.output
    assert "Traceback" not in res.output and "Usage:" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules"]


def test_a_set_the_rulebook_refuses_is_reported_under_the_rulebook_file(tmp_path: Path) -> None:
    """`backtest --set slw=3` ended "rulebook: invalid — 1 error(s)": the error has no place in
    the file, and the command's error boundary did not know which file it was compiling."""
    book = tmp_path / "trend.yaml"
    book.write_text((ROOT / "rules" / "ema-trend-btc.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    res = CliRunner().invoke(main, ["backtest", str(book), "--data", DAY, "--set", "slw=3"])
    assert res.exit_code == 1, res.output
    assert "--set slw: the rulebook has no parameter 'slw'" in res.output
    assert f"{book}: invalid — 1 error; nothing was run" in res.output


@pytest.mark.parametrize(
    ("fees", "says"),
    [
        ("-0.005,0.0005", "a maker rebate deeper than -0.0002 (-0.02 %) is beyond any Binance program"),
        ("-0.01,0.0005", "a maker rebate deeper than -0.0002"),
        ("0.0002,-0.0001", "a taker fee cannot be negative"),
        ("2,5", "below 0.01 (1 %)"),
    ],
)
def test_fee_rates_no_binance_account_pays_are_refused(fees: str, says: str) -> None:
    res = CliRunner().invoke(
        main, ["backtest", str(ROOT / "rules" / "ema-trend-btc.yaml"), "--data", DAY, "--fees", fees]
    )
    assert res.exit_code == 2 and says in res.output, res.output


def test_a_real_liquidity_provider_rebate_is_accepted() -> None:
    res = CliRunner().invoke(
        main, ["backtest", str(ROOT / "rules" / "ema-trend-btc.yaml"), "--data", DAY, "--fees", "-0.00015,0.0004"]
    )
    assert res.exit_code == 0, res.output
