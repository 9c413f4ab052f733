"""`rulebot backtest` on the real Binance files and `rulebot demo` on the simulated market."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from rulebot.cli import main

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
BTC_1M = ROOT.parent / "shared/data/binance-vision/futures/um/daily/klines/BTCUSDT/1m"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return res.exit_code, res.output


def test_backtest_on_binance_klines_prints_the_summary_and_writes_a_report(tmp_path):
    report = tmp_path / "r.html"
    code, out = run(
        "backtest",
        str(RULES / "ema-trend-btc.yaml"),
        "--data",
        str(BTC_1M),
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-10",
        "--report",
        str(report),
    )
    assert code == 0, out
    for row in (
        "trades",
        "win rate",
        "net PnL",
        "fees",
        "funding",
        "max drawdown",
        "exposure",
        "liquidations",
        "guard interventions",
    ):
        assert row in out
    assert report.is_file() and report.read_text().count("<svg") == 3


def test_backtest_json_is_exact_and_adds_up(tmp_path):
    code, out = run(
        "backtest",
        str(RULES / "ema-trend-btc.yaml"),
        "--data",
        str(BTC_1M),
        "--from",
        "2025-06-07",
        "--to",
        "2025-06-09",
        "--format",
        "json",
    )
    assert code == 0, out
    doc = json.loads(out)
    net = Decimal(doc["net_pnl"])
    assert net == Decimal(doc["end_equity"]) - Decimal(doc["start_equity"])
    parts = (
        Decimal(doc["gross_realized_pnl"])
        - Decimal(doc["fees"])
        - Decimal(doc["funding_paid"])
        + Decimal(doc["unrealized_pnl"])
    )
    assert parts == net
    assert doc["events"] == 2 * 1440  # two days of 1m candles, from 00:00 to 00:00


def test_a_bad_rulebook_exits_1_with_a_located_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rulebook: bad\nmarket: usdm\nsymbols: [BTCUSDT]\nrules:\n  - name: r\n    on: trade\n"
        "    when: pricee > 1\n    do: [exit]\n"
    )
    code, out = run("backtest", str(bad), "--data", str(BTC_1M))
    assert code == 1
    assert f"{bad}:7:11: error: unknown name 'pricee'" in out


def test_demo_runs_with_no_data_and_no_keys(tmp_path):
    report = tmp_path / "demo.html"
    code, out = run("demo", "--hours", "6", "--report", str(report), "--format", "json")
    assert code == 0, out
    doc = json.loads(out[out.index("{") :])
    assert doc["rulebook"] == "ema-trend-btc" and doc["events"] > 10_000
    assert report.is_file()
