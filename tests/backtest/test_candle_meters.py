"""The candle array path's replay of the margin check's throttle over a held run (candle_meters.meter_run)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest.candle_meters import meter_run
from rulebot.engine.risk.margin_ratio import CHECK_EVERY_MS
from rulebot.engine.state import SymbolRun


def _stepped(now: int, last_check: int, opens: list[int], times: list[int]) -> list[int]:
    """The throttle after each candle as Engine.walk_quietly (at each point the walk visits) and the
    quiet close (EventGuards.on_price) leave it, one point at a time."""
    out = []
    for ot, time in zip(opens, times, strict=True):
        span = time - ot
        for t in (ot, ot + span // 3, ot + span * 2 // 3, time):
            now = max(now, t)
            if now - last_check >= CHECK_EVERY_MS:
                last_check = now
        if time - last_check >= CHECK_EVERY_MS:
            last_check = time
        out.append(last_check)
    return out


# Candles as (gap before the open, span): spans around the 3 s at which every visited point moves the
# throttle, gaps that put the open before, at and after the clock and the last check.
candles = st.lists(st.tuples(st.integers(-4000, 4000), st.integers(0, 7000)), min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(candles=candles, now=st.integers(-5000, 5000), last_check=st.integers(-5000, 5000))
def test_a_held_run_leaves_the_throttle_as_walking_each_point_does(
    candles: list[tuple[int, int]], now: int, last_check: int
) -> None:
    opens, times, at = [], [], 0
    for gap, span in candles:
        at += gap
        opens.append(at)
        times.append(at + span)
        at += span
    run = SymbolRun(market=None, state="long", entered_at=0, leverage=1)  # type: ignore[arg-type]
    run.guard.last_margin_check = last_check
    closes = [100.0] * len(opens)
    k, states = meter_run(run, 1e9, now, True, opens, times, closes, 0, len(opens))
    assert k == len(opens)
    assert [s[-1] for s in states] == _stepped(now, last_check, opens, times)
