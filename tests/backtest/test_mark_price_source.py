"""The backtest summary says what the mark price followed: mark-price klines walked through their
highs and lows, or (no mark data) the last price with its wicks, a pessimistic assumption that
used to go unstated (issue 15, item 2)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from click.testing import CliRunner

from rulebot.cli import main
from rulebot.testing.shared import ARCHIVE, require
from rulebot.venues.paper import MARK_DERIVED, MARK_FROM_BARS

ROOT = Path(__file__).resolve().parents[2]
EMA = str(ROOT / "rules" / "ema-trend-btc.yaml")
DAY = require(ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-08.zip")


def _backtest(*data: str, book: str = EMA) -> dict:
    args = ["backtest", book, "--format", "json"]
    for d in data:
        args += ["--data", d]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_without_mark_data_the_summary_says_the_mark_followed_the_last_price() -> None:
    doc = _backtest(str(DAY))
    assert doc["mark_price"] == {"BTCUSDT": MARK_DERIVED}
    res = CliRunner().invoke(main, ["backtest", EMA, "--data", str(DAY)])
    assert "mark price" in res.output and "pessimistic" in " ".join(res.output.split())


def test_with_mark_price_klines_the_summary_says_their_bars_were_walked(tmp_path: Path) -> None:
    # The day's klines again as its mark-price klines (a mark file has the same columns).
    folder = tmp_path / "futures/um/daily/markPriceKlines/BTCUSDT/1m"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(DAY) as z:
        text = io.TextIOWrapper(z.open(z.namelist()[0]), encoding="utf-8").read()
    (folder / "BTCUSDT-1m-2025-06-08.csv").write_text(text)
    doc = _backtest(str(DAY), str(tmp_path))
    assert doc["mark_price"] == {"BTCUSDT": MARK_FROM_BARS}
    # The same path for the mark as for the last price: the same trades as without mark data.
    assert doc["trade_list"] == _backtest(str(DAY))["trade_list"]


BRACKET = """\
rulebook: bracket
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
timeframes: [15m]
indicators:
  fast: ema(close@15m, 8)
  slow: ema(close@15m, 21)
rules:
  - name: enter-long
    on: candle_close 15m
    in: flat
    when: fast > slow
    do: [{enter: {side: long, size: 10%}}, {take_profit: {distance: 0.4%}}, {stop_loss: {distance: 0.8%}}, {goto: long}]
  - name: enter-short
    on: candle_close 15m
    in: flat
    when: fast < slow
    do:
      - enter: {side: short, size: 10%}
      - take_profit: {distance: 0.4%}
      - stop_loss: {distance: 0.8%}
      - goto: short
"""


def test_mark_price_take_profits_fill_the_same_with_mark_klines_that_walk_the_last_prices_path(tmp_path: Path) -> None:
    """Take-profits watch the mark by default. With mark-price klines they filled at the price the
    walk had reached when the mark bar's point passed them, the candle's high or low, not at their
    own price: the day's klines given again as mark klines turned net PnL 8.35 into 20.62 USDT."""
    book = tmp_path / "bracket.yaml"
    book.write_text(BRACKET)
    folder = tmp_path / "data/futures/um/daily/markPriceKlines/BTCUSDT/1m"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(DAY) as z:
        text = io.TextIOWrapper(z.open(z.namelist()[0]), encoding="utf-8").read()
    (folder / "BTCUSDT-1m-2025-06-08.csv").write_text(text)
    with_marks = _backtest(str(DAY), str(tmp_path / "data"), book=str(book))
    without = _backtest(str(DAY), book=str(book))
    assert with_marks["mark_price"] == {"BTCUSDT": MARK_FROM_BARS}
    assert [t["exit_reason"] for t in without["trade_list"]].count("take_profit") >= 1
    assert with_marks["trade_list"] == without["trade_list"]
    assert with_marks["net_pnl"] == without["net_pnl"]
