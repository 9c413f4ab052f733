"""A long run's per-order and per-fill memory is bounded (issue 14), and bounding it changes
nothing a user sees. Here the bounds are set tiny so that two real days are a "long" run: the
engine forgets finished orders past 4 (down to 2), the simulator keeps 2 final orders; the
summary must not change by a digit, and no fill may lose its purpose (the runner looks each
fill's order up as the fill comes)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rulebot.backtest import run_records, runner
from rulebot.backtest.api import backtest
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.stats import compute_stats, per_symbol_stats
from rulebot.backtest.summary_json import summary_dict, write_json
from rulebot.exchange_sim import book as store_module
from rulebot.testing.shared import ARCHIVE, require

BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"
DAYS = [str(require(BTC_1M / f"BTCUSDT-1m-2025-06-{d}.zip")) for d in (14, 15)]


# Always in the market (bench/peers.py's rulebook): a round trip every few bars, and a protective
# stop (an algo order) placed and cancelled with each.
CROSS = """
rulebook: memory-cross
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
indicators:
  fast: ema(close@1m, 3)
  slow: ema(close@1m, 8)
rules:
  - name: start-long
    on: candle_close 1m
    in: flat
    when: fast > slow
    priority: 1
    do: [{enter: {side: long, size: 0.01}}, {goto: long}]
  - name: start-short
    on: candle_close 1m
    in: flat
    when: fast < slow
    do: [{enter: {side: short, size: 0.01}}, {goto: short}]
  - name: reverse-to-short
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {enter: {side: short, size: 0.01}}, {goto: short}]
  - name: reverse-to-long
    on: candle_close 1m
    in: short
    when: crossover(fast, slow)
    do: [exit, {enter: {side: long, size: 0.01}}, {goto: long}]
"""


@pytest.fixture
def rulebook(tmp_path: Path) -> str:
    path = tmp_path / "cross.yaml"
    path.write_text(CROSS)
    return str(path)


def _run(rulebook: str) -> BacktestResult:
    result, _, _ = backtest(rulebook, DAYS)
    return result


def _summary(result: BacktestResult) -> str:
    return json.dumps(summary_dict(compute_stats(result), result, per_symbol_stats(result)), indent=2, default=str)


def test_forgetting_old_orders_changes_nothing_and_loses_no_fill(
    monkeypatch: pytest.MonkeyPatch, rulebook: str
) -> None:
    full = _run(rulebook)
    for module in (runner, run_records):  # the loop's check, and the fill's
        monkeypatch.setattr(module, "FORGET_AT", 4)
        monkeypatch.setattr(module, "KEEP_FINISHED", 2)
    monkeypatch.setattr(store_module, "KEEP_FINAL", 2)
    bounded = _run(rulebook)
    assert len(full.fills) > 100 and full.guard_events  # enough orders for the tiny bounds to forget many times
    assert "unknown" not in {f.purpose for f in bounded.fills}
    assert bounded.fills == full.fills and list(bounded.markers) == list(full.markers)
    assert _summary(bounded) == _summary(full)


def test_the_streamed_json_summary_is_json_dumps_to_the_byte(rulebook: str) -> None:
    result = _run(rulebook)
    stats, per = compute_stats(result), per_symbol_stats(result)
    out = io.StringIO()
    write_json(summary_dict(stats, result, per, stream=True), out.write, chunk=100)
    whole = json.dumps(summary_dict(stats, result, per), indent=2, default=str) + "\n"
    assert len(stats.trades) > 2 and out.getvalue() == whole
