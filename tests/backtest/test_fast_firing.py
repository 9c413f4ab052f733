"""`on: trade` rules that fire on trade after trade give the event path's backtest on the fast path.

A rule like the replay bench's `cover-stretch` (`reduce: {by: 50%}` of a position whose half rounds to
nothing) fires, and is journaled, at every trade of a stretch while sending nothing: such a step leaves
the venue's orders, positions and wallet as they were, so the quiet band is not drawn again for it
(Session.engine_step); a step that sends a command (a limit bid placed by an `on: trade` rule) must
still have the band drawn again, or the trades through the bid are folded past it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from rulebot.backtest.fast_trades import FastTrades
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.engine import records as rec
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import both
from tests.backtest.test_fast_trades import HEADER, T0

FIRING = """
rulebook: firing
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 5}
timeframes: [1m]
indicators:
  slow: ema(close@1m, 3)
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: bid
    on: trade
    in: flat
    when: price > slow * 1.0004
    do:
      - enter: {side: long, size: 0.003, order: limit, price: 'price * 0.99995', expire: 10m}
      - goto: long
  - name: trim
    on: trade
    in: long
    when: price > slow * 1.0002 and upnl > -1000
    do: [{reduce: {by: 10%}}]
  - name: out
    on: candle_close 1m
    in: long
    when: close@1m < slow
    do: [exit, {cancel: all}, {goto: flat}]
"""


def walk(path: Path, seed: int, minutes: int) -> None:
    """BTCUSDT aggTrades a few hundred ms apart, drifting in swings: the bid rests below, trades
    come down through it, the long state's `trim` fires at trade after trade and rounds to nothing."""
    rng = random.Random(seed)
    ticks, t, rows = 600_000, T0, [HEADER]
    drift = 0
    for n in range(1, minutes * 150):
        if n % 150 == 0:
            drift = rng.choice((-2, -1, 1, 2))
        ticks += drift + rng.choice((-3, -1, 0, 1, 3))
        t += rng.choice((100, 300, 700))
        rows.append(f"{n},{ticks // 10}.{ticks % 10},0.010,{n * 3},{n * 3 + 2},{t},{'true' if n % 2 else 'false'}\n")
    path.write_text("".join(rows))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_steps_that_only_journal_keep_the_band_and_commands_redraw_it(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "BTCUSDT-aggTrades-2024-12-31.csv"
    walk(path, seed, 90)
    book = compile_text(FIRING, "firing.yaml")
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    draws = [0]
    sim_edges = FastTrades._sim_edges

    def counted(self: FastTrades, symbol: str) -> tuple[float, float] | None:
        draws[0] += 1
        return sim_edges(self, symbol)

    monkeypatch.setattr(FastTrades, "_sim_edges", counted)
    seen: list[object] = []  # the fast path's records (it runs second)

    def run(which: str, record: Callable[[object], None]) -> BacktestResult:
        source = ReplaySource([path])
        source.trade_runs = True
        seen.clear()
        draws[0] = 0
        config = BacktestConfig(path=which)
        return run_backtest(
            book, source, instruments, brackets, config, on_record=lambda r: (record(r), seen.append(r))
        )

    event_path, fast = both(run, "auto")
    assert "trades folded" in fast.path_reason
    assert len(event_path.fills) >= 4  # bids placed on trades, filled by the trades through them
    fired = [r for r in seen if isinstance(r, rec.Decision) and r.rule == "trim" and r.fired]
    bids = [r for r in seen if isinstance(r, rec.Decision) and r.rule == "bid" and r.fired]
    assert len(fired) > 500 and len(bids) >= 4
    # Drawn again after commands and reports, not after each of the thousands of steps that only journal.
    assert draws[0] < len(fired) // 10, (draws[0], len(fired))
