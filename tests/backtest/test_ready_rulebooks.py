"""The ready rulebooks of `rules/` trade: on the demo market where their idea applies, and on the
real files of `../shared/data` that go with them (the same pairs as test_fast_path.py).

A rulebook shipped to learn from that never trades teaches nothing: each one here must close
trades on a 72-hour demo of the preset its idea is for, and on its real data. The `trending`
preset is a rising market, on every seed tried.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from rulebot.backtest.api import backtest, demo
from rulebot.backtest.stats import compute_stats
from rulebot.core.events import Trade
from rulebot.feeds.simulated.config import preset
from rulebot.feeds.simulated.market import SimulatedMarket
from rulebot.testing.shared import ARCHIVE, require

RULES = Path(__file__).resolve().parents[2] / "rules"
UM = ARCHIVE / "futures" / "um"
CM = ARCHIVE / "futures" / "cm"

# rulebook → the demo preset its idea is for (its header names it, and the other presets where it
# trades: run by hand with `rulebot demo --preset`, and tabulated in the report of issue 16).
# One each: a 72-hour demo costs seconds, and the suite runs them all.
DEMO = {
    "ema-trend-btc.yaml": ("trending",),
    "volatility-breakout-btc.yaml": ("volatile",),
    "rsi-reversion-eth.yaml": ("calm",),
    "funding-aware-btc-coinm.yaml": ("trending",),
}
DATA = {
    "ema-trend-btc.yaml": (UM / "daily/klines/BTCUSDT/1m", UM / "monthly/fundingRate/BTCUSDT"),
    "volatility-breakout-btc.yaml": (UM / "daily/klines/BTCUSDT/1m",),
    "rsi-reversion-eth.yaml": (UM / "daily/klines/ETHUSDT/1m",),
    "funding-aware-btc-coinm.yaml": (CM / "daily/klines/BTCUSD_PERP/1m",),
}


def test_every_ready_rulebook_is_covered_and_names_its_presets_in_its_header():
    assert sorted(p.name for p in RULES.glob("*.yaml")) == sorted(DEMO) == sorted(DATA)
    for name, presets in DEMO.items():
        header = (RULES / name).read_text().split("\nrulebook:")[0]
        assert "The idea:" in header, name
        for p in presets:
            assert f"--preset {p}" in header or f"`{p}`" in header, (name, p)


@pytest.mark.parametrize(("rulebook", "preset_name"), [(r, p) for r, ps in DEMO.items() for p in ps])
def test_each_ready_rulebook_trades_on_a_72_hour_demo_of_its_presets(rulebook, preset_name):
    result, _ = demo(str(RULES / rulebook), preset=preset_name, hours=72)
    stats = compute_stats(result)
    assert stats.closed >= 2, (rulebook, preset_name, stats.closed)
    assert not result.rule_errors


@pytest.mark.parametrize("rulebook", sorted(DATA))
def test_each_ready_rulebook_trades_on_its_real_data(rulebook):
    result, _, _ = backtest(str(RULES / rulebook), [str(require(d)) for d in DATA[rulebook]])
    stats = compute_stats(result)
    assert stats.closed >= 1, (rulebook, stats.closed)
    assert not result.rule_errors
    assert not [w for w in result.warnings if "never warmed up" in w]


def test_the_trending_preset_is_a_rising_market_on_every_seed_tried():
    returns = []
    for seed in range(4):
        cfg = replace(preset("trending"), duration_ms=72 * 3_600_000, trade_rate=1.0)
        prices = [e.price for e in SimulatedMarket(cfg, seed=seed) if type(e) is Trade]
        returns.append(prices[-1] / prices[0] - 1)
    assert all(r > 0 for r in returns), returns
    assert statistics.median(returns) > 0.05, returns
