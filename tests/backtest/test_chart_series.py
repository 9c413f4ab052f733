"""Which indicators the report draws, and where: the ones a rule reads; price units over the price."""

from __future__ import annotations

from rulebot.backtest.chart_series import drawn_indicators
from rulebot.rulebook.compiler import compile_text

BOOK = """\
rulebook: drawn
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 15m]
indicators:
  fast: ema(close@15m, 5)
  trend: sma(fast, 10)
  band: bbands(close@1m, 20, 2)
  strength: rsi(close@1m, 14)
  smooth_strength: ema(strength, 3)
  range: atr(15m, 14)
  top: highest(high@15m, 24)
  fair: vwap(1m, 0)
  flow: sma(volume@1m, 5)
  unread: sma(close@1m, 3)
rules:
  - name: go
    on: candle_close 1m
    in: flat
    when: fast > trend and close@1m < band.lower and smooth_strength < 30 and range > 0 and close@1m > top[1]
    do: [{enter: {side: long, size: "10%", order: market}}, {goto: long}]
  - {name: out, on: candle_close 1m, in: long, when: "close@1m > fair and flow > 0", do: [exit, {goto: flat}]}
"""


def test_the_indicators_the_rules_read_are_drawn_prices_over_the_price_the_rest_in_panels():
    lines = {line.key: line for line in drawn_indicators(compile_text(BOOK))}
    on_price = {k for k, line in lines.items() if line.on_price}
    assert on_price == {"fast", "trend", "band.upper", "band.mid", "band.lower", "top", "fair"}
    assert set(lines) - on_price == {"smooth_strength", "range", "flow"}
    assert "unread" not in lines and "strength" not in lines  # read by no rule (only by another indicator)
    assert lines["band.lower"].indicator == "band" and lines["band.lower"].definition.startswith("bbands(")
