"""The volatility meter and the margin check's throttle over a run of candles, as stepping them leaves them.

Each candle the engine steps feeds its close to the symbol's volatility meter (`VolatilityMeter.update`)
and, at the close, moves the margin-ratio check's throttle (`EventGuards.on_price` on a quiet candle);
held, the fast path's walk (`Engine.walk_quietly`) moves the throttle at each price it visits first.
The volatility breaker then compares the meter's ratio with its multiple and notes a trip or a clear.
The candle array path (candle_runs.py) replays both here, with the meter's very operations in the same
order (inlined: no call per candle), and stops before the candle at which the breaker would change.

The two are independent (the breaker reads the meter only), so they are replayed apart, and only the
state after the run's last candle is kept (catching up needs no other). The meter's floats are the
engine's to the bit; what is left out is work only: at a steady pace of warm samples the per-candle
tests of the pace, the warm-up and the cached alphas are settled once for the whole stretch, and the
square root is compared through its threshold (`ratio_threshold`). The throttle has a closed form on
such a stretch. `MeterWalk` resumes where a shorter window of the same run stopped, so a run screened
in doubling windows walks each candle once. tests/backtest/test_candle_meters.py compares all of it
with the engine's own meter and the walk's point-by-point throttle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rulebot.backtest.candle_series import all_true
from rulebot.engine.risk.margin_ratio import CHECK_EVERY_MS
from rulebot.engine.state import SymbolRun
from rulebot.engine.volatility import BASE_HALF_LIFE_S, SHORT_HALF_LIFE_S, WARM_SAMPLES

# The meter's fields: last time, last price, short, base, samples, the cached alphas.
Meter = tuple[int, float, float, float, int, tuple[float, float, float]]
# The meter's fields and the last margin check, after a run.
MeterState = tuple[int, float, float, float, int, tuple[float, float, float], int]
# A held candle at least this long moves the throttle at each of the four points the walk visits:
# the points are ot, ot + span // 3, ot + span * 2 // 3 and the close, none closer than span // 3 to the one before.
_EVERY_POINT = 3 * CHECK_EVERY_MS
_SAMPLE_MS = 1000  # VolatilityMeter: a price at most once a second


def ratio_threshold(multiple: float) -> float | None:
    """The largest float q with `math.sqrt(q) <= multiple`, so that `sqrt(q) > multiple` exactly when
    `q > threshold` (a correctly rounded square root never decreases); None for a multiple that is not
    a finite non-negative float (compared through the root then)."""
    if not (math.isfinite(multiple) and multiple >= 0):
        return None
    sqrt, up = math.sqrt, math.inf
    q = min(multiple * multiple, math.nextafter(up, 0))
    while sqrt(q) > multiple:
        q = math.nextafter(q, -up)
    while (above := math.nextafter(q, up)) != up and sqrt(above) <= multiple:
        q = above
    return q


class MeterWalk:
    """The meter and the throttle of one run from candle `i` on, walked as far as asked: `walk(k)`
    goes on from where the last walk stopped (from `i` again only when asked for less)."""

    __slots__ = (
        "_check",
        "_closes",
        "_closes_np",
        "_i",
        "_meter",
        "_now",
        "_opens",
        "_opens_np",
        "_start",
        "_times",
        "_times_np",
        "at",
        "held",
        "multiple",
    )

    def __init__(
        self,
        run: SymbolRun,
        multiple: float,
        now: int,
        held: bool,
        opens_at: Sequence[int],
        times: Sequence[int],
        closes: Sequence[float],
        i: int,
        opens_np: np.ndarray | None = None,
        times_np: np.ndarray | None = None,
        closes_np: np.ndarray | None = None,
    ) -> None:
        """`opens_np`, `times_np`, `closes_np`: the same columns as arrays (made here when not given)."""
        meter, memory = run.volatility, run.guard
        m: Meter = (meter._last_time, meter._last_price, meter.short, meter.base, meter.samples, meter._alphas)
        self._start = (m, now, memory.last_margin_check, memory.volatility_tripped)
        self.multiple, self.held = multiple, held
        self._opens, self._times, self._closes, self._i = opens_at, times, closes, i
        self._opens_np = np.asarray(opens_at, dtype=np.int64) if opens_np is None else opens_np
        self._times_np = np.asarray(times, dtype=np.int64) if times_np is None else times_np
        self._closes_np = np.asarray(closes, dtype=np.float64) if closes_np is None else closes_np
        self.at = i  # candles [i, at) walked
        self._meter, self._now, self._check = m, now, memory.last_margin_check

    def walk(self, k: int) -> int:
        """The first candle of [i, k) at which the breaker would trip or clear (k: none); the walk
        stands after the candle before it."""
        at = self.at
        if k < at:  # asked for less than walked: from the start again
            self._meter, self._now, self._check, _ = self._start
            at = self.at = self._i
        tripped = self._start[3]
        cut, self._meter = meter_run(
            self._meter, self.multiple, tripped, self._times, self._closes, at, k, self._times_np, self._closes_np
        )
        self._now, self._check = throttle_run(
            self._now, self._check, self.held, self._opens, self._times, at, cut, self._opens_np, self._times_np
        )
        self.at = cut
        return cut

    def state(self) -> MeterState:
        """The meter's fields and the last margin check after the candles walked."""
        return (*self._meter, self._check)


def meter_run(
    m: Meter,
    multiple: float,
    tripped: bool,
    times: Sequence[int],
    closes: Sequence[float],
    i: int,
    k: int,
    times_np: np.ndarray | None = None,
    closes_np: np.ndarray | None = None,
) -> tuple[int, Meter]:
    """The first candle of [i, k) at which the breaker (`tripped` now) would trip or clear (k: none),
    and the meter `m` after the candles before it (`times_np`, `closes_np`: the columns as arrays)."""
    j, m, stopped = _meter_steps(m, multiple, tripped, times, closes, i, k, True)
    if stopped or j >= k:
        return j, m
    last_time, last_price, short, base, samples, alphas = m
    step = times[j] - last_time
    t = np.asarray(times[j:k], dtype=np.int64) if times_np is None else times_np[j:k]
    c = np.asarray(closes[j:k], dtype=np.float64) if closes_np is None else closes_np[j:k]
    if step < _SAMPLE_MS or not last_price > 0 or not all_true(c > 0) or not all_true(t[1:] - t[:-1] == step):
        return _meter_steps(m, multiple, tripped, times, closes, j, k, False)[:2]
    # A steady pace of warm samples: every candle samples, `seconds` and the alphas are the same each time.
    seconds = step / 1000
    cached, a_short, a_base = alphas
    if seconds != cached:
        a_short = 1 - 0.5 ** (seconds / max(SHORT_HALF_LIFE_S, 5 * seconds))
        a_base = 1 - 0.5 ** (seconds / max(BASE_HALF_LIFE_S, 60 * seconds))
        alphas = (seconds, a_short, a_base)
    log, flat = math.log, multiple < 1.0  # flat: the ratio with no baseline (1.0) over the multiple
    threshold = ratio_threshold(multiple)
    cut = k
    if threshold is None:
        sqrt = math.sqrt
        for n, price in enumerate(closes[j:k]):
            r2 = log(price / last_price) ** 2 / seconds
            s2 = short + a_short * (r2 - short)
            b2 = base + a_base * (r2 - base)
            if (sqrt(s2 / b2) > multiple if b2 > 0 else flat) != tripped:
                cut = j + n
                break
            short, base, last_price = s2, b2, price
    else:
        for n, price in enumerate(closes[j:k]):
            r2 = log(price / last_price) ** 2 / seconds
            s2 = short + a_short * (r2 - short)
            b2 = base + a_base * (r2 - base)
            if (s2 / b2 > threshold if b2 > 0 else flat) != tripped:
                cut = j + n
                break
            short, base, last_price = s2, b2, price
    if cut > j:  # the first step above set the alphas (a stop at j leaves the meter as it was)
        m = (times[cut - 1], last_price, short, base, samples + cut - j, alphas)
    return cut, m


def _meter_steps(
    m: Meter,
    multiple: float,
    tripped: bool,
    times: Sequence[int],
    closes: Sequence[float],
    i: int,
    k: int,
    warming: bool,
) -> tuple[int, Meter, bool]:
    """VolatilityMeter.update and the breaker's test candle by candle from i, until a candle at which
    the breaker would change (True), k, or (`warming`) the first candle after a warm sample."""
    last_time, last_price, short, base, samples, alphas = m
    log, sqrt = math.log, math.sqrt
    for j in range(i, k):
        if warming and samples >= WARM_SAMPLES:
            return j, (last_time, last_price, short, base, samples, alphas), False
        time, price = times[j], closes[j]
        s2, b2, n2, al2, lt2, lp2 = short, base, samples, alphas, last_time, last_price
        if time - last_time >= _SAMPLE_MS and price > 0:
            if last_price > 0:
                seconds = (time - last_time) / 1000
                r2 = log(price / last_price) ** 2 / seconds
                cached, a_short, a_base = alphas
                if seconds != cached:
                    a_short = 1 - 0.5 ** (seconds / max(SHORT_HALF_LIFE_S, 5 * seconds))
                    a_base = 1 - 0.5 ** (seconds / max(BASE_HALF_LIFE_S, 60 * seconds))
                    al2 = (seconds, a_short, a_base)
                if samples == 0:
                    s2 = b2 = r2
                else:
                    s2 = short + a_short * (r2 - short)
                    b2 = base + a_base * (r2 - base)
                n2 = samples + 1
            lt2, lp2 = time, price
        ratio = 1.0 if n2 < WARM_SAMPLES or b2 <= 0 else sqrt(s2 / b2)
        if (ratio > multiple) != tripped:
            return j, (last_time, last_price, short, base, samples, alphas), True
        last_time, last_price, short, base, samples, alphas = lt2, lp2, s2, b2, n2, al2
    return k, (last_time, last_price, short, base, samples, alphas), False


def throttle_run(
    now: int,
    last_check: int,
    held: bool,
    opens_at: Sequence[int],
    times: Sequence[int],
    i: int,
    k: int,
    opens_np: np.ndarray | None = None,
    times_np: np.ndarray | None = None,
) -> tuple[int, int]:
    """The clock and the last margin check after candles [i, k): held, Engine.walk_quietly moves both at
    each price the walk visits; then the quiet close (EventGuards.on_price) moves the check."""
    if k <= i:
        return now, last_check
    t = np.asarray(times[i:k], dtype=np.int64) if times_np is None else times_np[i:k]
    last = times[k - 1]
    if not held:
        # Closes at least a throttle period apart: once a close moves the check, every later one does,
        # and one does if the last is a period past the check.
        if k - i == 1 or all_true(t[1:] - t[:-1] >= CHECK_EVERY_MS):
            return now, last if last - last_check >= CHECK_EVERY_MS else last_check
    else:
        ot = opens_at[i]
        if now <= ot and last_check <= ot and times[i] - ot >= _EVERY_POINT:
            # Candle i moves both to its close (below); so does each next one that opens at or after
            # the close before it and is long enough: the run leaves both at its last close.
            o = np.asarray(opens_at[i:k], dtype=np.int64) if opens_np is None else opens_np[i:k]
            if k - i == 1 or all_true((o[1:] >= t[:-1]) & (t[1:] - o[1:] >= _EVERY_POINT)):
                return last, last
    for j in range(i, k):
        time = times[j]
        if held:  # Engine.walk_quietly: the clock and the throttle at each price the walk visits
            ot = opens_at[j]
            span = time - ot
            if now <= ot and last_check <= ot and span >= _EVERY_POINT:
                # The clock moves to each visited point in turn, and each is a full throttle period after
                # the one before (span // 3 >= CHECK_EVERY_MS), so the last check is the candle's close.
                now = last_check = time
            else:
                for p in (ot, ot + span // 3, ot + span * 2 // 3, time):
                    if p > now:
                        now = p
                    if now - last_check >= CHECK_EVERY_MS:
                        last_check = now
        if time - last_check >= CHECK_EVERY_MS:  # the quiet close's throttle (EventGuards.on_price)
            last_check = time
    return now, last_check
