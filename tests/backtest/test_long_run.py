"""A long run's memory does not grow with its length (issue 14): the summary is computed from
every sample as it came (tally.py), the charts from a bounded series (thinned.py). Here the
bound is set small so that two real days are a "long" run.

The same run keeping every sample is the reference: the summary must not change by a digit,
and the whole-list path (a result's tally rebuilt from its complete curves) must agree with
the streaming one.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rulebot.backtest.api import backtest
from rulebot.backtest.report_html import render_html
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig
from rulebot.backtest.stats import compute_stats, per_symbol_stats
from rulebot.backtest.summary import summary_dict
from rulebot.backtest.thinned import LastRow, Thinned
from rulebot.testing.shared import ARCHIVE, require

RULES = Path(__file__).resolve().parents[2] / "rules"
BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"
DAYS = [str(require(BTC_1M / f"BTCUSDT-1m-2025-06-{d}.zip")) for d in (14, 15)]
SMALL = 64  # buckets: at most 128 spans of samples on the charts


def _run(buckets: int) -> BacktestResult:
    config = BacktestConfig(chart_buckets=buckets)
    result, _, _ = backtest(str(RULES / "ema-trend-btc.yaml"), DAYS, config=config)
    return result


def _summary(result: BacktestResult) -> str:
    return json.dumps(summary_dict(compute_stats(result), result, per_symbol_stats(result)), indent=2, default=str)


def test_a_long_run_keeps_a_bounded_chart_and_the_same_summary_to_the_last_digit():
    full, thin = _run(10**9), _run(SMALL)
    assert full.samples == thin.samples == len(full.equity_curve) > 2_800  # two days of minutes, every one kept
    assert len(thin.equity_curve) <= 2 * SMALL * 6 < thin.samples  # first, last, lowest and highest equity and price
    kept = {p.time for p in thin.equity_curve}
    assert kept <= {p.time for p in full.equity_curve}
    assert thin.equity_curve[0] == full.equity_curve[0] and thin.equity_curve[-1] == full.equity_curve[-1]
    assert min(p.equity for p in thin.equity_curve) == min(p.equity for p in full.equity_curve)
    assert max(p.price for p in thin.equity_curve) == max(p.price for p in full.equity_curve)
    curve = thin.symbol_curves["BTCUSDT"]
    assert [p.time for p in curve] == sorted(kept)
    assert all(len(v) == len(curve) for v in thin.indicator_values["BTCUSDT"].values())
    assert _summary(thin) == _summary(full)
    # The whole-list path: the tally rebuilt from every sample gives what streaming gave.
    assert _summary(replace(full, tally=None)) == _summary(full)


def test_the_report_of_a_long_run_says_how_much_it_draws_and_stays_small():
    full, thin = _run(10**9), _run(SMALL)
    page = render_html(thin, compute_stats(thin))
    assert f"the charts draw {len(thin.equity_curve):,} points of {thin.samples:,} samples" in page
    assert "points of" not in render_html(full, compute_stats(full))
    assert len(page) < len(render_html(full, compute_stats(full)))


def test_a_year_of_minutes_keeps_at_most_a_few_thousand_samples():
    series = Thinned()  # the default bound
    minutes = 525_600
    for i in range(minutes):
        series.add(i, (i % 1_439, -(i % 997)))
    rows = series.rows()
    assert series.samples == minutes and rows[0] == 0 and rows[-1] == minutes - 1
    assert 4_096 <= len(rows) <= 4_096 * 6  # 2,048 to 4,096 spans, each at most 6 samples


def test_a_run_that_draws_no_chart_keeps_only_its_last_sample_and_the_same_summary():
    # The command line draws no chart without --report: the series is then its last sample (which the
    # summary reads: the open trade's price), and every sample still feeds the summary's tallies.
    full, bare = _run(10**9), _run(0)
    assert bare.samples == full.samples > 2_800
    assert bare.equity_curve == full.equity_curve[-1:]
    assert bare.symbol_curves == {s: curve[-1:] for s, curve in full.symbol_curves.items()}
    assert _summary(bare) == _summary(full)


def test_a_series_of_no_bucket_keeps_the_last_row_only():
    series = LastRow()
    assert series.rows() == [] and series.samples == 0
    series.add("a", (1,))
    series.add_run(3, lambda j: f"run {j}", [(5, 6, 7)])
    assert series.rows() == ["run 2"] and series.samples == 4
    series.add("b", (0,))
    assert series.rows() == ["b"] and series.samples == 5
