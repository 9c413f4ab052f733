"""A dry-run fills as the backtest of the same rulebook and data does: the `realistic` model by
default, and `--fill-model` and its knobs to choose another. It used to fill with `ideal` always
(any size at the last price), so a dry-run looked better than the backtest it was checking."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal as D
from pathlib import Path

from click.testing import CliRunner

from rulebot.cli import main

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
BOOK = """
rulebook: hold
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
timeframes: [1m]
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do: [{enter: {side: long, size: "0.05"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: sell
    on: candle_close 1m
    in: long
    when: close@1m > 1000000
    do: [exit]
"""


def _files(tmp_path: Path) -> tuple[str, str]:
    rows = []
    for i in range(20):  # 60,000 flat, 0.3 BTC a minute: 10% of it is 0.03, less than the 0.05 asked
        t = T0 + i * 60_000
        rows.append(f"{t},60000,60000,60000,60000,0.3,{t + 59_999},0,0,0,0,0")
    data = tmp_path / "BTCUSDT-1m-2025-01-01.csv"
    data.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    book = tmp_path / "hold.yaml"
    book.write_text(BOOK)
    return str(book), str(data)


def _backtest_entry(book: str, data: str, *options: str) -> tuple[D, D]:
    res = CliRunner().invoke(main, ["backtest", book, "--data", data, "--format", "json", *options])
    assert res.exit_code == 0, res.output
    (trade,) = json.loads(res.stdout)["trade_list"]
    return D(trade["quantity"]), D(trade["entry_price"])


def _dry_run_fills(book: str, data: str, run_dir: Path, *options: str) -> list[tuple[D, D]]:
    args = ["dry-run", book, "--market", f"replay:{data}", "--run-dir", str(run_dir), "--no-watch", *options]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        rows = db.execute("SELECT quantity, price FROM fills ORDER BY id").fetchall()
    return [(D(q), D(p)) for q, p in rows]


def _entry(fills: list[tuple[D, D]]) -> tuple[D, D]:
    """The first entry's quantity and average price over its fills."""
    qty = sum((q for q, _ in fills), D(0))
    return qty, sum((q * p for q, p in fills), D(0)) / qty


def test_a_dry_run_fills_like_the_backtest_by_default(tmp_path: Path):
    book, data = _files(tmp_path)
    backtested = _backtest_entry(book, data)
    fills = _dry_run_fills(book, data, tmp_path / "run")
    # realistic: at most 10% of a bar's 0.3 BTC, so the 0.05 market entry gets 0.03 and the rest
    # expires; at 60,000 plus a one-tick half-spread, plus 10 bps x sqrt(0.03 / 0.3) of impact,
    # rounded up to the tick: 60,000.1 x 1.000316 = 60,019.1 (ideal bought all 0.05 at 60,000)
    assert fills == [(D("0.030"), D("60019.1"))]
    assert _entry(fills) == backtested


def test_the_fill_model_is_chosen_as_for_a_backtest(tmp_path: Path):
    book, data = _files(tmp_path)
    ideal = _dry_run_fills(book, data, tmp_path / "ideal", "--fill-model", "ideal")
    assert ideal == [(D("0.050"), D("60000"))] and _entry(ideal) == _backtest_entry(book, data, "--fill-model", "ideal")
    knobs = ("--participation", "0.5", "--half-spread-bps", "1", "--slippage-bps", "2")
    wide = _dry_run_fills(book, data, tmp_path / "wide", *knobs)
    assert _entry(wide) == _backtest_entry(book, data, *knobs) and _entry(wide)[0] == D("0.05")


def test_a_realistic_knob_with_the_ideal_model_is_a_usage_error(tmp_path: Path):
    book, data = _files(tmp_path)
    args = ["dry-run", book, "--market", f"replay:{data}", "--run-dir", str(tmp_path / "run")]
    res = CliRunner().invoke(main, [*args, "--fill-model", "ideal", "--participation", "0.5"])
    assert res.exit_code == 2 and "only apply to --fill-model realistic" in res.output
    assert not (tmp_path / "run").exists()


def test_a_kept_paper_account_is_not_carried_on_with_another_fill_model(tmp_path: Path):
    book, data = _files(tmp_path)
    run_dir = tmp_path / "run"
    _dry_run_fills(book, data, run_dir, "--fill-model", "ideal")
    args = ["dry-run", book, "--market", f"replay:{data}", "--run-dir", str(run_dir), "--no-watch"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    text = " ".join(res.output.split())
    assert "made with the ideal fill model" in text and "--fill-model ideal" in text and "nothing was traded" in text
    assert "running" not in text  # a refused start is not a running bot
    assert CliRunner().invoke(main, [*args, "--fill-model", "ideal"]).exit_code == 0
