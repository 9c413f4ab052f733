"""A monthly fundingRate file does not stretch a backtest past its price data: the period is the
prices' span, and no funding is charged after the last price."""

from __future__ import annotations

from rulebot.backtest.api import backtest
from rulebot.feeds.replay import to_ms
from rulebot.testing.shared import SHARED

UM = SHARED / "data" / "binance-vision" / "futures" / "um"
KLINES = [str(UM / f"daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-0{d}.zip") for d in (7, 8)]
FUNDING = str(UM / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-06.zip")


def _book(tmp_path):
    path = tmp_path / "hold.yaml"
    path.write_text(
        """\
rulebook: hold
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 2}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {goto: long}]
  - {name: never, on: candle_close 1m, in: long, when: close@1m > 100000000, do: [exit]}
"""
    )
    return str(path)


def test_a_monthly_funding_file_does_not_stretch_the_period_past_the_prices(tmp_path):
    result, _, _ = backtest(_book(tmp_path), [*KLINES, FUNDING])
    assert result.start_time >= to_ms("2025-06-07")
    assert result.end_time < to_ms("2025-06-09")
    # Held from the first candle: the five funding times 06-07 08:00 .. 06-08 16:00 inside the
    # prices are settled (about 0.01 BTC * 105,000 * 0.0001 = 0.1 USDT each), not the month's 89.
    assert 0 < abs(result.funding_paid) < 1


def test_from_and_to_still_win(tmp_path):
    result, _, _ = backtest(_book(tmp_path), [*KLINES, FUNDING], start="2025-06-08")
    assert result.start_time >= to_ms("2025-06-08") and result.end_time < to_ms("2025-06-09")
