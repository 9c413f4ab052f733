"""A stop-and-reverse rulebook in a backtest (issue 16, item 1): each reversal is the exit's fill,
then the entry's, on the same bar; the position never exceeds the rulebook's size."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rulebot.backtest.api import backtest

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)

RULEBOOK = """
rulebook: always-in
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
timeframes: [1m]
rules:
  - name: first
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: long}]
  - name: flip-short
    on: candle_close 1m
    in: long
    when: close@1m >= 60100
    do: [exit, {enter: {side: short, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: short}]
  - name: flip-long
    on: candle_close 1m
    in: short
    when: close@1m <= 59900
    do: [exit, {enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 20%}}, {goto: long}]
"""


def test_an_always_in_the_market_rulebook_reverses_on_the_bar_and_never_holds_more_than_its_size(tmp_path: Path):
    rows = []
    for i in range(120):  # 60000, swinging ±150 every 10 minutes
        p = 60_000 + (150 if (i // 10) % 2 else -150)
        t = T0 + i * 60_000
        rows.append(f"{t},{p},{p + 10},{p - 10},{p},10,{t + 59_999},0,0,0,0,0")
    data = tmp_path / "BTCUSDT-1m-2025-01-01.csv"
    data.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    book = tmp_path / "always-in.yaml"
    book.write_text(RULEBOOK)
    result, _, _ = backtest(str(book), [str(data)])
    position, largest = Decimal(0), Decimal(0)
    for f in result.fills:
        position += f.quantity if f.side == "BUY" else -f.quantity
        largest = max(largest, abs(position))
    assert largest == Decimal("0.01")
    exits = [f for f in result.fills if f.purpose == "exit"]
    assert len(exits) >= 10  # a reversal on every swing
    for ex in exits:  # the entry the reversal asked for follows its exit on the same bar
        after = [f for f in result.fills if f.time >= ex.time and f.purpose == "entry"]
        assert after and after[0].time - ex.time < 60_000 and after[0].side == ex.side
