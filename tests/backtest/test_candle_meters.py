"""The candle array path's replay of the volatility meter and the margin check's throttle (candle_meters.py).

Each is compared with the point-by-point walk it stands for: the meter with the engine's own
`VolatilityMeter` stepped candle by candle (the breaker's test after each), to the bit; the throttle
with every point the held walk visits; a resumed walk with one from the start.
"""

from __future__ import annotations

import math
import struct

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rulebot.backtest.candle_meters import MeterWalk, meter_run, ratio_threshold, throttle_run
from rulebot.engine.risk.margin_ratio import CHECK_EVERY_MS
from rulebot.engine.state import SymbolRun
from rulebot.engine.volatility import WARM_SAMPLES, VolatilityMeter


def _stepped(now: int, last_check: int, held: bool, opens: list[int], times: list[int]) -> list[int]:
    """The throttle after each candle as Engine.walk_quietly (held: at each point the walk visits) and the
    quiet close (EventGuards.on_price) leave it, one point at a time."""
    out = []
    for ot, time in zip(opens, times, strict=True):
        if held:
            span = time - ot
            for t in (ot, ot + span // 3, ot + span * 2 // 3, time):
                now = max(now, t)
                if now - last_check >= CHECK_EVERY_MS:
                    last_check = now
        if time - last_check >= CHECK_EVERY_MS:
            last_check = time
        out.append(last_check)
    return out


def _run(last_check: int = -1000, tripped: bool = False, meter: VolatilityMeter | None = None) -> SymbolRun:
    run = SymbolRun(market=None, state="long", entered_at=0, leverage=1)  # type: ignore[arg-type]
    run.guard.last_margin_check = last_check
    run.guard.volatility_tripped = tripped
    if meter is not None:
        run.volatility = meter
    return run


def _fields(m: VolatilityMeter) -> tuple[object, ...]:
    return (m._last_time, m._last_price, m.short, m.base, m.samples, m._alphas)


def _bits(fields: tuple[object, ...]) -> tuple[object, ...]:
    """Floats by their bits (NaN equals itself, -0.0 is not 0.0)."""
    return tuple(
        struct.pack("<d", v) if isinstance(v, float) else _bits(v) if isinstance(v, tuple) else v for v in fields
    )


# Candles as (gap before the open, span): spans around the 3 s at which every visited point moves the
# throttle, gaps that put the open before, at and after the clock and the last check.
candles = st.lists(st.tuples(st.integers(-4000, 4000), st.integers(0, 7000)), min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(candles=candles, now=st.integers(-5000, 5000), last_check=st.integers(-5000, 5000), held=st.booleans())
@example(candles=[(1, 59999)] * 5, now=0, last_check=0, held=True)  # contiguous minutes: the closed form
@example(candles=[(1, 59999)] * 5, now=0, last_check=0, held=False)
def test_a_run_leaves_the_throttle_as_walking_each_point_does(
    candles: list[tuple[int, int]], now: int, last_check: int, held: bool
) -> None:
    opens, times, at = [], [], 0
    for gap, span in candles:
        at += gap
        opens.append(at)
        times.append(at + span)
        at += span
    stepped = _stepped(now, last_check, held, opens, times)
    for n in range(1, len(opens) + 1):  # the throttle after each candle: the run cut there
        assert throttle_run(now, last_check, held, opens, times, 0, n)[1] == stepped[n - 1]
        walk = MeterWalk(_run(last_check), 1e9, now, held, opens, times, [100.0] * len(opens), 0)
        assert walk.walk(n) == n
        assert walk.state()[-1] == stepped[n - 1]


def _minutes(draw: st.DrawFn) -> tuple[list[int], list[float]]:
    """Closes at a minute's pace (`rough`: with now and then a hole, a repeat, a tick under a second or a
    bad price)."""
    n = draw(st.integers(1, 400))
    rough = draw(st.booleans())
    moves = draw(st.lists(st.floats(-0.02, 0.02), min_size=n, max_size=n))
    times, closes, t, p = [], [], draw(st.integers(0, 10**6)), 100.0
    for move in moves:
        t += draw(st.sampled_from([60_000] * 30 + [120_000, 500, 1000, 0])) if rough else 60_000
        p *= math.exp(move)
        times.append(t)
        closes.append(draw(st.sampled_from([p] * 40 + [closes[-1] if closes else p, 0.0, -1.0])) if rough else p)
    return times, closes


series = st.composite(_minutes)()


def _stepped_meter(
    meter: VolatilityMeter, multiple: float, tripped: bool, times: list[int], closes: list[float], k: int
) -> tuple[int, tuple[object, ...]]:
    """VolatilityMeter.update and the breaker's test (MarketEvents) one candle at a time: the first candle
    at which the breaker changes and the meter's fields before it."""
    for j in range(k):
        before = _fields(meter)
        meter.update(times[j], closes[j])
        if meter.spiking(multiple) != tripped:
            return j, before
    return k, _fields(meter)


@settings(max_examples=300, deadline=None)
@given(
    data=series,
    multiple=st.sampled_from([3.0, 1.5, 1.0, 0.9, 0.0, 1.2000000000000002, math.inf, math.nan]),
    warm=st.integers(0, WARM_SAMPLES + 5),
    tripped=st.booleans(),
)
def test_the_meter_stops_and_stands_as_the_engines_own_meter_stepped_candle_by_candle(
    data: tuple[list[int], list[float]], multiple: float, warm: int, tripped: bool
) -> None:
    times, closes = data
    meter = VolatilityMeter()
    start = times[0] - 60_000 * (warm + 1)
    for n in range(warm):  # a meter already warming or warm, at the series' pace
        meter.update(start + 60_000 * n, 100.0 * math.exp(0.001 * (n % 7 - 3)))
    mine = VolatilityMeter()
    for name in ("_last_time", "_last_price", "short", "base", "samples", "_alphas"):
        setattr(mine, name, getattr(meter, name))
    m = _fields(mine)
    for k in sorted({1, len(times) // 2, len(times)}):
        want = _stepped_meter(_copy(meter), multiple, tripped, times, closes, k)
        cut, got = meter_run(m, multiple, tripped, times, closes, 0, k)  # type: ignore[arg-type]
        assert (cut, _bits(got)) == (want[0], _bits(want[1]))


def test_a_ratio_exactly_at_the_multiple_does_not_trip() -> None:
    """The multiple set to the ratio the meter reaches at a candle: the breaker stays as it is there."""
    times = [60_000 * n for n in range(1, 400)]
    closes = [100.0 * math.exp(0.003 * math.sin(n * n)) for n in range(1, 400)]
    meter = VolatilityMeter()
    ratios = []
    for t, c in zip(times, closes, strict=True):
        meter.update(t, c)
        ratios.append(meter.ratio())
    for j in range(WARM_SAMPLES + 2, len(times) - 1, 7):
        multiple = ratios[j]
        want = _stepped_meter(VolatilityMeter(), multiple, False, times, closes, len(times))
        cut, got = meter_run(_fields(VolatilityMeter()), multiple, False, times, closes, 0, len(times))  # type: ignore[arg-type]
        assert cut == want[0] and cut != j
        assert _bits(got) == _bits(want[1])


def _copy(meter: VolatilityMeter) -> VolatilityMeter:
    out = VolatilityMeter()
    for name in VolatilityMeter.__slots__:
        setattr(out, name, getattr(meter, name))
    return out


@settings(max_examples=200, deadline=None)
@given(data=series, cuts=st.lists(st.integers(0, 400), min_size=1, max_size=4), held=st.booleans())
def test_a_walk_resumed_or_restarted_stands_as_one_walked_at_once(
    data: tuple[list[int], list[float]], cuts: list[int], held: bool
) -> None:
    times, closes = data
    opens = [t - 59_999 for t in times]
    n = len(times)
    walk = MeterWalk(_run(), 1.1, 0, held, opens, times, closes, 0)
    for k in cuts:
        k = min(k, n)
        fresh = MeterWalk(_run(), 1.1, 0, held, opens, times, closes, 0)
        assert walk.walk(k) == fresh.walk(k)
        assert _bits(walk.state()) == _bits(fresh.state())


finite = st.floats(min_value=0, allow_infinity=False, allow_nan=False)


# Tiny multiples whose square rounds up in the subnormals (its root is over the multiple), and huge ones.
EDGES = [3.0, 1.0, 0.0, 5e-324, 3.125436271079029e-161, 3.2804220862421385e-159, 1.7976931348623157e308]


@settings(max_examples=500, deadline=None)
@given(multiple=finite | st.sampled_from(EDGES), q=finite, near=st.integers(-3, 3))
def test_the_ratio_is_over_the_multiple_exactly_when_the_square_is_over_the_threshold(
    multiple: float, q: float, near: int
) -> None:
    threshold = ratio_threshold(multiple)
    assert threshold is not None
    around = threshold  # the floats next to the threshold, where rounding decides
    for _ in range(abs(near)):
        around = math.nextafter(around, math.inf if near > 0 else 0.0)
    for x in (q, around, multiple * multiple):
        if math.isfinite(x):
            assert (math.sqrt(x) > multiple) == (x > threshold)
    assert ratio_threshold(math.inf) is None and ratio_threshold(math.nan) is None and ratio_threshold(-1.0) is None
