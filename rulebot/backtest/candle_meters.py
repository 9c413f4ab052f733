"""The volatility meter and the margin check's throttle over a run of candles, as stepping them leaves them.

Each candle the engine steps feeds its close to the symbol's volatility meter (`VolatilityMeter.update`)
and, at the close, moves the margin-ratio check's throttle (`EventGuards.on_price` on a quiet candle);
held, the fast path's walk (`Engine.walk_quietly`) moves the throttle at each price it visits first.
The volatility breaker then compares the meter's ratio with its multiple and notes a trip or a clear.
The candle array path (candle_runs.py) replays both here, with the meter's very operations in the same
order (inlined: no call per candle), and stops before the candle at which the breaker would change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rulebot.engine.risk.margin_ratio import CHECK_EVERY_MS
from rulebot.engine.state import SymbolRun
from rulebot.engine.volatility import BASE_HALF_LIFE_S, SHORT_HALF_LIFE_S, WARM_SAMPLES

# The meter's fields and the throttle after a candle: last time, last price, short, base, samples,
# the cached alphas, the last margin check.
MeterState = tuple[int, float, float, float, int, tuple[float, float, float], int]
# A held candle at least this long moves the throttle at each of the four points the walk visits:
# the points are ot, ot + span // 3, ot + span * 2 // 3 and the close, none closer than span // 3 to the one before.
_EVERY_POINT = 3 * CHECK_EVERY_MS


def meter_run(
    run: SymbolRun,
    multiple: float,
    now: int,
    held: bool,
    opens_at: Sequence[int],
    times: Sequence[int],
    closes: Sequence[float],
    i: int,
    k: int,
) -> tuple[int, list[MeterState]]:
    """The first candle of [i, k) at which the breaker would trip or clear (k: none), and the state
    after each candle before it. `now` is the engine's clock before candle i."""
    meter, memory = run.volatility, run.guard
    last_time, last_price = meter._last_time, meter._last_price
    short, base, samples, alphas = meter.short, meter.base, meter.samples, meter._alphas
    last_check = memory.last_margin_check
    tripped = memory.volatility_tripped
    log, sqrt = math.log, math.sqrt
    out: list[MeterState] = []
    for j in range(i, k):
        time, price = times[j], closes[j]
        if held:  # Engine.walk_quietly: the clock and the throttle at each price the walk visits
            ot = opens_at[j]
            span = time - ot
            if now <= ot and last_check <= ot and span >= _EVERY_POINT:
                # The clock moves to each visited point in turn, and each is a full throttle period after
                # the one before (span // 3 >= CHECK_EVERY_MS), so the last check is the candle's close.
                now = last_check = time
            else:
                for t in (ot, ot + span // 3, ot + span * 2 // 3, time):
                    if t > now:
                        now = t
                    if now - last_check >= CHECK_EVERY_MS:
                        last_check = now
        if time - last_time >= 1000 and price > 0:
            if last_price > 0:
                seconds = (time - last_time) / 1000
                r2 = log(price / last_price) ** 2 / seconds
                cached, a_short, a_base = alphas
                if seconds != cached:
                    a_short = 1 - 0.5 ** (seconds / max(SHORT_HALF_LIFE_S, 5 * seconds))
                    a_base = 1 - 0.5 ** (seconds / max(BASE_HALF_LIFE_S, 60 * seconds))
                    alphas = (seconds, a_short, a_base)
                if samples == 0:
                    short = base = r2
                else:
                    short += a_short * (r2 - short)
                    base += a_base * (r2 - base)
                samples += 1
            last_time, last_price = time, price
        ratio = 1.0 if samples < WARM_SAMPLES or base <= 0 else sqrt(short / base)
        if (ratio > multiple) != tripped:
            return j, out
        if time - last_check >= CHECK_EVERY_MS:  # the quiet close's throttle (EventGuards.on_price)
            last_check = time
        out.append((last_time, last_price, short, base, samples, alphas, last_check))
    return k, out
