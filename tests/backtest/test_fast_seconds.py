"""The fast trade path takes the once-a-second trades quietly and gives the event path's answer.

With no mark stream the engine values the position, feeds the volatility meter and runs its price
guards at the first trade of each second, and the venue moves its derived mark there. Inside the
band where the daily loss cap is unreached and the margin ratio clearly below its limit
(`QuietMarks.edges`) the fast path folds those trades too (`FastTrades._stretch`,
`Engine.take_second`, `PaperVenue.fold_derived_mark`). Differential, as test_fast_trades.py: trades
a few a second, a position held most of the time with stops on the mark, a trailing stop on one
side, a daily loss cap the losses come close to, a volatility spike that trips the breaker, and an
`on: trade` rule; the journal, fills, equity curve and summary must be the event path's. Each
shortcut is then broken on purpose, and the comparison must see it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from rulebot.backtest.fast_quotes import QuietMarks
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.exchange_sim import FillModel
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource
from rulebot.rulebook.compiler import compile_text
from rulebot.venues.paper import PaperVenue
from tests.backtest.test_fast_path import both
from tests.backtest.test_fast_trades import HEADER, T0

START = T0 + 2 * 3_600_000 - 25 * 60_000  # 23:35 UTC: the day rolls (and the daily cap with it) inside
MINUTES = 70

SECONDS = """
rulebook: seconds
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 10}
timeframes: [1m]
indicators:
  fast: ema(close@1m, 2)
  slow: ema(close@1m, 4)
rules:
  - name: go-long
    on: candle_close 1m
    in: flat
    when: fast > slow
    priority: 1
    do: [{enter: {side: long, size: '60%'}}, {stop_loss: {distance: 0.5%}}, {goto: long}]
  - name: go-short
    on: candle_close 1m
    in: flat
    when: fast < slow
    do: [{enter: {side: short, size: '60%'}}, {trailing_stop: {callback: 0.4%}}, {goto: short}]
  - name: out-long
    on: candle_close 1m
    in: long
    when: fast < slow
    do: [exit, {cancel: all}, {goto: flat}]
  - name: out-short
    on: candle_close 1m
    in: short
    when: fast > slow
    do: [exit, {cancel: all}, {goto: flat}]
  - name: stretched
    on: trade
    in: long
    when: price > close@1m * 1.003
    do: [{reduce: {by: 50%}}]
  - name: closed
    on: position_closed
    in: [long, short]
    do: [{cancel: all}, {goto: flat}]
risk:
  max_leverage: 10
  daily_loss_cap: 1.5%
  max_margin_ratio: 30%
  volatility_breaker: 2
"""


# The margin ratio's limit just above the ratio an entry starts at (its maintenance over its isolated
# margin, about 4.2% here): the margin-ratio guard cuts a position a small move after its entry, at a
# trade where the valuation falls due. (The daily cap binds through the cap stops, orders the simulator's
# band stops short of; this guard has no order on the exchange: only the engine's band bounds it.)
TIGHT_MARGIN = (
    SECONDS.replace("max_margin_ratio: 30%", "max_margin_ratio: 4.3%")
    .replace("daily_loss_cap: 1.5%", "daily_loss_cap: 40%")
    .replace("distance: 0.5%", "distance: 3%")
)


def seconds_trades(folder: Path, seed: int) -> tuple[Path, int]:
    """BTCUSDT aggTrades a few a second: calm, a burst of volatility in the middle, calm again with a
    drift; and the number of distinct seconds they fall in."""
    rng = random.Random(seed)
    ticks, t, agg = 600_000, START, 1
    rows = [HEADER]
    seconds = set()
    end = START + MINUTES * 60_000
    while t < end:
        t += rng.choice((40, 150, 300, 450, 700, 1_300))
        minute = (t - START) // 60_000
        vol = 0.0012 if 30 <= minute < 34 else 0.00006
        drift = -0.00002 if minute >= 40 else 0.0
        ticks = max(1000, ticks + round(rng.gauss(drift, vol) * ticks))
        maker = "true" if rng.random() < 0.5 else "false"
        rows.append(f"{agg},{ticks // 10}.{ticks % 10},{rng.randint(1, 900) / 1000:.3f},{agg},{agg},{t},{maker}\n")
        seconds.add(t // 1000)
        agg += 1
    path = folder / "BTCUSDT-aggTrades-2024-12-31.csv"
    path.write_text("".join(rows))
    return path, len(seconds)


def runner(
    path: Path, fill: FillModel, text: str = SECONDS
) -> Callable[[str, Callable[[object], None]], BacktestResult]:
    book = compile_text(text, "seconds.yaml")
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(which: str, record: Callable[[object], None]) -> BacktestResult:
        source = ReplaySource([path])
        source.trade_runs = True
        config = BacktestConfig(path=which, fill_model=fill)
        return run_backtest(book, source, instruments, brackets, config, on_record=record)

    return run


def walked(result: BacktestResult) -> int:
    """The trades the fast path walked one by one (its summary line)."""
    return int(result.path_reason.split(" walked one by one")[0].rsplit(" ", 1)[1].replace(",", ""))


# Seeds whose data reaches the daily cap on both fill models (2 no longer did on the ideal one once the minutes
# closed at their end, backtest/trade_clock.py: its entries fill at the minute's last trade, not the next one).
@pytest.mark.parametrize("seed", [1, 3, 7])
@pytest.mark.parametrize("fill", [FillModel(), FillModel.realistic()], ids=["ideal", "realistic"])
def test_the_once_a_second_trades_taken_quietly_give_the_event_paths_backtest(
    tmp_path: Path, seed: int, fill: FillModel
) -> None:
    path, seconds = seconds_trades(tmp_path, seed)
    seen: list[object] = []
    run = runner(path, fill)

    def kept(which: str, record: Callable[[object], None]) -> BacktestResult:
        return run(which, record if which == "event" else lambda r: (seen.append(r), record(r)))

    event_path, fast = both(kept, "auto")
    # Not vacuous: positions with stops, the daily cap reached, a breaker that trips and clears, and far
    # fewer trades walked than there are seconds with a trade (the first trade of each was walked before).
    assert len(event_path.fills) >= 4
    notices = [r.kind for r in seen if isinstance(r, rec.EngineNotice)]
    assert notices.count("volatility-breaker") >= 2 and "daily-loss-cap" in notices
    assert walked(fast) < seconds // 2, fast.path_reason


def test_the_margin_guard_acting_at_a_once_a_second_trade_gives_the_event_paths_backtest(tmp_path: Path) -> None:
    path, _ = seconds_trades(tmp_path, 2)
    seen: list[object] = []
    run = runner(path, FillModel(), TIGHT_MARGIN)

    def kept(which: str, record: Callable[[object], None]) -> BacktestResult:
        return run(which, record if which == "event" else lambda r: (seen.append(r), record(r)))

    _event, fast = both(kept, "auto")
    assert "trades folded" in fast.path_reason
    acts = [v for r in seen if isinstance(r, rec.GuardRecord) for v in r.verdicts if v.guard == "max_margin_ratio"]
    assert [v.kind for v in acts] == ["act"]


def _no_meter(self: Engine, symbol: str, time: int, price: float) -> bool:
    self.state.last_loss_check = time  # the valuation's time moves, the meter is left behind
    return True


def _no_mark(self: PaperVenue, symbol: str, time: int, price: object) -> None:
    return None


def _no_band(self: QuietMarks) -> tuple[float, float] | None:
    return (-math.inf, math.inf)


@pytest.mark.parametrize(
    ("target", "name", "broken"),
    [
        (Engine, "take_second", _no_meter),
        (PaperVenue, "fold_derived_mark", _no_mark),
        (QuietMarks, "edges", _no_band),
    ],
    ids=["volatility-meter", "derived-mark", "cap-and-margin-band"],
)
def test_a_broken_shortcut_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: type, name: str, broken: object
) -> None:
    """The comparison above can fail: each part of the quiet second left out changes the answer."""
    path, _ = seconds_trades(tmp_path, 2)
    run = runner(path, FillModel(), TIGHT_MARGIN if name == "edges" else SECONDS)
    monkeypatch.setattr(target, name, broken)
    with pytest.raises(AssertionError):
        both(run, "auto")
