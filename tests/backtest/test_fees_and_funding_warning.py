"""`--fees maker,taker` in backtests, stated in the summary; and a warning when positions crossed
funding times with no funding rate in the data (it used to say `funding 0.00` and nothing else)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.backtest.api import backtest
from rulebot.backtest.runner import BacktestConfig
from rulebot.cli import main
from rulebot.core.fees import FeeRates
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
EMA = str(ROOT / "rules" / "ema-trend-btc.yaml")
UM = ARCHIVE / "futures/um"
BTC_1M = str(UM / "daily/klines/BTCUSDT/1m")
FUNDING = str(UM / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-06.zip")


def _json(*args: str) -> dict:
    res = CliRunner().invoke(main, ["backtest", EMA, "--data", BTC_1M, *args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_fees_option_sets_the_exact_rates_every_fill_pays():
    # One rate for both sides: each fill's commission is qty * price * 0.001 (FACTS §12: fee =
    # notional * rate), booked to 8 decimals.
    rates = FeeRates(Decimal("0.001"), Decimal("0.001"))
    result, _, _ = backtest(EMA, [BTC_1M], config=BacktestConfig(fee_rates=rates))
    assert result.fills
    for f in result.fills:
        assert f.fee == (f.quantity * f.price * Decimal("0.001")).quantize(Decimal("0.00000001"))
    assert result.fee_rates == rates


def test_the_summary_states_the_fee_rates_it_ran_with():
    doc = _json("--fees", "0.0001,0.0004")
    assert doc["fee_rates"] == {"maker": "0.0001", "taker": "0.0004"}
    res = CliRunner().invoke(main, ["backtest", EMA, "--data", BTC_1M, "--fees", "0,0.0004"])
    assert "maker 0%, taker 0.04%" in " ".join(res.output.split()).replace("│ ", "")


@pytest.mark.parametrize("fees", ["0.0002", "abc,0.0005", "nan,0", "0.02,0.05", "0.0002,-0.0001", "1,2,3"])
def test_bad_fees_are_a_usage_error(fees):
    res = CliRunner().invoke(main, ["backtest", EMA, "--data", BTC_1M, f"--fees={fees}"])
    assert res.exit_code == 2 and "--fees" in res.output and "Traceback" not in res.output


def test_positions_across_funding_times_without_rates_are_warned_about():
    doc = _json()
    assert doc["funding_paid"] == "0"
    funding, never_ran = doc["warnings"]  # trim-before-funding reads funding_rate (never_ran.py)
    assert "BTCUSDT" in funding and "fundingRate" in funding and "funding time" in funding
    assert "never ran on BTCUSDT: it reads funding_rate" in never_ran
    res = CliRunner().invoke(main, ["backtest", EMA, "--data", BTC_1M])
    assert "│ warning " in res.output and "fundingRate" in res.output


def test_no_funding_warning_when_the_data_has_the_rates():
    doc = _json("--data", FUNDING)
    assert doc["warnings"] == [] and Decimal(doc["funding_paid"]) != 0
