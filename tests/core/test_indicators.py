"""Tests for rulebot/core/indicators*.py.

Every incremental indicator is compared, bar by bar, with a plain reference that recomputes
from the whole window (or, for the recursive averages, replays the textbook recursion over the
whole history) on a real day of BTCUSDT 1m futures candles from ../shared/data. Readiness is
checked on the exact input, session VWAP across a UTC midnight, and numerical drift on long
synthetic series built to break naive running sums.
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
import statistics
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulebot.core.indicators import INDICATORS, MAX_PERIOD, Bbands, Indicator
from rulebot.testing.shared import SHARED

KLINES_1M = SHARED / "data" / "binance-vision" / "futures" / "um" / "daily" / "klines" / "BTCUSDT" / "1m"
DAY_MS = 86_400_000
REL = 1e-9

Ref = list[float | None]  # one entry per input; None = not ready yet


@dataclass(frozen=True, slots=True)
class Bar:
    open_time: int
    high: float
    low: float
    close: float
    volume: float


def _load_day(date: str) -> list[Bar]:
    path = KLINES_1M / f"BTCUSDT-1m-{date}.zip"
    if not path.is_file():
        pytest.fail(
            f"real kline file {path} is missing: these tests read the `shared` folder that sits "
            "beside the project checkout (../shared/data/binance-vision/...)",
            pytrace=False,
        )
    with zipfile.ZipFile(path) as z:
        (member,) = z.namelist()
        text = z.read(member).decode("utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return [
        Bar(
            int(r["open_time"]),
            float(r["high"]),
            float(r["low"]),
            float(r["close"]),
            float(r["volume"]),
        )
        for r in rows
    ]


@pytest.fixture(scope="module")
def day() -> list[Bar]:
    bars = _load_day("2025-06-07")
    assert len(bars) == 1440
    return bars


@pytest.fixture(scope="module")
def two_days(day: list[Bar]) -> list[Bar]:
    bars = day + _load_day("2025-06-08")
    assert len(bars) == 2880 and bars[1440].open_time % DAY_MS == 0
    return bars


@pytest.fixture(scope="module")
def closes(day: list[Bar]) -> list[float]:
    return [b.close for b in day]


# --- references: recompute from scratch, no shared code with the package -----------------


def windows(xs: Sequence[float], n: int) -> list[Sequence[float] | None]:
    return [xs[i + 1 - n : i + 1] if i + 1 >= n else None for i in range(len(xs))]


def ref_window(xs: Sequence[float], n: int, f: Callable[[Sequence[float]], float]) -> Ref:
    return [None if w is None else f(w) for w in windows(xs, n)]


def mean(w: Sequence[float]) -> float:
    return math.fsum(w) / len(w)


def wmean(w: Sequence[float]) -> float:
    n = len(w)
    return math.fsum((i + 1) * v for i, v in enumerate(w)) / (n * (n + 1) / 2)


def zscore(w: Sequence[float]) -> float:
    sd = statistics.pstdev(w)  # exact (fractions): a flat window gives exactly 0
    return 0.0 if sd == 0 else (w[-1] - mean(w)) / sd


def ref_smoothed(xs: Sequence[float | None], n: int, alpha: float) -> Ref:
    """s = alpha·x + (1 - alpha)·s, seeded with the mean of the first n values (skipping None)."""
    out: Ref = []
    seen: list[float] = []
    s: float | None = None
    for x in xs:
        if x is None:
            out.append(None)
            continue
        if s is None:
            seen.append(x)
            if len(seen) == n:
                s = mean(seen)
        else:
            s = alpha * x + (1 - alpha) * s
        out.append(s)
    return out


def ref_rsi(xs: Sequence[float], n: int) -> Ref:
    ups: list[float | None] = [None] + [max(b - a, 0.0) for a, b in pairwise(xs)]
    downs: list[float | None] = [None] + [max(a - b, 0.0) for a, b in pairwise(xs)]
    out: Ref = []
    for up, down in zip(ref_smoothed(ups, n, 1 / n), ref_smoothed(downs, n, 1 / n), strict=True):
        if up is None or down is None:
            out.append(None)
        else:
            out.append(100.0 if down == 0 else 0.0 if up == 0 else 100 - 100 / (1 + up / down))
    return out


def ref_atr(bars: Sequence[Bar], n: int) -> Ref:
    trs = [bars[0].high - bars[0].low] + [
        max(b.high - b.low, abs(b.high - p.close), abs(b.low - p.close)) for p, b in pairwise(bars)
    ]
    return ref_smoothed(trs, n, 1 / n)


def ref_macd(xs: Sequence[float], fast: int, slow: int, signal: int) -> list[tuple[float, ...] | None]:
    f = ref_smoothed(xs, fast, 2 / (fast + 1))
    s = ref_smoothed(xs, slow, 2 / (slow + 1))
    line = [None if a is None or b is None else a - b for a, b in zip(f, s, strict=True)]
    sig = ref_smoothed(line, signal, 2 / (signal + 1))
    return [None if li is None or sg is None else (li, sg, li - sg) for li, sg in zip(line, sig, strict=True)]


def typical(b: Bar) -> float:
    return (b.high + b.low + b.close) / 3


def ref_vwap(bars: Sequence[Bar], n: int) -> Ref:
    """n = 0: from the first candle of the same UTC day; else the last n candles."""
    pv = [typical(b) * b.volume for b in bars]
    vol = [b.volume for b in bars]
    out: Ref = []
    start = 0
    for i, b in enumerate(bars):
        if n == 0:
            if b.open_time // DAY_MS != bars[start].open_time // DAY_MS:
                start = i
            lo = start
        elif i + 1 < n:
            out.append(None)
            continue
        else:
            lo = i + 1 - n
        v = math.fsum(vol[lo : i + 1])
        out.append(math.fsum(pv[lo : i + 1]) / v if v > 0 else typical(b))
    return out


# --- drivers ---------------------------------------------------------------------------


def run_series(
    name: str, params: tuple[float, ...], xs: Sequence[float], *outputs: str
) -> list[tuple[bool, tuple[float, ...]]]:
    ind = INDICATORS[name].create(*params)
    got: list[tuple[bool, tuple[float, ...]]] = []
    for x in xs:
        ind.update(x)
        got.append((ind.ready, tuple(getattr(ind, o) for o in outputs or ("value",))))
    return got


def assert_matches(
    got: list[tuple[bool, tuple[float, ...]]],
    want: Sequence[float | tuple[float, ...] | None],
    *,
    abs_tol: float = 0.0,
) -> None:
    assert len(got) == len(want)
    for i, ((ready, values), expected) in enumerate(zip(got, want, strict=True)):
        assert ready == (expected is not None), f"ready={ready} at input {i + 1}"
        if expected is None:
            assert all(math.isnan(v) for v in values), f"value before ready at input {i + 1}"
            continue
        exp = expected if isinstance(expected, tuple) else (expected,)
        assert values == pytest.approx(exp, rel=REL, abs=abs_tol), f"at input {i + 1}"


SERIES_CASES: list[tuple[str, tuple[float, ...], Callable[[Sequence[float]], Ref]]] = [
    ("sma", (1,), lambda xs: ref_window(xs, 1, mean)),
    ("sma", (20,), lambda xs: ref_window(xs, 20, mean)),
    ("sma", (200,), lambda xs: ref_window(xs, 200, mean)),
    ("wma", (1,), lambda xs: ref_window(xs, 1, wmean)),
    ("wma", (9,), lambda xs: ref_window(xs, 9, wmean)),
    ("wma", (100,), lambda xs: ref_window(xs, 100, wmean)),
    ("ema", (1,), lambda xs: ref_smoothed(xs, 1, 1.0)),
    ("ema", (21,), lambda xs: ref_smoothed(xs, 21, 2 / 22)),
    ("ema", (200,), lambda xs: ref_smoothed(xs, 200, 2 / 201)),
    ("rma", (14,), lambda xs: ref_smoothed(xs, 14, 1 / 14)),
    ("rsi", (14,), lambda xs: ref_rsi(xs, 14)),
    ("rsi", (2,), lambda xs: ref_rsi(xs, 2)),
    ("stdev", (2,), lambda xs: ref_window(xs, 2, statistics.pstdev)),
    ("stdev", (30,), lambda xs: ref_window(xs, 30, statistics.pstdev)),
    ("highest", (1,), lambda xs: ref_window(xs, 1, max)),
    ("highest", (50,), lambda xs: ref_window(xs, 50, max)),
    ("lowest", (50,), lambda xs: ref_window(xs, 50, min)),
    ("roc", (1,), lambda xs: [None] + [b / a - 1 for a, b in pairwise(xs)]),
    ("roc", (60,), lambda xs: [None] * 60 + [b / a - 1 for a, b in zip(xs, xs[60:], strict=False)]),
]


@pytest.mark.parametrize(("name", "params", "reference"), SERIES_CASES, ids=[f"{n}{p}" for n, p, _ in SERIES_CASES])
def test_series_indicator_matches_reference_on_real_closes(
    closes: list[float],
    name: str,
    params: tuple[float, ...],
    reference: Callable[[Sequence[float]], Ref],
) -> None:
    assert_matches(run_series(name, params, closes), reference(closes))


def test_stdev_of_returns_matches_reference(closes: list[float]) -> None:
    # Returns are tiny and signed: the regime where sum-of-squares shortcuts lose every digit.
    rets = [b / a - 1 for a, b in pairwise(closes)]
    assert_matches(run_series("stdev", (30,), rets), ref_window(rets, 30, statistics.pstdev))
    assert_matches(run_series("sma", (240,), rets), ref_window(rets, 240, mean))


def test_zscore_matches_reference(closes: list[float]) -> None:
    # n=2 is the hard case: a z-score of ±1 from two prices 0.1 apart at 1e5.
    for n in (2, 20):
        assert_matches(run_series("zscore", (n,), closes), ref_window(closes, n, zscore))


def test_macd_matches_reference(closes: list[float]) -> None:
    # line and hist are differences of two ~1e5 averages: their error is a few ulps of the price
    # (1.5e-11 each), which near a crossing is any fraction of the result, so the tolerance also
    # allows 1e-9 USDT absolute (1e-14 of the price).
    got = run_series("macd", (12, 26, 9), closes, "line", "signal", "hist")
    assert_matches(got, ref_macd(closes, 12, 26, 9), abs_tol=1e-9)
    value = run_series("macd", (12, 26, 9), closes)
    assert [v for _, v in value] == [(v[0],) for _, v in got]  # value is the line


def test_macd_with_fast_slower_than_slow(closes: list[float]) -> None:
    got = run_series("macd", (26, 12, 5), closes, "line", "signal", "hist")
    assert_matches(got, ref_macd(closes, 26, 12, 5), abs_tol=1e-9)


def test_bbands_match_reference(closes: list[float]) -> None:
    def bands(w: Sequence[float]) -> tuple[float, float, float]:
        m, sd = mean(w), statistics.pstdev(w)
        return (m + 2.5 * sd, m, m - 2.5 * sd)

    got = run_series("bbands", (20, 2.5), closes, "upper", "mid", "lower")
    want = [None if w is None else bands(w) for w in windows(closes, 20)]
    assert_matches(got, want)
    assert [v for _, v in run_series("bbands", (20, 2.5), closes)] == [(v[0],) for _, v in got]


def run_candles(name: str, params: tuple[float, ...], bars: Sequence[Bar]) -> list[tuple[bool, tuple[float, ...]]]:
    ind = INDICATORS[name].create(*params)
    got: list[tuple[bool, tuple[float, ...]]] = []
    for b in bars:
        ind.update_candle(b.open_time, b.high, b.low, b.close, b.volume)
        got.append((ind.ready, (ind.value,)))
    return got


@pytest.mark.parametrize("n", [1, 14, 100])
def test_atr_matches_reference(day: list[Bar], n: int) -> None:
    assert_matches(run_candles("atr", (n,), day), ref_atr(day, n))


@pytest.mark.parametrize("n", [1, 30, 500])
def test_rolling_vwap_matches_reference_across_days(two_days: list[Bar], n: int) -> None:
    assert_matches(run_candles("vwap", (n,), two_days), ref_vwap(two_days, n))


def test_session_vwap_resets_at_utc_midnight(two_days: list[Bar]) -> None:
    got = run_candles("vwap", (), two_days)
    assert_matches(got, ref_vwap(two_days, 0))
    first, last_of_day1 = two_days[1440], two_days[1439]
    # The first candle of 2025-06-08 (open 00:00:00 UTC) starts a new session: its VWAP is its
    # own typical price, not a blend with the 1440 candles of the day before.
    assert got[1440][1][0] == pytest.approx(typical(first), rel=1e-15)
    assert got[1439][1][0] != pytest.approx(typical(last_of_day1), rel=1e-6)
    # A session that never reset would still be dominated by day one's volume.
    day_one = ref_vwap(two_days[:1440], 0)[-1]
    assert got[1440][1][0] != pytest.approx(day_one, rel=1e-6)


def test_session_vwap_of_15m_candles_uses_the_open_time() -> None:
    # A 15m candle that opens at 23:45 belongs to its own day, even though it closes at 00:00.
    vwap = INDICATORS["vwap"].create()
    t = 20_000 * DAY_MS
    vwap.update_candle(t - 15 * 60_000, 11, 9, 10, 5)  # day before, opens 23:45
    vwap.update_candle(t, 21, 19, 20, 1)  # opens 00:00: new session
    assert vwap.value == 20
    vwap.update_candle(t + 15 * 60_000, 33, 27, 30, 1)
    assert vwap.value == pytest.approx(25)


def test_vwap_without_volume_is_the_typical_price() -> None:
    session, rolling = INDICATORS["vwap"].create(0), INDICATORS["vwap"].create(2)
    for ind in (session, rolling):
        ind.update_candle(0, 12, 9, 9, 0)
        ind.update_candle(60_000, 12, 9, 12, 0)
        assert ind.ready and ind.value == 11
    rolling.update_candle(120_000, 12, 12, 12, 3)
    rolling.update_candle(180_000, 30, 30, 30, 0)
    rolling.update_candle(240_000, 30, 30, 30, 0)  # the traded candle left the window
    assert rolling.value == 30


# --- readiness -------------------------------------------------------------------------

READY_CASES: list[tuple[str, tuple[float, ...], int]] = [
    ("sma", (7,), 7),
    ("ema", (7,), 7),
    ("wma", (7,), 7),
    ("rma", (7,), 7),
    ("rsi", (), 15),
    ("rsi", (7,), 8),
    ("stdev", (7,), 7),
    ("zscore", (7,), 7),
    ("highest", (7,), 7),
    ("lowest", (7,), 7),
    ("roc", (7,), 8),
    ("macd", (), 34),
    ("macd", (3, 5, 4), 8),
    ("macd", (5, 3, 4), 8),
    ("bbands", (), 20),
    ("atr", (), 14),
    ("atr", (1,), 1),
    ("vwap", (), 1),
    ("vwap", (0,), 1),
    ("vwap", (7,), 7),
]


@pytest.mark.parametrize(("name", "params", "warmup"), READY_CASES, ids=[f"{n}{p}" for n, p, _ in READY_CASES])
def test_ready_exactly_at_warmup(day: list[Bar], name: str, params: tuple[float, ...], warmup: int) -> None:
    spec = INDICATORS[name]
    assert spec.warmup(*params) == warmup
    ind = spec.create(*params)
    assert ind.warmup == warmup
    outputs = spec.outputs or ("value",)
    for i, b in enumerate(day[: warmup + 3], start=1):
        if spec.input == "candles":
            ind.update_candle(b.open_time, b.high, b.low, b.close, b.volume)
        else:
            ind.update(b.close)
        assert ind.ready == (i >= warmup), f"{name}{params} ready={ind.ready} after {i} inputs"
        values = [getattr(ind, o) for o in outputs]
        assert all(math.isnan(v) for v in values) if i < warmup else all(math.isfinite(v) for v in values)
        assert math.isnan(ind.value) == (i < warmup)


# --- hand-computed anchors (independent of both implementation and references) ----------


def test_hand_computed_values() -> None:
    def feed(name: str, params: tuple[float, ...], xs: Sequence[float]) -> Indicator:
        ind = INDICATORS[name].create(*params)
        for x in xs:
            ind.update(x)
        return ind

    assert feed("ema", (3,), [1, 2, 3]).value == 2  # seed: sma of the first 3
    assert feed("ema", (3,), [1, 2, 3, 4]).value == 3  # alpha 2/4: 2 + 0.5 * (4 - 2)
    assert feed("rma", (2,), [1, 3, 6]).value == 4  # seed 2, alpha 1/2: 2 + (6 - 2) / 2
    assert feed("rsi", (2,), [1, 2, 3]).value == 100  # two gains, no loss
    assert feed("rsi", (2,), [1, 2, 3, 2]).value == 50  # avg gain 0.5, avg loss 0.5
    assert feed("wma", (3,), [9, 1, 2, 3]).value == pytest.approx((1 + 4 + 9) / 6)
    assert feed("roc", (2,), [100, 50, 102]).value == pytest.approx(0.02)  # compare with `2%`
    assert feed("stdev", (2,), [7, 1, 3]).value == 1  # population: |1 - 3| / 2
    assert feed("zscore", (3,), [1, 2, 3]).value == pytest.approx(1 / math.sqrt(2 / 3))
    bb = feed("bbands", (2, 3), [1, 3])
    assert isinstance(bb, Bbands) and (bb.upper, bb.mid, bb.lower) == (5, 2, -1)
    atr = INDICATORS["atr"].create(2)
    atr.update_candle(0, 10, 8, 9, 1)  # tr 2 (first candle: high - low)
    atr.update_candle(60_000, 14, 12, 13, 1)  # tr max(2, |14-9|, |12-9|) = 5
    assert atr.value == 3.5
    atr.update_candle(120_000, 13, 12, 12.5, 1)  # tr 1 -> 3.5 + (1 - 3.5) / 2
    assert atr.value == 2.25


@pytest.mark.parametrize(
    ("before", "flat", "n"),
    [
        ([0.1, 0.7, 0.3, 0.2, 0.9, 1.3], 0.3, 5),
        ([100.1, 100.3, 100.2], 104190.2, 7),
        ([104264.9, 104214.7, 104195.3, 103000.1], 100.7, 20),
    ],
)
def test_flat_window_is_exactly_flat(before: list[float], flat: float, n: int) -> None:
    # Add/remove updates leave a residue of ~1e-7 in the variance for these (found by search);
    # a flat market must read exactly 0, not rounding noise over rounding noise.
    xs = [*before, *[flat] * n]
    stdev, z, bb = (INDICATORS[name].create(n) for name in ("stdev", "zscore", "bbands"))
    for x in xs:
        for ind in (stdev, z, bb):
            ind.update(x)
    assert stdev.value == 0.0 and z.value == 0.0
    assert isinstance(bb, Bbands) and bb.upper == bb.mid == bb.lower == flat
    z.update(flat + 1.0)  # one jump after n - 1 equal values: z = sqrt(n - 1)
    assert z.value == pytest.approx(math.sqrt(n - 1), rel=1e-9)


def test_roc_of_zero_base_is_nan_and_rsi_of_flat_is_100() -> None:
    roc = INDICATORS["roc"].create(1)
    roc.update(0.0)
    roc.update(1.0)
    assert roc.ready and math.isnan(roc.value)
    rsi = INDICATORS["rsi"].create(3)
    for _ in range(4):
        rsi.update(5.0)
    assert rsi.value == 100  # TradingView's convention for "no losses"


# --- drift -----------------------------------------------------------------------------


def test_stdev_does_not_drift_over_100k_values() -> None:
    # A price level of 1e6 with cent-sized noise and rare 1e9 spikes: sum(x²) - n·mean² loses
    # every digit here, and a Welford add/remove without re-summation slowly drifts.
    rng = random.Random(20250607)
    n = 50
    xs = [1e6 + rng.gauss(0, 0.01) + (1e9 if i % 9973 == 0 else 0.0) for i in range(100_000)]
    ind = INDICATORS["stdev"].create(n)
    s = s2 = 0.0
    for x in xs:
        ind.update(x)
    for x in xs[:n]:
        s, s2 = s + x, s2 + x * x
    for old, x in zip(xs, xs[n:], strict=False):  # the naive rolling method, for contrast
        s, s2 = s + x - old, s2 + x * x - old * old
    exact = statistics.pstdev(xs[-n:])
    naive = math.sqrt(max(s2 / n - (s / n) ** 2, 0.0))
    assert abs(naive - exact) > 1e-9 * exact  # the data really is hostile
    assert ind.value == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("name", ["sma", "wma"])
def test_running_sums_forget_a_spike(name: str) -> None:
    # Returns-sized values after a 1e12 spike: a plain running sum keeps the spike's rounding
    # error (~1e-4) forever, swamping values of 1e-3.
    rng = random.Random(7)
    xs = [1e12] + [rng.uniform(-1e-3, 1e-3) for _ in range(20_000)]
    ind = INDICATORS[name].create(20)
    for x in xs:
        ind.update(x)
    ref = mean(xs[-20:]) if name == "sma" else wmean(xs[-20:])
    assert ind.value == pytest.approx(ref, rel=1e-9)


@given(
    xs=st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=60),
    n=st.integers(1, 12),
)
def test_highest_and_lowest_with_ties(xs: list[float], n: int) -> None:
    hi, lo = INDICATORS["highest"].create(n), INDICATORS["lowest"].create(n)
    for i, x in enumerate(xs):
        hi.update(x)
        lo.update(x)
        if i + 1 >= n:
            assert (hi.value, lo.value) == (max(xs[i + 1 - n : i + 1]), min(xs[i + 1 - n : i + 1]))


# --- registry --------------------------------------------------------------------------


def test_registry_covers_rulebook_md() -> None:
    path = SHARED / "RULEBOOK.md"
    if not path.is_file():
        pytest.fail(f"{path} is missing (the shared folder beside the checkout)", pytrace=False)
    section = path.read_text(encoding="utf-8").split("## Indicators", 1)[1].split("Inputs are", 1)[0]
    names = re.findall(r"`([a-z]+)`", section)
    assert len(names) == 14
    assert set(names) == set(INDICATORS)
    for name, outs in re.findall(r"`([a-z]+)` \(`([^`]+)`\)", section):
        assert INDICATORS[name].outputs == tuple(o.lstrip(".") for o in outs.split())


def test_registry_specs_are_sensible() -> None:
    assert {n for n, s in INDICATORS.items() if s.input == "candles"} == {"atr", "vwap"}
    for name, spec in INDICATORS.items():
        assert spec.name == name
        assert spec.description and "\n" not in spec.description
        assert spec.params, name
        for p in spec.params:
            assert p.default is None or p.minimum <= p.default <= (p.maximum or math.inf), (name, p)
            if p.kind == "int":
                assert p.maximum == MAX_PERIOD and p.minimum >= (0 if name == "vwap" else 1)
        required = [p.name for p in spec.params if p.default is None]
        args = [(MAX_PERIOD if p.kind == "int" else 1.0) for p in spec.params if p.default is None]
        assert spec.warmup(*args) >= 1
        assert spec.create(*args).warmup == spec.warmup(*args)
        assert required == (
            ["n"] if name in {"sma", "ema", "wma", "rma", "stdev", "zscore", "highest", "lowest", "roc"} else []
        )
    assert [p.default for p in INDICATORS["macd"].params] == [12, 26, 9]
    assert [p.default for p in INDICATORS["bbands"].params] == [20, 2]
    assert INDICATORS["rsi"].params[0].default == INDICATORS["atr"].params[0].default == 14


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sma", ()),
        ("sma", (0,)),
        ("sma", (-3,)),
        ("sma", (2.5,)),
        ("sma", (MAX_PERIOD + 1,)),
        ("sma", (5, 6)),
        ("sma", (True,)),
        ("sma", (math.nan,)),
        ("ema", (math.inf,)),
        ("stdev", (1,)),
        ("zscore", (1,)),
        ("rsi", (0,)),
        ("atr", (0,)),
        ("vwap", (-1,)),
        ("macd", (12, 0, 9)),
        ("macd", (12, 26, 0)),
        ("bbands", (1,)),
        ("bbands", (20, -1)),
        ("bbands", (20, 11)),
        ("bbands", (20, math.nan)),
        ("roc", (0,)),
    ],
)
def test_create_rejects_bad_params(name: str, params: tuple[float, ...]) -> None:
    spec = INDICATORS[name]
    with pytest.raises(ValueError):
        spec.create(*params)
    with pytest.raises(ValueError):
        spec.warmup(*params)


def test_error_names_the_argument() -> None:
    with pytest.raises(ValueError, match=r"slow of macd must be at least 1 and at most 10000, got 0"):
        INDICATORS["macd"].create(12, 0)
    with pytest.raises(ValueError, match=r"n of sma must be a whole number"):
        INDICATORS["sma"].create(2.5)


def test_wrong_entry_point_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="update_candle"):
        INDICATORS["atr"].create().update(1.0)
    with pytest.raises(TypeError, match=r"update\(x\)"):
        INDICATORS["sma"].create(3).update_candle(0, 1.0, 1.0, 1.0, 1.0)


def test_indicators_have_slots() -> None:
    for spec in INDICATORS.values():
        ind = spec.create(*[(5 if p.kind == "int" else 1.0) for p in spec.params if p.default is None])
        assert not hasattr(ind, "__dict__"), spec.name


def test_session_vwap_is_not_ready_before_it_has_seen_a_whole_day(two_days: list[Bar]) -> None:
    """A session VWAP from candles that begin after 00:00 UTC is the VWAP of part of the day, not of
    the day: it stays NaN until the first candle that opens a day, and from there is the day's."""
    vwap = INDICATORS["vwap"].create()
    start = 720  # 12:00 of the first day
    ref = ref_vwap(two_days, 0)
    for i, b in enumerate(two_days[start:], start=start):
        vwap.update_candle(b.open_time, b.high, b.low, b.close, b.volume)
        assert vwap.ready == (i >= 1440), i
        if i < 1440:
            assert math.isnan(vwap.value)
        else:
            assert vwap.value == pytest.approx(ref[i], rel=1e-12)
