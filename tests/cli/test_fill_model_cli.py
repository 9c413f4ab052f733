"""`--fill-model` on `rulebot backtest`, `demo` and `sweep`: chosen, stated in the summary, knobs checked."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = str(ROOT / "rules" / "volatility-breakout-btc.yaml")
BTC_1M = str(ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m")
DAYS = ("--from", "2025-06-07", "--to", "2025-06-11")


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return res.exit_code, res.output


def backtest_json(*extra: str) -> dict:
    code, out = run("backtest", RULEBOOK, "--data", BTC_1M, *DAYS, "--format", "json", *extra)
    assert code == 0, out
    return json.loads(out[out.index("{") :])


def test_help_shows_the_fill_model_and_its_knobs() -> None:
    code, out = run("backtest", "--help")
    assert code == 0
    for option in ("--fill-model [ideal|realistic]", "--participation", "--impact-bps", "--half-spread-bps"):
        assert option in out


def test_the_summary_says_which_fill_model_ran() -> None:
    code, out = run("backtest", RULEBOOK, "--data", BTC_1M, *DAYS, "--fill-model", "realistic")
    assert code == 0, out
    assert "fill model" in out and "realistic" in out and "10% of each" in out
    code, out = run("backtest", RULEBOOK, "--data", BTC_1M, *DAYS, "--fill-model", "ideal")
    assert code == 0 and "ideal: any size at the quote or last trade" in out


def test_realistic_json_states_its_parameters_and_never_beats_ideal() -> None:
    ideal = backtest_json("--fill-model", "ideal")
    real = backtest_json("--fill-model", "realistic", "--participation", "0.05", "--impact-bps", "20")
    assert ideal["fill_model"] == {"name": "ideal", "slippage_bps": "0"}
    assert real["fill_model"] == {
        "name": "realistic",
        "slippage_bps": "0",
        "half_spread_bps": None,
        "participation": "0.05",
        "impact_bps": "20",
    }
    # Same decisions on the same data, each fill at a price no better: the realized PnL is lower.
    assert real["trades"] == ideal["trades"] > 0
    assert Decimal(real["gross_realized_pnl"]) < Decimal(ideal["gross_realized_pnl"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fill-model", "ideal", "--participation", "0.2"), "only apply to --fill-model realistic"),
        (("--fill-model", "realistic", "--participation", "0"), "at most 1"),
        (("--fill-model", "realistic", "--participation", "2"), "at most 1"),
        (("--fill-model", "realistic", "--impact-bps", "-1"), "below 0"),
        (("--fill-model", "realistic", "--half-spread-bps", "nan"), "finite"),
        (("--fill-model", "optimistic"), "optimistic"),
        # 100% or more worse makes a sell fill at zero or below: a loss no wallet can have
        (("--slippage-bps", "1e9"), "below 10000"),
        (("--slippage-bps", "10000"), "below 10000"),
        (("--fill-model", "realistic", "--impact-bps", "20000"), "below 10000"),
        (("--fill-model", "realistic", "--half-spread-bps", "10000"), "below 10000"),
    ],
)
def test_bad_fill_model_options_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    code, out = run("backtest", RULEBOOK, "--data", BTC_1M, *args)
    assert code == 2, out
    assert message in out and "Traceback" not in out


def test_demo_takes_the_fill_model_too(tmp_path: Path) -> None:
    code, out = run(
        "demo", "--hours", "6", "--report", str(tmp_path / "d.html"), "--fill-model", "realistic", "--format", "json"
    )
    assert code == 0, out
    assert json.loads(out[out.index("{") :])["fill_model"]["name"] == "realistic"


def test_sweep_and_demo_refuse_a_slippage_of_100_percent_too(tmp_path: Path) -> None:
    code, out = run("demo", "--hours", "1", "--slippage-bps", "10000", "--report", str(tmp_path / "r.html"))
    assert code == 2 and "below 10000" in out, out
    code, out = run("sweep", RULEBOOK, "--data", BTC_1M, "--param", "lookback=20,24", "--slippage-bps", "10000")
    assert code == 2 and "below 10000" in out, out
