"""Liquidations and ADL each have a line of their own in the summary and the journal, ADL is on
by default in the `crash` demo, and the engine follows an ADL close like any position change
(issue 15, item 4)."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from rulebot.backtest.api import backtest, demo
from rulebot.backtest.runner import BacktestConfig
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import summary_dict, summary_rows
from rulebot.cli import main
from rulebot.exchange_sim import AdlModel

SHORT = """
rulebook: short-the-crash
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 10}
timeframes: [1m]
rules:
  - name: go-short
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do:
      - enter: {side: short, size: "20%", order: market}
      - stop_loss: {distance: 20%}
      - goto: short
  - {name: cover, on: candle_close 1m, in: short, when: close@1m > 1000000, do: [exit, {goto: flat}]}
risk: {max_leverage: 10, daily_loss_cap: 50%}
"""


T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
GAP_LONG = """
rulebook: gap-long
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 10}
timeframes: [1m]
rules:
  - name: enter
    on: candle_close 1m
    in: flat
    when: "true"
    do:
      - enter: {side: long, size: "90000 USDT", order: market}
      - stop_loss: {price: "entry_price * 0.95", working_type: mark_price}
      - goto: long
risk:
  max_leverage: 10
"""


def _book(tmp_path: Path) -> str:
    path = tmp_path / "short.yaml"
    path.write_text(SHORT)
    return str(path)


def test_the_crash_demo_deleverages_a_profitable_short_and_says_so(tmp_path: Path) -> None:
    # The crash preset's 12% cascade outruns the market: the 10x short (quantile 3) loses half
    # of its position to ADL at the crowd's bankruptcy price. It used to keep all its profit.
    args = [
        "demo",
        "--rulebook",
        _book(tmp_path),
        "--preset",
        "crash",
        "--hours",
        "2",
        "--report",
        str(tmp_path / "r.html"),
        "--fill-model",
        "ideal",  # the numbers below are the ideal model's (the default is realistic)
    ]
    res = CliRunner().invoke(main, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (close,) = doc["adl"]["closes"]
    assert (close["symbol"], close["quantity"]) == ("BTCUSDT", "0.166")
    assert doc["adl"]["model"].startswith("on:")
    text = CliRunner().invoke(main, args)
    assert "│ ADL " in text.output and "BTCUSDT 0.166 at" in " ".join(text.output.split())
    off = json.loads(CliRunner().invoke(main, [*args, "--no-adl", "--format", "json"]).stdout)
    assert off["adl"] == {"model": "off", "closes": []}


def test_adl_is_off_by_default_outside_the_crash_preset(tmp_path: Path) -> None:
    result, _ = demo(_book(tmp_path), preset="calm", hours=1)
    assert result.adl_model == "off" and result.adl_closes == []


def test_an_adl_close_is_a_journal_line_and_the_engine_goes_flat_with_the_position(tmp_path: Path) -> None:
    whole = AdlModel(shares=(Decimal(0), Decimal(0), Decimal(0), Decimal(1), Decimal(1)))
    journal = tmp_path / "j.sqlite"
    result, _ = demo(_book(tmp_path), preset="crash", hours=2, config=BacktestConfig(adl=whole), journal_path=journal)
    ((t, _, qty, _),) = result.adl_closes
    assert qty == Decimal("0.333")
    with sqlite3.connect(journal) as db:
        rows = [(kind, json.loads(body)) for kind, body in db.execute("SELECT kind, body FROM entries ORDER BY id")]
    notices = [b for k, b in rows if k == "notice" and b["kind"] == "adl"]
    states = [b for k, b in rows if k == "state"]
    assert [n["time"] for n in notices] == [t]
    assert "auto-deleveraged: BUY 0.333 BTCUSDT" in notices[0]["message"]
    # The state bound to the short returns to flat when ADL closes it (and the rule may re-enter).
    back = [s for s in states if s["from_state"] == "short"]
    assert back and back[0]["to_state"] == "flat" and back[0]["time"] == t


def test_a_liquidation_states_its_clearance_fee_in_the_summary_and_the_journal(tmp_path: Path) -> None:
    # An hour at 100,000, then every candle 40% lower (as tests/backtest/test_gaps.py).
    rows = []
    for i in range(120):
        p, t = 100_000 if i < 60 else 60_000, T0 + i * 60_000
        rows.append(f"{t},{p},{p + 10},{p - 10},{p},10,{t + 59_999},0,0,0,0,0")
    data = tmp_path / "BTCUSDT-1m-2025-01-01.csv"
    data.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    book = tmp_path / "gap.yaml"
    book.write_text(GAP_LONG)
    journal = tmp_path / "gap.sqlite"
    result, _, _ = backtest(str(book), [str(data)], journal_path=journal)
    (liq,) = [f for f in result.fills if f.purpose == "liquidation"]
    # The gap is past the bankruptcy price: the fill is at the order's limit, and the fee is
    # what little the tick rounding left of the margin.
    assert liq.fee == result.clearance_fees and liq.price % Decimal("0.1") == 0
    rows = dict(summary_rows(compute_stats(result), result))
    assert rows["liquidations"] == f"1 (clearance fees {result.clearance_fees:,.2f} USDT)"
    assert summary_dict(compute_stats(result), result)["clearance_fees"] == str(result.clearance_fees)
    with sqlite3.connect(journal) as db:
        notices = [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'notice'")]
    (notice,) = [n for n in notices if n["kind"] == "liquidation"]
    assert notice["message"].startswith(f"liquidated: SELL {liq.quantity} BTCUSDT at {liq.price}")
