"""The daily loss cap over candles: loss <= cap + one walked step, on generated and real days.

The bound, stated exactly. For one UTC day whose loss passed the cap, let `cap` be the day's
cap, `q` the largest position size held that day, `f` the taker rate, and `s` the step of
walked prices that the fill which took the day past the cap happened on: the difference
between the price the simulator walked at that fill's time and the price walked just before
(inside a candle open -> low/high -> high/low -> close, or from a close to the next open,
which is where gaps are). Then

    day-start equity - day-end equity <= cap + q * s * (1 + f)

Why: an entry is refused unless the daily PnL less its own fees (in and out) stays above -cap;
while a position is open, a close-position stop sits on the exchange at the mark T where
closing it, taker fee included, leaves exactly start - cap; the simulator checks it at every
walked price, so it fires at the first walked price p beyond T and fills there, and the price
before p was not beyond T: |p - T| <= s. Filling at p instead of T costs q * |p - T| and the fee
on that difference. A stop-loss that fires on the same step fills at the same p; liquidation
(isolated) closes at the bankruptcy price, which is better than p. After the cap is reached no
entry is allowed until 00:00 UTC, so that fill is the day's last.

Before the fix an entry whose own fees passed the cap was sent and flattened at once, at no
step at all, and a cap crossed inside a candle was only seen at its close.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rulebot.backtest.api import backtest
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import summary_dict, summary_rows
from rulebot.core.enums import Market
from rulebot.core.events import CandleClosed
from rulebot.core.fees import DEFAULT_FEE_RATES
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource
from rulebot.rulebook.compiler import compile_text
from rulebot.testing.shared import ARCHIVE, require

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
MINUTE = 60_000
DAY = 86_400_000
TICK = D("0.1")

RULEBOOK = """
rulebook: capped
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 10}
timeframes: [1m]
rules:
  - name: go-long
    on: candle_close 1m
    in: flat
    when: close@1m >= open@1m
    do:
      - enter: {side: long, size: "%(size)s%%", order: market}
      - stop_loss: {distance: %(stop)s%%}
      - goto: long
  - name: go-short
    priority: 1
    on: candle_close 1m
    in: flat
    when: close@1m < open@1m
    do:
      - enter: {side: short, size: "%(size)s%%", order: market}
      - stop_loss: {distance: %(stop)s%%}
      - goto: short
  - {name: out-long, on: candle_close 1m, in: long, when: close@1m < open@1m, do: [exit, {goto: flat}]}
  - {name: out-short, on: candle_close 1m, in: short, when: close@1m > open@1m, do: [exit, {goto: flat}]}
risk:
  max_leverage: 10
  daily_loss_cap: %(cap)s
"""

USDM = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)


def walked(c: CandleClosed) -> list[tuple[int, D]]:
    """(time, price) of the points the paper venue walks a candle through (venues/paper.py)."""
    span = c.close_time - c.open_time
    path = [c.open, c.low, c.high, c.close] if c.close >= c.open else [c.open, c.high, c.low, c.close]
    return [(c.open_time + span * i // 3 if i < 3 else c.close_time, p) for i, p in enumerate(path)]


def loss_bound_holds(candles: list[CandleClosed], book_text: str) -> None:
    book = compile_text(book_text)
    result = run_backtest(book, candles, *USDM, BacktestConfig(balance=D(10_000), sample_every_ms=MINUTE))
    points = [p for c in candles for p in walked(c)]
    step_at = {t: abs(p - points[i - 1][1]) if i else D(0) for i, (t, p) in enumerate(points)}
    start = result.start_equity
    equity = {p.time // DAY: p.equity for p in result.equity_curve}  # the last sample of each day
    for day in sorted(equity):
        fills = [f for f in result.fills if f.time // DAY == day]
        position = largest = D(0)
        for f in fills:
            position += f.quantity if f.side == "BUY" else -f.quantity
            largest = max(largest, abs(position))
        cap = start * book.risk.daily_loss_cap_fraction
        if book.risk.daily_loss_cap_amount is not None:
            cap = min(cap, book.risk.daily_loss_cap_amount)
        loss = start - equity[day]
        if loss > cap:
            last = fills[-1]
            step = step_at[last.time]
            assert loss <= cap + largest * step * (1 + DEFAULT_FEE_RATES.taker) + D("1e-6"), (
                loss,
                cap,
                largest,
                step,
                [(f.purpose, f.price) for f in fills][-3:],
            )
        start = equity[day]


# Moves in units of the example's volatility: calm paths make fees matter, gaps (up to ten
# times a candle's body) make the stop's fill price matter.
candle_moves = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 0, 0, 3, -3, 10, -10]),  # gap from the last close
        st.floats(min_value=-1, max_value=1),  # open -> close
        st.floats(min_value=0, max_value=1),  # wick above
        st.floats(min_value=0, max_value=1),  # wick below
    ),
    min_size=5,
    max_size=90,
)


def make_candles(moves: list[tuple[float, float, float, float]], scale: float) -> list[CandleClosed]:
    out = []
    close = D(60_000)
    for i, (gap, body, up, down) in enumerate(moves):
        o = (close * D(1 + gap * scale)).quantize(TICK)
        c = (o * D(1 + body * scale)).quantize(TICK)
        h = (max(o, c) * D(1 + up * scale / 2)).quantize(TICK)
        lo = (min(o, c) * D(1 - down * scale / 2)).quantize(TICK)
        t = T0 + i * MINUTE
        out.append(CandleClosed("BTCUSDT", "1m", t, t + MINUTE - 1, o, h, lo, c, D(10), D(0), 1, D(5)))
        close = c
    return out


@settings(max_examples=60, deadline=None)
# Fees of 49.98 against a cap of 50 left no room for a stop; the exit fee was not counted, so a
# 12 USDT fall and the exit's own fee ended the day 10 past the cap with no walked step to show.
@example(moves=[(0, 0.0, 0.0, 0.0)] * 4 + [(0, -1.0, 0.0, 0.0)], scale=0.0002, size=50, stop=2, cap="0.5%")
@given(
    moves=candle_moves,
    scale=st.sampled_from([0.0002, 0.001, 0.004]),
    size=st.sampled_from([10, 20, 50, 90]),
    stop=st.sampled_from([0.5, 2, 20]),
    cap=st.sampled_from(["1%", "0.5%", '"30 USDT"']),
)
def test_daily_loss_stays_within_the_cap_plus_one_walked_step(moves, scale, size, stop, cap) -> None:
    loss_bound_holds(make_candles(moves, scale), RULEBOOK % {"size": size, "stop": stop, "cap": cap})


# -- nine real BTCUSDT days (1m klines), a 10x rulebook, a 1% cap ------------------------------

DAYS = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"

BOOK = """\
rulebook: cap-10x
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 10}
timeframes: [5m]
indicators:
  fast: ema(close@5m, 5)
  slow: ema(close@5m, 13)
rules:
  - name: go-long
    on: candle_close 5m
    in: flat
    when: crossover(fast, slow)
    do: [{enter: {side: long, size: "90%", order: market}}, {stop_loss: {distance: 1.5%}}, {goto: long}]
  - name: go-short
    priority: 1
    on: candle_close 5m
    in: flat
    when: crossunder(fast, slow)
    do: [{enter: {side: short, size: "90%", order: market}}, {stop_loss: {distance: 1.5%}}, {goto: short}]
  - {name: exit-long, on: candle_close 5m, in: long, when: "crossunder(fast, slow)", do: [exit, {goto: flat}]}
  - {name: exit-short, on: candle_close 5m, in: short, when: "crossover(fast, slow)", do: [exit, {goto: flat}]}
risk: {max_leverage: 10, daily_loss_cap: 1%}
"""


def test_nine_real_days_lose_no_more_than_the_cap_and_one_price_step(tmp_path: Path):
    candles = [e for e in ReplaySource([str(require(DAYS))], symbols={"BTCUSDT"}) if isinstance(e, CandleClosed)]
    assert len(candles) == 9 * 1440
    loss_bound_holds(candles, BOOK)


def test_the_summary_states_the_worst_day_against_the_cap(tmp_path: Path):
    book = tmp_path / "cap.yaml"
    book.write_text(BOOK)
    result, _, _ = backtest(str(book), [str(require(DAYS))])
    worst = result.worst_day
    assert worst is not None and worst.pnl < 0
    rows = dict(summary_rows(compute_stats(result), result))
    assert rows["worst day"].startswith(f"{worst.pnl:,.2f} USDT on 2025-06-")
    assert f"(cap {worst.cap:,.2f} USDT" in rows["worst day"]
    doc = summary_dict(compute_stats(result), result)["worst_day"]
    assert doc == {"day_start": worst.day_start, "pnl": str(worst.pnl), "cap": str(worst.cap)}
