"""Backtests over candles that gap: the loss of an isolated position stops at its margin."""

from __future__ import annotations

from pathlib import Path

from rulebot.backtest.api import backtest

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)

GAP_RULEBOOK = """
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
      - stop_loss: {price: "entry_price * 0.95", working_type: %s}
      - goto: long
risk:
  max_leverage: 10
"""


def gap_data(tmp_path: Path) -> Path:
    """An hour at 100,000, then every candle 40% lower: the gap is between two bars."""
    rows = []
    for i in range(120):
        p = 100_000 if i < 60 else 60_000
        t = T0 + i * 60_000
        rows.append(f"{t},{p},{p + 10},{p - 10},{p},10,{t + 59_999},0,0,0,0,0")
    path = tmp_path / "BTCUSDT-1m-2025-01-01.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def run_gap(tmp_path: Path, working_type: str):
    book = tmp_path / "gap.yaml"
    book.write_text(GAP_RULEBOOK % working_type)
    result, _, _ = backtest(str(book), [str(gap_data(tmp_path))])
    return result


def test_a_40_percent_gap_liquidates_the_isolated_position_instead_of_taking_equity_below_zero(tmp_path: Path):
    for working_type in ("mark_price", "contract_price"):
        result = run_gap(tmp_path, working_type)
        entry = next(f for f in result.fills if f.purpose == "entry")
        margin = entry.quantity * entry.price / 10  # the isolated wallet the entry put up
        assert result.liquidations == 1, working_type
        assert result.end_equity == result.start_equity - margin - result.fees_paid, working_type
        assert result.end_equity > 0
