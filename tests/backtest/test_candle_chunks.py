"""A backtest on kline files read as chunks (feeds/kline_chunks.py: the candle array path makes only
the candles it steps, and reads the jumped ones' Decimals only where it needs them) gives the event
path's backtest: the same journal, fills, equity curve and summary.

The data is where the shortcut could go wrong: several files with a hole between them and one inside
a file, prices written with trailing zeros (rows the parser's float check cannot vouch for) and
exponents, small volumes (the fill model's participation caps fills by the last candle's volume), and
a rulebook that reads the candles' open, high and volume, so that a field taken from the wrong
column, a candle made wrong or a run's last bar misread changes what it does. And a backtest cut
inside a jumped run leaves the engine, the venue and the result as stepping every candle does.
"""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rulebot.backtest import candle_runs
from rulebot.backtest.api import backtest
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig
from rulebot.engine.engine import Engine
from rulebot.exchange_sim import FillModel
from rulebot.feeds import columnar
from rulebot.feeds.kline_chunks import KlineChunk
from rulebot.feeds.replay import ReplaySource
from tests.backtest.test_candle_runs import deep, jumped
from tests.backtest.test_fast_path import both

MINUTE = 60_000
# The CLI's default: fills capped by a share of the bar's volume (the last candle's, after a jumped run).
REALISTIC = FillModel.realistic(participation=Decimal("0.1"), impact_bps=Decimal(10))
DAY = 86_400_000
JUNE_1 = 1_748_736_000_000

RULEBOOK = """
rulebook: chunks
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
indicators:
  fast: ema(close@1m, 8)
  slow: ema(close@1m, 21)
rules:
  - name: in-on-volume
    on: candle_close 1m
    in: flat
    when: crossover(fast, slow) and volume@1m > 2.5 and open@1m < close@1m
    do: [{enter: {side: long, size: 0.3}}, {goto: long}]
  - name: out-on-a-spike
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow) or high@1m > open@1m * 1.004 or volume@1m > 4.9
    do: [exit, {goto: flat}]
"""


def _text(value: Decimal, rng: random.Random) -> str:
    """The price as Binance writes it, or now and then with trailing zeros or an exponent."""
    form = rng.random()
    if form < 0.05:
        return f"{value:.3f}"  # 60000.100: the same value as its neighbour's 60000.1, another text
    if form < 0.07:
        return f"{value:E}"
    return f"{value:.1f}"


def _write_day(folder: Path, day: int, rng: random.Random, price: float, skip: range) -> float:
    rows = []
    for i in range(1440):
        if i in skip:
            continue
        opens = JUNE_1 + (day - 1) * DAY + i * MINUTE
        o = price
        c = max(100.0, o * (1 + rng.gauss(0, 0.0008)))
        h = max(o, c) * (1 + abs(rng.gauss(0, 0.0005)))
        lo = min(o, c) * (1 - abs(rng.gauss(0, 0.0005)))
        flat = rng.random()
        if flat < 0.06:  # a candle that stays at the last close, or only spikes up or down from it
            c = o
            h, lo = (o, o) if flat < 0.02 else (h, o) if flat < 0.04 else (o, lo)
        prices = [Decimal(f"{p:.1f}") for p in (o, h, lo, c)]
        volume = Decimal(f"{rng.uniform(0.05, 5):.3f}")
        close = f"{prices[3]:.3f}" if rng.random() < 0.05 else f"{prices[3]:.1f}"  # no exponent: ordered closes
        cells = [_text(p, rng) for p in prices[:3]] + [close]
        quote = volume * prices[3]
        row = [str(opens), *cells, str(volume), str(opens + MINUTE - 1), str(quote), str(rng.randint(1, 900))]
        rows.append(",".join([*row, str(volume / 2), str(quote / 2), "0"]))
        price = float(prices[3])
    name = f"BTCUSDT-1m-2025-06-{day:02d}"
    path = folder / "futures/um/daily/klines/BTCUSDT/1m" / f"{name}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv", "".join(line + "\n" for line in rows))
    return price


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chunks")
    rng = random.Random(11)
    price = 60_000.0
    price = _write_day(folder, 1, rng, price, range(0))
    price = _write_day(folder, 2, rng, price, range(600, 640))  # a hole inside the file
    _write_day(folder, 4, rng, price * 1.01, range(0))  # a day missing between two files
    return folder


def _run(rulebook: Path, data: Path, buckets: int) -> Callable[[str, Callable[[object], None]], BacktestResult]:
    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        config = BacktestConfig(path=path, chart_buckets=buckets, fill_model=REALISTIC)
        result, _, _ = backtest(str(rulebook), [str(data)], config=config, on_record=record)
        return result

    return run


# A chunk a file, or ~80 candles a chunk; every sample charted, or thinned to a few buckets (the runs'
# samples are fed in bulk, a chunk's bucket extremes found by its floats where those order its closes).
@pytest.mark.parametrize(("block", "buckets"), [(columnar._CHUNK_BLOCK, 1 << 20), (1 << 13, 1 << 20), (1 << 13, 3)])
def test_kline_chunks_give_the_event_paths_backtest(
    tmp_path: Path, data: Path, block: int, buckets: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "_CHUNK_BLOCK", block)
    source = ReplaySource(data)
    source.kline_chunks = True
    items = list(source)
    assert items and all(isinstance(item, KlineChunk) for item in items)  # the chunks are what is tested
    assert len(items) == 3 if block > 1 << 13 else len(items) > 40
    rulebook = tmp_path / "chunks.yaml"
    rulebook.write_text(RULEBOOK)
    event, auto = both(_run(rulebook, data, buckets), "auto")
    assert len(event.fills) >= 20
    assert event.data_gaps  # the holes are seen (and the same on both paths)
    assert jumped(auto) > 2000, auto.path_reason


def _end_state(rulebook: Path, data: Path, end: int, array: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    kept: dict[str, Any] = {}
    original = candle_runs.CandleRuns.__init__

    def init(self: candle_runs.CandleRuns, engine: Engine, venue: Any, fast: Any, drawn: list[str]) -> None:
        original(self, engine, venue, fast, drawn)
        kept["engine"], kept["venue"], kept["runs"] = engine, venue, self
        if not array:
            self.why_not = "switched off by the test"

    with monkeypatch.context() as m:
        m.setattr(candle_runs.CandleRuns, "__init__", init)
        config = BacktestConfig(path="auto", chart_buckets=1 << 20, fill_model=REALISTIC)
        result, _, _ = backtest(str(rulebook), [str(data)], end=end, config=config)
    result.path_reason = ""
    state = {"engine": deep(kept["engine"].state), "venue": deep(kept["venue"]), "result": deep(result)}
    return state, kept["runs"].counts.jumped


def test_a_backtest_cut_inside_a_jumped_run_of_chunks_leaves_the_state_stepping_leaves(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rulebook = tmp_path / "chunks.yaml"
    rulebook.write_text(RULEBOOK)
    rng = random.Random(5)
    for end in sorted(JUNE_1 + rng.randrange(100, 2 * 1440) * MINUTE for _ in range(3)):
        stepped, none = _end_state(rulebook, data, end, False, monkeypatch)
        chunked, jumps = _end_state(rulebook, data, end, True, monkeypatch)
        assert none == 0 and jumps > 50
        assert chunked == stepped


def test_long_quiet_runs_give_the_event_paths_backtest(tmp_path: Path, data: Path) -> None:
    """Runs of up to a day (the next one starts from the long one's last window, candle_runs._LONG_RUN)."""
    rulebook = tmp_path / "quiet.yaml"
    rulebook.write_text(RULEBOOK.replace("crossover(fast, slow) and", "fast > slow * 100 and"))
    windows: list[int] = []
    original = candle_runs.CandleRuns.describe

    def describe(self: candle_runs.CandleRuns) -> str:
        windows.append(self.counts.windows)
        return original(self)

    with pytest.MonkeyPatch().context() as m:
        m.setattr(candle_runs.CandleRuns, "describe", describe)
        event, auto = both(_run(rulebook, data, 5), "auto")
    assert not event.fills
    assert jumped(auto) > 4000, auto.path_reason
    # Long runs, each after one cut inside a block (the hole) from that one's window: 18 windows if not.
    assert windows == [15]
