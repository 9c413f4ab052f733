"""Look-back `x[n]`: a candle series or indicator as it was n closed candles of its timeframe ago."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

from rulebot.backtest.api import backtest
from rulebot.core.events import CandleClosed
from rulebot.engine.market import SymbolMarket
from rulebot.rulebook.compiler import compile_text
from rulebot.testing.shared import ARCHIVE

from .conftest import T0

RULES = Path(__file__).resolve().parents[2] / "rules"
BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"

BOOK = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m, 5m]
indicators:
  hi: highest(high@5m, 3)
rules:
  - name: r
    on: candle_close 5m
    when: "close@5m >= hi[1] and close@1m[2] > 0 and hi[2] > 0 and crossover(close@5m, hi[1])"
    do: [{log: x}]
"""


def candle(tf: str, start: int, ms: int, price: float) -> CandleClosed:
    p = Decimal(str(price))
    return CandleClosed("ADAUSDT", tf, start, start + ms - 1, p, p + 1, p - 1, p, Decimal(1), Decimal(0), 0, Decimal(0))


def test_a_look_back_is_the_value_n_candles_of_its_timeframe_ago_and_not_ready_until_known():
    market = SymbolMarket("ADAUSDT", compile_text(BOOK), Decimal("0.0001"))
    env = market.env
    closes_1m = [100.0 + i for i in range(20)]
    his: list[float] = []  # highest(high@5m, 3) after each 5m candle
    highs_5m: list[float] = []
    for i, price in enumerate(closes_1m):
        market.on_candle(candle("1m", T0 + i * 60_000, 60_000, price))
        if i >= 2:
            assert env["close@1m[2]"] == closes_1m[i - 2]
            assert "close@1m[2]" not in market.not_ready
        else:
            assert math.isnan(env["close@1m[2]"]) and "close@1m[2]" in market.not_ready
        if i % 5 == 4:  # a 5m candle closed with this 1m candle
            highs_5m.append(price + 1)
            his.append(max(highs_5m[-3:]) if len(highs_5m) >= 3 else math.nan)
            n = len(his)
            assert env["hi"] == his[-1] or (math.isnan(env["hi"]) and math.isnan(his[-1]))
            want = his[-2] if n >= 2 else math.nan
            got = env["hi[1]"]
            assert got == want or (math.isnan(got) and math.isnan(want)), (n, got, want)
            assert ("hi[1]" in market.not_ready) == math.isnan(want)
        elif len(his) >= 2 and not math.isnan(his[-2]):
            assert env["hi[1]"] == his[-2]  # between two 5m closes a 5m look-back does not move


def test_the_shipped_volatility_breakout_trades_on_nine_real_days_of_btc():
    # `close >= highest(high, 24)` with the current candle in the range could only tie; it made
    # 0 trades here. `range_high[1]` is the range of the 24 candles before, and it breaks out.
    result, _, _ = backtest(str(RULES / "volatility-breakout-btc.yaml"), [str(BTC_1M)])
    assert len(result.fills) >= 2
    assert result.decisions >= 2
