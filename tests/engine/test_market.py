"""Candles built from trades: every timeframe equals a straightforward bucketing of the trades."""

from __future__ import annotations

import math
import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.events import CandleClosed, Trade
from rulebot.engine.market import SymbolMarket
from rulebot.rulebook.compiler import compile_text

from .conftest import T0

BOOK = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m, 5m, 15m, 1h]
indicators:
  a: sma(close@5m, 2)
  b: sma(close@15m, 2)
  c: sma(close@1h, 2)
rules:
  - name: r
    on: candle_close 1m
    when: "a > b and c > 0 and close@1m > 0"
    do: [{log: x}]
"""


def expected(trades: list[Trade], ms: int) -> list[tuple[int, float, float, float, float, float]]:
    buckets: dict[int, list[Trade]] = {}
    for t in trades:
        buckets.setdefault(t.time // ms * ms, []).append(t)
    return [
        (
            start,
            float(g[0].price),
            max(float(x.price) for x in g),
            min(float(x.price) for x in g),
            float(g[-1].price),
            sum(float(x.qty) for x in g),
        )
        for start, g in sorted(buckets.items())
    ]


def test_every_timeframe_matches_a_plain_bucketing_of_the_trades():
    rng = random.Random(3)
    trades, t, price = [], T0, 100.0
    for i in range(4000):
        t += rng.choice((50, 400, 2_000, 9_000))
        price = round(price * (1 + rng.gauss(0, 0.001)), 4)
        trades.append(Trade("ADAUSDT", Decimal(str(price)), Decimal(str(rng.randint(1, 9))), t, True, i))
    market = SymbolMarket("ADAUSDT", compile_text(BOOK), Decimal("0.0001"))
    got: dict[str, list[tuple[int, float, float, float, float, float]]] = {}
    for trade in trades:
        for c in market.on_trade(trade):
            got.setdefault(c.timeframe, []).append((c.open_time, c.open, c.high, c.low, c.close, c.volume))
    end = trades[-1].time // 3_600_000 * 3_600_000 + 3_600_000
    for c in market.advance(end):
        got.setdefault(c.timeframe, []).append((c.open_time, c.open, c.high, c.low, c.close, c.volume))
    for tf, ms in (("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000)):
        want = expected(trades, ms)
        have = [c for c in got[tf] if c[5] > 0]  # quiet buckets close as flat, empty candles
        assert len(have) == len(want), tf
        for h, w in zip(have, want, strict=True):
            assert h[0] == w[0] and h[1:5] == w[1:5] and abs(h[5] - w[5]) < 1e-9, (tf, h, w)


@settings(max_examples=200, deadline=None)
@given(ticks=st.integers(1, 10**10), tick=st.sampled_from(["0.1", "0.01", "0.0001", "0.00001", "0.5", "0.25", "1"]))
def test_the_book_a_trade_stands_in_for_is_the_price_one_tick_away_as_a_book_would_give_it(ticks, tick):
    """Without book data the bid and ask are the last price -/+ one tick. They were computed in
    floats: after a trade at 105,507.6 (tick 0.1) `ask` read 105507.70000000001, not the 105507.7
    a real book gives, so `ask == high@1m` was false and `ask > 105507.7` true one tick up."""
    t = Decimal(tick)
    price = ticks * t
    market = SymbolMarket("ADAUSDT", compile_text(BOOK), t)
    market.on_trade(Trade("ADAUSDT", price, Decimal(1), T0, True, 1))
    assert (market.env["bid"], market.env["ask"]) == (float(price - t), float(price + t))


PARTIAL_BOOK = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m, 1h]
indicators:
  c: sma(close@1h, 2)
rules:
  - name: r
    on: candle_close 1h
    when: "c > 0"
    do: [{log: x}]
"""


def minute(t: int, price: str = "1") -> CandleClosed:
    p = Decimal(price)
    return CandleClosed("ADAUSDT", "1m", t, t + 59_999, p, p, p, p, Decimal(1), p, 1, Decimal(0))


def hours_closed(market: SymbolMarket, start: int, minutes: int) -> list[tuple[int, float]]:
    out = []
    for i in range(minutes):
        out += [(c.open_time, c.volume) for c in market.on_candle(minute(start + i * 60_000)) if c.timeframe == "1h"]
    return out


def test_a_first_hour_the_data_starts_inside_is_not_closed_and_the_next_is():
    market = SymbolMarket("ADAUSDT", compile_text(PARTIAL_BOOK), Decimal("0.0001"))
    got = hours_closed(market, T0 + 20 * 60_000, 100)  # 00:20 to 01:59
    assert got == [(T0 + 3_600_000, 60.0)]  # 00:00 (from 00:20: 40 minutes) is skipped, 01:00 is whole
    assert market.builders["1h"].skipped == (T0, T0 + 20 * 60_000)
    assert [c.open_time for c in market.history["1h"]] == [T0 + 3_600_000]
    assert math.isnan(market.env["returns@1h"])  # 01:00 is the first hour: it has no close before it


def test_a_first_hour_from_its_start_is_closed():
    market = SymbolMarket("ADAUSDT", compile_text(PARTIAL_BOOK), Decimal("0.0001"))
    assert hours_closed(market, T0, 120) == [(T0, 60.0), (T0 + 3_600_000, 60.0)]
    assert market.builders["1h"].skipped is None


def test_a_market_warmed_from_klines_closes_its_first_hour_as_before():
    """Live, REST klines warm the hours up to the start: the first one built goes on from them (its part
    since the start, as runtime/warmup.py says), it is not dropped."""
    market = SymbolMarket("ADAUSDT", compile_text(PARTIAL_BOOK), Decimal("0.0001"))
    one = Decimal(1)
    warm = CandleClosed("ADAUSDT", "1h", T0 - 3_600_000, T0 - 1, one, one, one, one, one, one, 1, Decimal(0))
    assert market.warm([warm]) == 1
    assert hours_closed(market, T0 + 20 * 60_000, 40) == [(T0, 40.0)]
    assert market.builders["1h"].skipped is None


def test_trades_from_inside_an_hour_do_not_close_it_but_close_their_minutes():
    market = SymbolMarket("ADAUSDT", compile_text(PARTIAL_BOOK), Decimal("0.0001"))
    got: list[tuple[str, int]] = []
    for i in range(100):  # a trade every minute from 00:20:05 to 01:59:05
        trade = Trade("ADAUSDT", Decimal(1), Decimal(1), T0 + (20 + i) * 60_000 + 5_000, True, i)
        got += [(c.timeframe, c.open_time) for c in market.on_trade(trade)]
    got += [(c.timeframe, c.open_time) for c in market.advance(T0 + 2 * 3_600_000)]
    assert [t for tf, t in got if tf == "1h"] == [T0 + 3_600_000]  # 00:00 had trades from 00:20 only
    assert next(t for tf, t in got if tf == "1m") == T0 + 20 * 60_000  # a minute is a trade's own: kept
    assert market.builders["1h"].skipped == (T0, T0 + 20 * 60_000)


def test_a_trade_stamped_before_the_minute_a_mark_price_opened_goes_into_that_minute():
    # Live, a mark price stamped 00:01:00.000 may arrive before a trade stamped 00:00:59.990 (another
    # stream): the mark closed 00:00, so the trade goes into 00:01, the minute being built, not into a
    # second candle of 00:00.
    market = SymbolMarket("ADAUSDT", compile_text(BOOK), Decimal("0.0001"))
    assert market.on_trade(Trade("ADAUSDT", Decimal(1), Decimal(2), T0 + 5_000, True, 1)) == []
    assert market.next_close == T0 + 60_000
    assert [(c.timeframe, c.volume) for c in market.advance(T0 + 60_000)] == [("1m", 2.0)]
    assert market.next_close == T0 + 120_000
    assert market.on_trade(Trade("ADAUSDT", Decimal(3), Decimal(1), T0 + 59_990, True, 2)) == []
    closed = market.advance(T0 + 120_000)
    assert [(c.timeframe, c.open_time, c.open, c.close, c.volume) for c in closed] == [("1m", T0 + 60_000, 3, 3, 1)]


def test_events_before_a_minutes_end_close_nothing_and_quiet_minutes_close_one_by_one():
    market = SymbolMarket("ADAUSDT", compile_text(BOOK), Decimal("0.0001"))
    assert market.advance(T0 + 120_000) == [] and market.next_close > T0 + 10**12  # no trade yet: nothing to close
    market.on_trade(Trade("ADAUSDT", Decimal(1), Decimal(2), T0 + 5_000, True, 1))
    assert market.advance(T0 + 59_999) == []
    got = [
        (c.timeframe, c.open_time - T0, c.volume)
        for t in (60_000, 119_999, 120_000, 185_000)
        for c in market.advance(T0 + t)
    ]
    assert got == [("1m", 0, 2.0), ("1m", 60_000, 0.0), ("1m", 120_000, 0.0)]
