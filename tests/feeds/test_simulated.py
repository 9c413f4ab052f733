"""The seeded synthetic market: reproducible, ordered, on the grid, and shaped as configured."""

from __future__ import annotations

import collections
import itertools
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.core.enums import Market
from rulebot.core.events import (
    BookTop,
    CandleClosed,
    FundingRate,
    IndexPrice,
    MarketEvent,
    MarkPrice,
    Trade,
)
from rulebot.feeds.simulated.market import (
    BTCUSD_PERP,
    BTCUSDT,
    ETHUSDT,
    PRESETS,
    Regime,
    RegimeSpec,
    ScheduledJump,
    SimulatedMarket,
    SimulatedMarketConfig,
    SymbolSpec,
    preset,
)

HOUR = 3_600_000
MINUTE = 60_000
START = 1_717_200_000_000  # 2024-06-01 00:00 UTC
SPECS = {s.symbol: s for s in (BTCUSDT, ETHUSDT, BTCUSD_PERP)}
E = TypeVar("E")
Stream = tuple[SimulatedMarketConfig, list[MarketEvent]]


def end_of(cfg: SimulatedMarketConfig) -> int:
    assert cfg.end is not None
    return cfg.end


def take(events: Iterable[MarketEvent], n: int) -> list[MarketEvent]:
    return list(itertools.islice(events, n))


def of(kind: type[E], events: Iterable[MarketEvent], symbol: str | None = None) -> list[E]:
    """The events of one kind (and symbol), in stream order."""
    return [e for e in events if isinstance(e, kind) and (symbol is None or e.symbol == symbol)]


@pytest.fixture(scope="module")
def multi() -> Stream:
    """Two hours of three symbols (one COIN-M), hourly funding, 1m and 5m candles."""
    cfg = SimulatedMarketConfig(
        symbols=(BTCUSDT, ETHUSDT, BTCUSD_PERP),
        seed=11,
        duration_ms=2 * HOUR,
        trade_rate=1.0,
        funding_interval_hours=1,
        emit_candles=("1m", "5m"),
    )
    return cfg, list(SimulatedMarket(cfg))


# ---- construction and determinism --------------------------------------------------------


def test_default_market_is_a_day_of_btcusdt_near_60000() -> None:
    m = SimulatedMarket(seed=7)
    cfg = m.config
    assert cfg.seed == 7 and cfg.symbols == (BTCUSDT,) and cfg.end == START + 24 * HOUR
    head = list(itertools.takewhile(lambda e: e.time < START + 10 * MINUTE, m))
    trades = of(Trade, head)
    assert {e.symbol for e in head} == {"BTCUSDT"}
    assert abs(float(trades[0].price) / 60000 - 1) < 0.001
    # A few trades a second by default (range regime: 4/s x 0.8).
    assert 2 < len(trades) / 600 < 12
    assert {type(e) for e in head} == {Trade, BookTop, IndexPrice, MarkPrice, FundingRate}


def test_same_seed_same_events_and_another_seed_others() -> None:
    first = take(SimulatedMarket(seed=5), 10_000)
    assert take(SimulatedMarket(seed=5), 10_000) == first
    market = SimulatedMarket(seed=5)
    assert take(market, 10_000) == take(market, 10_000) == first  # each iteration restarts
    other = take(SimulatedMarket(seed=6), 10_000)
    assert of(Trade, other)[:50] != of(Trade, first)[:50]


def test_a_symbol_keeps_its_path_when_others_are_added() -> None:
    alone = take(SimulatedMarket(SimulatedMarketConfig(seed=3)), 5_000)
    cfg = SimulatedMarketConfig(symbols=(ETHUSDT, BTCUSDT), seed=3)
    together = of(Trade, take(SimulatedMarket(cfg), 15_000), "BTCUSDT")
    assert together[:500] == of(Trade, alone)[:500]


def test_seed_replaces_the_config_or_preset_seed() -> None:
    assert SimulatedMarket(preset("crash"), seed=9).config == replace(PRESETS["crash"], seed=9)
    assert SimulatedMarket(preset="calm", seed=9).config == replace(PRESETS["calm"], seed=9)


def test_bad_arguments_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="calm, crash, trending, volatile"):
        SimulatedMarket(preset="boring")
    with pytest.raises(ValueError, match="not both"):
        SimulatedMarket(SimulatedMarketConfig(), preset="calm")
    with pytest.raises(ValueError) as err:
        SimulatedMarketConfig(
            symbols=(replace(BTCUSDT, tick_size=Decimal(0)),),
            funding_interval_hours=2,
            emit_candles=("1M",),
            jump_min=0.5,
            jump_max=0.1,
        )
    text = str(err.value)  # every problem, not only the first
    for part in ("tick_size", "funding_interval_hours", "'1M'", "jump_min"):
        assert part in text


# ---- invariants --------------------------------------------------------------------------


def check_stream(cfg: SimulatedMarketConfig, events: list[MarketEvent]) -> None:
    """Time order, the tick and step grids, positive prices, an uncrossed book, increasing ids."""
    times = [e.time for e in events]
    assert times == sorted(times)
    end = end_of(cfg)
    assert all(cfg.start_time <= t < end for t in times)
    last_ids: dict[tuple[str, str], int] = {}
    for e in events:
        spec = SPECS.get(e.symbol) or next(s for s in cfg.symbols if s.symbol == e.symbol)
        tick, step = spec.tick_size, spec.step_size
        if isinstance(e, Trade):
            prices, qtys, ident = [e.price], [e.qty], e.trade_id
        elif isinstance(e, BookTop):
            assert e.bid < e.ask
            prices, qtys, ident = [e.bid, e.ask], [e.bid_qty, e.ask_qty], e.update_id
        elif isinstance(e, MarkPrice):
            assert e.index_price is not None
            prices, qtys, ident = [e.mark_price, e.index_price], [], None
        elif isinstance(e, IndexPrice):
            prices, qtys, ident = [e.index_price], [], None
        elif isinstance(e, CandleClosed):
            prices = [e.open, e.high, e.low, e.close]
            qtys, ident = [e.volume, e.taker_buy_volume], None
            assert e.low <= min(e.open, e.close) <= max(e.open, e.close) <= e.high
        else:
            continue
        assert all(p > 0 and p % tick == 0 for p in prices), e
        assert all(q >= 0 and q % step == 0 for q in qtys), e
        if isinstance(e, Trade | BookTop):
            assert all(q > 0 for q in qtys), e
        if ident is not None:
            key = (e.symbol, type(e).__name__)
            assert ident > last_ids.get(key, 0)
            last_ids[key] = ident


def test_multi_symbol_stream_is_ordered_on_grid_and_uncrossed(multi: Stream) -> None:
    cfg, events = multi
    check_stream(cfg, events)
    assert {e.symbol for e in events} == {"BTCUSDT", "ETHUSDT", "BTCUSD_PERP"}


def test_each_trade_hits_the_book_top_it_leaves(multi: Stream) -> None:
    _, events = multi
    pending: dict[str, Trade] = {}
    seen = 0
    for e in events:
        if isinstance(e, Trade):
            pending[e.symbol] = e
        elif isinstance(e, BookTop):
            t = pending.pop(e.symbol)
            assert t.time == e.time
            # A buyer taker (buyer not maker) lifts the ask; a seller taker hits the bid.
            assert t.price == (e.bid if t.is_buyer_maker else e.ask)
            seen += 1
    assert seen > 1000


def test_coinm_quantities_are_whole_contracts(multi: Stream) -> None:
    _, events = multi
    trades = of(Trade, events, "BTCUSD_PERP")
    assert BTCUSD_PERP.market is Market.COINM and BTCUSD_PERP.contract_size == 100
    assert len(trades) > 1000
    assert all(t.qty == t.qty.to_integral_value() and t.qty >= 1 for t in trades)
    assert all(t.price % Decimal("0.1") == 0 for t in trades)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    tick=st.sampled_from([Decimal("0.1"), Decimal("0.5"), Decimal("0.01"), Decimal("0.0001")]),
    start_ticks=st.integers(1, 10**6),
    step=st.sampled_from([Decimal("0.001"), Decimal("1"), Decimal("0.1")]),
    vol=st.floats(0.0, 3.0),
    spread=st.integers(1, 12),
)
def test_any_symbol_stays_positive_on_grid_and_uncrossed(
    seed: int, tick: Decimal, start_ticks: int, step: Decimal, vol: float, spread: int
) -> None:
    # Up to 300 % a day of volatility from a start as low as one tick: the walk must never
    # print a price of zero nor cross the book.
    spec = SymbolSpec("XUSDT", tick * start_ticks, tick, step, vol_scale=vol)
    regimes = (RegimeSpec(Regime.VOLATILE, -1.0, 1.0, 600, 1.0, 1.0, spread),)
    cfg = SimulatedMarketConfig(
        symbols=(spec,),
        seed=seed,
        regimes=regimes,
        initial_regime=Regime.VOLATILE,
        duration_ms=20 * MINUTE,
        jump_rate_per_day=50.0,
        jump_max=0.5,
    )
    check_stream(cfg, take(SimulatedMarket(cfg), 3_000))


# ---- mark, index and funding -------------------------------------------------------------


def test_index_and_mark_once_per_second(multi: Stream) -> None:
    cfg, events = multi
    seconds = list(range(cfg.start_time, end_of(cfg), 1000))
    for symbol in ("BTCUSDT", "ETHUSDT", "BTCUSD_PERP"):
        marks = of(MarkPrice, events, symbol)
        index = of(IndexPrice, events, symbol)
        assert [m.time for m in marks] == seconds
        assert [i.time for i in index] == seconds
        assert all(m.index_price == i.index_price for m, i in zip(marks, index, strict=True))
        # The mark sits within a fraction of a percent of the index.
        assert all(abs(m.mark_price / i.index_price - 1) < Decimal("0.005") for m, i in zip(marks, index, strict=True))


@pytest.mark.parametrize(("hours", "offset_h", "span_h"), [(1, 0.5, 3), (4, 3.5, 5), (8, 7.5, 9)])
def test_funding_settles_exactly_on_the_funding_times(hours: int, offset_h: float, span_h: int) -> None:
    cfg = SimulatedMarketConfig(
        seed=hours,
        start_time=START + int(offset_h * HOUR),
        duration_ms=span_h * HOUR,
        funding_interval_hours=hours,
        trade_rate=0.05,  # funding is what this test reads; few trades keep it fast
    )
    events = list(SimulatedMarket(cfg))
    fundings = of(FundingRate, events)
    interval = hours * HOUR
    expected = [t for t in range(START, end_of(cfg), interval) if t >= cfg.start_time]
    assert [f.funding_time for f in fundings] == expected and len(expected) >= 2
    marks = {m.time: m for m in of(MarkPrice, events)}
    for f in fundings:
        assert abs(f.rate) <= Decimal(str(cfg.funding_cap))
        assert f.interval_hours == hours
        # The settlement uses the mark of that second and the estimate that mark carried.
        assert f.mark_price == marks[f.funding_time].mark_price
        assert f.rate == marks[f.funding_time].funding_rate
    for m in marks.values():
        nxt = m.next_funding_time
        assert nxt is not None and nxt % interval == 0 and m.time <= nxt < m.time + interval
        assert m.funding_rate is not None and abs(m.funding_rate) <= Decimal("0.0075")


@pytest.mark.parametrize(
    ("premium", "cap", "rate"),
    [  # FACTS §11: F = P + clamp(I - P, -0.05 %, +0.05 %), I = 0.01 %, then the cap.
        (0.0003, 0.0075, "0.0001"),
        (0.001, 0.0075, "0.0005"),
        (-0.0002, 0.0075, "0.0001"),
        (-0.004, 0.0075, "-0.0035"),
        (0.03, 0.0075, "0.0075"),
        (0.003, 0.002, "0.002"),
    ],
)
def test_funding_rate_follows_binance_formula(premium: float, cap: float, rate: str) -> None:
    flat = (RegimeSpec(Regime.RANGE, 0.0, 0.02, 3600, 1.0),)
    cfg = SimulatedMarketConfig(
        regimes=flat,
        premium_mean=premium,
        premium_std=0.0,
        funding_cap=cap,
        start_time=START + 7 * HOUR + 50 * MINUTE,
        duration_ms=20 * MINUTE,
        trade_rate=0.1,
        jump_rate_per_day=0.0,
        jump_regime=None,
    )
    (funding,) = of(FundingRate, SimulatedMarket(cfg))
    assert funding.rate == Decimal(rate)


# ---- regimes, jumps and candles ----------------------------------------------------------


def one_minute_log_returns(events: Iterable[MarketEvent]) -> list[float]:
    closes: dict[int, Decimal] = {}
    for t in of(Trade, events):
        closes[t.time // MINUTE] = t.price
    minutes = sorted(closes)
    return [math.log(closes[b] / closes[a]) for a, b in itertools.pairwise(minutes)]


def realized_vol(returns: list[float]) -> float:
    mean = sum(returns) / len(returns)
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))


def test_volatile_preset_moves_much_more_than_calm() -> None:
    vols = {}
    for name in ("calm", "volatile"):
        cfg = replace(preset(name), seed=21, duration_ms=HOUR)
        vols[name] = realized_vol(one_minute_log_returns(SimulatedMarket(cfg)))
    assert vols["volatile"] > 3 * vols["calm"], vols


def test_crash_preset_drops_by_its_size_within_a_minute() -> None:
    base = preset("crash")
    (jump,) = base.scheduled_jumps
    assert jump.size <= -0.1 and jump.regime is Regime.VOLATILE
    cfg = replace(base, seed=4, duration_ms=jump.at_ms + 10 * MINUTE)
    trades = of(Trade, SimulatedMarket(cfg))
    window: collections.deque[Trade] = collections.deque()  # running max over the last minute
    worst = 0.0
    for t in trades:
        while window and window[0].time <= t.time - MINUTE:
            window.popleft()
        while window and window[-1].price <= t.price:
            window.pop()
        window.append(t)
        worst = min(worst, float(t.price / window[0].price) - 1)
    assert worst <= jump.size, worst
    # The cascade is one-sided: sellers take (the buyer is the maker) most of its trades.
    crash_at = cfg.start_time + jump.at_ms
    during = [t for t in trades if crash_at <= t.time < crash_at + jump.duration_ms]
    assert sum(t.is_buyer_maker for t in during) > 0.7 * len(during)


def test_a_scheduled_jump_moves_the_price_by_its_size_at_its_time() -> None:
    # The same seed with and without the jump: identical until it, then 5 % apart for good
    # (to the tick: the index is rounded to 0.1).
    jump = ScheduledJump(at_ms=10 * MINUTE, size=0.05, duration_ms=0, regime=None)
    plain = replace(preset("calm"), seed=8, duration_ms=20 * MINUTE)
    jumped = replace(plain, scheduled_jumps=(jump,))
    without = {e.time: e.index_price for e in of(IndexPrice, SimulatedMarket(plain))}
    index = {e.time: e.index_price for e in of(IndexPrice, SimulatedMarket(jumped))}
    at = jumped.start_time + jump.at_ms
    assert index.keys() == without.keys()
    assert all(index[t] == without[t] for t in index if t < at)
    after = [t for t in index if t >= at]
    assert after and all(abs(index[t] / without[t] - Decimal("1.05")) < Decimal("0.000005") for t in after)


def aggregate(
    trades: list[Trade], spec: SymbolSpec, tf_ms: int, start: int, end: int
) -> Iterator[tuple[int, int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, int, Decimal]]:
    """Binance-aligned candles from trades, the slow obvious way (empty buckets flat)."""
    buckets: dict[int, list[Trade]] = collections.defaultdict(list)
    for t in trades:
        buckets[t.time // tf_ms * tf_ms].append(t)
    last: Decimal | None = None
    for open_time in range(start // tf_ms * tf_ms, end, tf_ms):
        if open_time + tf_ms > end:
            break
        got = buckets.get(open_time, [])
        if got:
            prices = [t.price for t in got]
            o, h, lo, c = prices[0], max(prices), min(prices), prices[-1]
            last = c
        elif last is None:
            continue
        else:
            o = h = lo = c = last
        if spec.market is Market.COINM:
            quote = sum((t.qty * spec.contract_size / t.price for t in got), Decimal(0))
        else:
            quote = sum((t.qty * t.price for t in got), Decimal(0))
        yield (
            open_time,
            open_time + tf_ms - 1,
            o,
            h,
            lo,
            c,
            sum((t.qty for t in got), Decimal(0)),
            quote,
            len(got),
            sum((t.qty for t in got if not t.is_buyer_maker), Decimal(0)),
        )


def test_candles_equal_the_trades_they_summarize(multi: Stream) -> None:
    cfg, events = multi
    for spec in cfg.symbols:
        trades = of(Trade, events, spec.symbol)
        for tf, tf_ms in (("1m", MINUTE), ("5m", 5 * MINUTE)):
            got = [
                (
                    c.open_time,
                    c.close_time,
                    c.open,
                    c.high,
                    c.low,
                    c.close,
                    c.volume,
                    c.quote_volume,
                    c.trades,
                    c.taker_buy_volume,
                )
                for c in of(CandleClosed, events, spec.symbol)
                if c.timeframe == tf
            ]
            want = list(aggregate(trades, spec, tf_ms, cfg.start_time, end_of(cfg)))
            assert got == want
            assert len(got) == (120 if tf == "1m" else 24)


def test_no_candles_unless_asked_and_periodic_book_tops() -> None:
    cfg = SimulatedMarketConfig(duration_ms=10 * MINUTE, book_interval_ms=250)
    events = list(SimulatedMarket(cfg))
    assert not of(CandleClosed, events)
    books = of(BookTop, events)
    assert [b.time for b in books] == list(range(cfg.start_time, end_of(cfg), 250))
    check_stream(cfg, events)


def test_an_endless_market_streams_in_constant_memory() -> None:
    cfg = replace(preset("volatile"), duration_ms=None)
    stream = iter(SimulatedMarket(cfg))
    drain = collections.deque[MarketEvent](maxlen=0).extend
    drain(itertools.islice(stream, 30_000))
    before = sys.getallocatedblocks()
    drain(itertools.islice(stream, 170_000))
    # Kept events would add a block or more each (> 170k); the bounded caches add < 20k.
    assert sys.getallocatedblocks() - before < 20_000
