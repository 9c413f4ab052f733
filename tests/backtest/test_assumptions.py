"""The summary, the JSON and the HTML report state what the backtest assumed, in one
`assumptions` section: fill model, mark source, funding source, brackets source, fees source,
liquidation model and ADL (issue 15: a backtest must say how it might flatter)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from rulebot.backtest.api import backtest
from rulebot.backtest.assumptions import ADL_OFF, FEES_DEFAULT, FEES_GIVEN, assumption_rows, funding_text
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig
from rulebot.cli import main
from rulebot.core.fees import FeeRates
from rulebot.exchange_sim import AdlModel, FillModel
from rulebot.testing.shared import ARCHIVE, SHARED
from rulebot.venues.paper import MARK_DERIVED

ROOT = Path(__file__).resolve().parents[2]
EMA = str(ROOT / "rules" / "ema-trend-btc.yaml")
UM = ARCHIVE / "futures/um"
BTC_2_DAYS = [str(UM / f"daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-{d}.zip") for d in ("09", "10")]
FUNDING = str(UM / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-06.zip")
SNAPSHOT = SHARED / "binance" / "brackets" / "fapi_v1_leverageBracket-2024-10-24.json"
LABELS = ["fill model", "mark price", "funding", "brackets", "fee rates", "liquidation", "ADL model"]


def _doc(*args: str) -> dict:
    data = [a for p in BTC_2_DAYS for a in ("--data", p)]
    res = CliRunner().invoke(main, ["backtest", EMA, *data, *args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["assumptions"]


def test_json_assumptions_name_every_source_with_funding_data():
    a = _doc("--data", FUNDING, "--fill-model", "realistic")
    assert a["fill_model"]["name"] == "realistic" and a["fill_model"]["participation"] == "0.1"
    assert a["mark_price"] == {"BTCUSDT": MARK_DERIVED}
    # The month's file is clipped to the two days of prices: 3 settlements a day (00, 08, 16 UTC).
    assert a["funding"]["BTCUSDT"]["source"] == "fundingRate" and a["funding"]["BTCUSDT"]["rates"] == 6
    assert "2024-10-24" in a["brackets"] and "leverageBracket" in a["brackets"]
    assert a["fees"] == {"maker": "0.0002", "taker": "0.0005", "source": FEES_DEFAULT}
    # BTCUSDT's clearance fee in the built-in catalog (exchangeInfo liquidationFee).
    assert a["liquidation"]["clearance_rates"] == {"BTCUSDT": "0.0125"}
    assert a["adl"] == {"enabled": False, "model": "off"}


def test_json_assumptions_follow_the_options():
    a = _doc("--fees", "0.0001,0.0004", "--brackets", str(SNAPSHOT), "--adl", "--fill-model", "ideal")
    assert a["fees"]["source"] == FEES_GIVEN and a["fees"]["taker"] == "0.0004"
    assert a["brackets"] == f"brackets file {SNAPSHOT}"
    assert a["adl"]["enabled"] and a["adl"]["model"].startswith("on:")
    assert a["fill_model"]["name"] == "ideal"
    assert a["funding"]["BTCUSDT"]["source"] == "none"


def test_funding_text_says_what_a_missing_rate_did():
    base = BacktestResult("b", "v", "ETHUSDT", "USDT", 0, 0, Decimal(100), 0)
    assert "no position was held" in funding_text(base, "ETHUSDT")
    missed = replace(base, unfunded={"ETHUSDT": 3})
    assert funding_text(missed, "ETHUSDT").startswith("none in the data: 3 funding time(s)")
    partial = replace(base, unfunded={"ETHUSDT": 2}, funding_rates={"ETHUSDT": 5})
    assert funding_text(partial, "ETHUSDT").startswith("fundingRate data (5 rates") and "2 funding" in funding_text(
        partial, "ETHUSDT"
    )


def test_rows_are_one_section_in_table_and_report(tmp_path):
    config = BacktestConfig(fill_model=FillModel(), fee_rates=FeeRates(Decimal("0.0001"), Decimal("0.0004")))
    result, _, _ = backtest(EMA, [*BTC_2_DAYS, FUNDING], config=replace(config, adl=AdlModel(enabled=False)))
    rows = assumption_rows(result)
    assert [label for label, _ in rows] == LABELS
    assert dict(rows)["ADL model"] == ADL_OFF and "(--fees)" in dict(rows)["fee rates"]
    report = tmp_path / "r.html"
    data = [a for p in [*BTC_2_DAYS, FUNDING] for a in ("--data", p)]
    res = CliRunner().invoke(main, ["backtest", EMA, *data, "--report", str(report)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "│ assumptions │" in text and all(f"│ {label} " in text for label in LABELS)
    html = report.read_text()
    section = html.index('<tr class="section"><th colspan="2">assumptions</th></tr>')
    positions = [html.index(f"<tr><th>{label}</th>", section) for label in LABELS]
    assert positions == sorted(positions)  # all seven under the one title, in order
