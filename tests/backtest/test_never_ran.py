"""A rule that reads a market value the data never gives is named in the summary's warnings, not silent."""

from __future__ import annotations

from pathlib import Path

from rulebot.backtest.api import backtest
from rulebot.testing.shared import ARCHIVE

UM = ARCHIVE / "futures/um"  # RULEBOT_SHARED, or the shared folder beside the checkout
KLINES = UM / "daily/klines/BTCUSDT/1m"
FUNDING = UM / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-06.zip"
RULEBOOK = """\
rulebook: funding-reader
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: fade-funding
    on: candle_close 1m
    in: flat
    when: funding_rate > 0.00005
    priority: 1
    do: [{enter: {side: short, size: 0.01}}]
  - name: on-price
    on: candle_close 1m
    in: flat
    when: close@1m < 0
    do: [{enter: {side: long, size: 0.01}}]
"""


def _warnings(tmp_path: Path, *data: Path) -> list[str]:
    book = tmp_path / "funding-reader.yaml"
    book.write_text(RULEBOOK)
    result, _, _ = backtest(str(book), [str(d) for d in data], start="2025-06-07", end="2025-06-09")
    return list(result.warnings)


def test_a_rule_waiting_for_funding_on_klines_alone_is_named(tmp_path: Path) -> None:
    warnings = _warnings(tmp_path, KLINES)
    assert [w for w in warnings if "never ran" in w] == [
        "fade-funding never ran on BTCUSDT: it reads funding_rate, which the data never gave, so it could not fire "
        "once; add with --data what provides it (funding_rate: fundingRate files)"
    ]


def test_with_the_funding_files_it_runs_and_nothing_is_said(tmp_path: Path) -> None:
    assert not [w for w in _warnings(tmp_path, KLINES, FUNDING) if "never ran" in w]
