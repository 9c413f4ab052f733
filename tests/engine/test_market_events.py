"""Several candles closing at one event: each `candle_close` firing sees the market as that candle left it."""

from __future__ import annotations

import random
from decimal import Decimal

from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.rulebook.compiler import compile_text

from .conftest import T0, backtest

QUIET = """
rulebook: q
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
indicators:
  fast: ema(close@1m, 2)
rules:
  - name: minute
    on: candle_close 1m
    when: "open@1m > 0 and close@1m > 0 and volume@1m >= 0"
    do: [{log: "o={open@1m}"}]
  - name: ema
    on: candle_close 1m
    when: "fast > 0 and returns@1m > -1"
    do: [{log: "ema"}]
  - name: up
    on: candle_close 1m
    when: "crossover(close@1m, fast)"
    do: [{log: "up o={open@1m}"}]
  - name: down
    on: candle_close 1m
    when: "crossunder(close@1m, fast)"
    do: [{log: "down o={open@1m}"}]
"""


def _trade(second: int, price: str, i: int) -> Trade:
    return Trade("BTCUSDT", Decimal(price), Decimal("2"), T0 + second * 1000, True, i)


def _logs(records: list[object]) -> list[tuple[int, str]]:
    return [(r.time - T0, r.message) for r in records if isinstance(r, rec.LogLine)]


def _fired(records: list[object], rule: str) -> list[tuple[int, dict[str, object]]]:
    return [(r.time - T0, r.inputs) for r in records if isinstance(r, rec.Decision) and r.fired and r.rule == rule]


def _live(text: str, events: list[object], usdm) -> list[object]:
    """The engine's records on `events` alone, as live hears them: no backtest carries the clock to a
    candle's end between them (backtest/trade_clock.py), so each event closes what it closes."""
    book = compile_text(text)
    engine = Engine(book, {s: usdm[0][s] for s in book.symbols}, {"USDT": Decimal(10_000)}, run_id="t")
    records = list(engine.start(T0).records)
    for event in events:
        records.extend(engine.on_event(event).records)  # type: ignore[arg-type]
    return records


def _ema2(closes: list[float]) -> list[float]:
    """ema(x, 2) as the indicator computes it: alpha 2/3, seeded with the first value."""
    out, value = [], closes[0]
    for c in closes:
        value = value + 2 / 3 * (c - value)
        out.append(value)
    return out


def test_minutes_a_quiet_market_closes_at_once_are_seen_one_by_one(usdm):
    # Trades at 00:00:05 and 00:00:50, none until 00:03:05 and no other event (live: a dead mark stream;
    # a backtest carries the clock to each end, test_trade_clock.py): that trade closes 00:00 (o=100,
    # c=101, v=4) and the flat 00:01 and 00:02 (o=c=101, v=0). Each firing read 00:02's values before.
    events = [_trade(5, "100", 1), _trade(50, "101", 2), _trade(185, "99", 3), _trade(250, "98", 4)]
    records = _live(QUIET, events, usdm)
    seen = [(t, (i["open@1m"], i["close@1m"], i["volume@1m"])) for t, i in _fired(records, "minute")]
    assert seen == [
        (185_000, (100.0, 101.0, 4.0)),
        (185_000, (101.0, 101.0, 0.0)),
        (185_000, (101.0, 101.0, 0.0)),
        (250_000, (99.0, 99.0, 2.0)),
    ]
    # The ema (and `returns`) are ready from the second candle: 00:01, 00:02, then 00:03.
    ema = _ema2([101.0, 101.0, 101.0, 99.0])[1:]
    assert [(t, i["fast"], i["returns@1m"]) for t, i in _fired(records, "ema")] == [
        (185_000, ema[0], 0.0),
        (185_000, ema[1], 0.0),
        (250_000, ema[2], 99 / 101 - 1),
    ]


def _mark(second: int, price: str) -> MarkPrice:
    p = Decimal(price)
    return MarkPrice("BTCUSDT", p, T0 + second * 1000, p, Decimal("0.0001"), T0 + 8 * 3_600_000)


def _book(second: float, price: str) -> BookTop:
    p, ms = Decimal(price), round(second * 1000)
    return BookTop("BTCUSDT", p - Decimal("0.1"), Decimal(1), p + Decimal("0.1"), Decimal(1), T0 + ms, ms)


def test_a_quiet_markets_candles_close_on_its_mark_prices_not_at_its_next_trade(usdm):
    # Trades at 00:00:05 and 00:00:50, a mark price every second from 00:00:51, the next trade at
    # 00:03:05: the minutes close at the first mark at or after their end (00:01:00, 00:02:00,
    # 00:03:00), each on its own values, not all three at 00:03:05 (live: minutes late).
    events = [_trade(5, "100", 1), _trade(50, "101", 2)]
    events += [_mark(s, "101") for s in range(51, 185)]
    events += [_trade(185, "99", 3), _mark(185, "99"), _mark(240, "99")]
    _, records = backtest(QUIET, events, usdm)
    seen = [(t, (i["open@1m"], i["close@1m"], i["volume@1m"])) for t, i in _fired(records, "minute")]
    assert seen == [
        (60_000, (100.0, 101.0, 4.0)),
        (120_000, (101.0, 101.0, 0.0)),
        (180_000, (101.0, 101.0, 0.0)),
        (240_000, (99.0, 99.0, 2.0)),
    ]


def test_book_tickers_close_a_quiet_markets_candles_a_second_after_their_end(usdm):
    # No mark stream. A book ticker closes a minute once it is a second past its end (on USDⓈ-M it comes
    # on its own connection, ahead of the trades): 00:01:00.5 closes nothing, 00:01:01 the minute of
    # 00:00, 00:02:30 the flat 00:01; the trade at 00:02:40 opens 00:02, closed by the book at 00:03:01.
    events = [_trade(5, "100", 1), _book(60.5, "100"), _book(61, "100"), _book(150, "100")]
    events += [_trade(160, "102", 2), _book(180.5, "102"), _book(181, "102")]
    records = _live(QUIET, events, usdm)  # a backtest closes them at their end (test_trade_clock.py)
    seen = [(t, (i["open@1m"], i["close@1m"], i["volume@1m"])) for t, i in _fired(records, "minute")]
    assert seen == [(61_000, (100.0, 100.0, 2.0)), (150_000, (100.0, 100.0, 0.0)), (181_000, (102.0, 102.0, 2.0))]


CROSSES = """
rulebook: x
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 5m]
indicators:
  fast: ema(close@1m, 2)
  slow: ema(close@1m, 10)
  trend: ema(close@5m, 3)
rules:
  - name: up
    on: candle_close 1m
    when: "crossover(fast, slow)"
    do: [{log: "up"}]
  - name: down
    on: candle_close 1m
    when: "crossunder(fast, slow)"
    do: [{log: "down"}]
  - name: over
    on: candle_close 1m
    when: "crossover(close@1m, fast) or crossunder(close@1m, slow)"
    do: [{log: "over"}]
  - name: minute
    on: candle_close 1m
    when: "close@1m > 0 and returns@1m > -1 and high@1m > 0 and low@1m > 0 and open@1m > 0"
    do: [{log: "minute"}]
  - name: five
    on: candle_close 5m
    when: "crossover(close@5m, trend) or crossunder(close@5m, trend) or close@1m > 0"
    do: [{log: "five"}]
"""


def test_candles_closed_at_once_fire_as_if_they_had_closed_one_at_a_time(usdm):
    # A market that goes quiet for minutes at a time, against the same market with one trade at the
    # last price at the start of each quiet minute: the same candles (but their volume), closed one at
    # a time. Every rule reading prices, emas, crossovers (their `prev.` values) sees the same values.
    rng = random.Random(7)
    quiet, price, second = [], 100.0, 0
    while second < 6 * 3600:
        price = round(price * (1 + rng.uniform(-0.004, 0.004)), 1)
        quiet.append(_trade(second, str(price), len(quiet) + 1))
        second += rng.choice((20, 40, 70, 130, 250, 400))
    dense = []
    for t, after in zip(quiet, quiet[1:] + quiet[-1:], strict=True):
        dense.append(_trade((t.time - T0) // 1000, str(t.price), len(dense) + 1))
        for minute in range((t.time - T0) // 60_000 + 1, (after.time - T0) // 60_000):  # the minutes with no trade
            dense.append(_trade(minute * 60, str(t.price), len(dense) + 1))
    assert len(dense) > len(quiet) + 100
    seen = {}
    for name, events in (("quiet", quiet), ("dense", dense)):
        _, records = backtest(CROSSES, events, usdm)
        fired = [r for r in records if isinstance(r, rec.Decision) and r.fired]
        seen[name] = [(r.rule, r.inputs) for r in fired]
        assert {r.rule for r in fired} == {"up", "down", "over", "minute", "five"}, name
    assert seen["quiet"] == seen["dense"]


def test_a_longer_candle_rolled_up_across_a_hole_in_the_klines_fires_before_the_minute_after_it(usdm):
    # 1m klines 00:00-00:02, then a hole to 00:07: the 00:07 kline closes the 5m bucket of 00:00 (built
    # from three minutes) and itself. The 5m rule reads the minute before the hole, not the one after.
    book = """
rulebook: h
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 5m]
rules:
  - name: five
    on: candle_close 5m
    when: "close@5m > 0"
    do: [{log: "5m c={close@5m} 1m c={close@1m}"}]
  - name: one
    on: candle_close 1m
    when: "close@1m > 0"
    do: [{log: "1m c={close@1m} 5m c={close@5m}"}]
"""
    d = Decimal

    def kline(minute: int, close: str) -> CandleClosed:
        t = T0 + minute * 60_000
        c = d(close)
        return CandleClosed("BTCUSDT", "1m", t, t + 59_999, c, c, c, c, d(1), d(0), 1, d(0), d(0))

    events = [kline(0, "100"), kline(1, "101"), kline(2, "102"), kline(7, "107")]
    _, records = backtest(book, events, usdm)
    assert [m for _, m in _logs(records)] == [  # the 1m rule waits for its log's close@5m
        "5m c=102 1m c=102",
        "1m c=107 5m c=102",
    ]


def test_a_warm_up_across_a_hole_keeps_the_prev_values_of_the_candle_that_closed_first(usdm):
    # 1m klines 00:00-00:02 at 100, a hole, 00:07 at 110: that kline closes the 5m bucket of 00:00
    # (when close@1m was 100), then itself. Trading from 00:08, the 5m candle of 00:09 (close@1m 120)
    # crosses 105 from the 100 the 5m rules last saw, as in a run without warm-up; the warm-up kept
    # 110 (the minute after the hole) and the cross was missed.
    book = compile_text(
        """
rulebook: w
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 5m]
params: {level: 105}
rules:
  - name: cross
    on: candle_close 5m
    when: "crossover(close@1m, level)"
    do: [{log: "cross {close@1m}"}]
"""
    )

    def kline(minute: int, close: str) -> CandleClosed:
        t, c = T0 + minute * 60_000, Decimal(close)
        return CandleClosed(
            "BTCUSDT", "1m", t, t + 59_999, c, c, c, c, Decimal(1), Decimal(0), 1, Decimal(0), Decimal(0)
        )

    data = [kline(0, "100"), kline(1, "100"), kline(2, "100"), kline(7, "110"), kline(8, "110"), kline(9, "120")]
    seen = {}
    for trade_from in (None, T0 + 8 * 60_000):
        records: list[object] = []
        run_backtest(book, iter(data), *usdm, BacktestConfig(trade_from=trade_from), on_record=records.append)
        seen[trade_from] = [m for t, m in _logs(records) if t >= 8 * 60_000]
    assert seen[None] == seen[T0 + 8 * 60_000] == ["cross 120"]


def _kline(minute: int, close: str) -> CandleClosed:
    t, c = T0 + minute * 60_000, Decimal(close)
    return CandleClosed("BTCUSDT", "1m", t, t + 59_999, c, c, c, c, Decimal(1), Decimal(0), 1, Decimal(0), Decimal(0))


def test_mark_prices_leave_candles_from_klines_as_they_were(usdm):
    # Kline-built timeframes close with their klines only: marks every 10 s (one at each minute's end)
    # change no firing of a 1m kline rule.
    book = QUIET
    klines = [_kline(m, str(100 + m % 3)) for m in range(12)]
    marked = sorted(klines + [_mark(s, "100") for s in range(0, 720, 10)], key=lambda e: e.time)
    seen = []
    for events in (klines, marked):
        _, records = backtest(book, events, usdm)
        seen.append([(t, i["open@1m"], i["close@1m"]) for t, i in _fired(records, "minute")])
    assert len(seen[0]) == 12 and seen[0] == seen[1]


def test_a_warm_up_closes_quiet_minutes_at_mark_prices_as_the_run_does(usdm):
    # Trading from 00:05: the warm-up before it closes the minutes at the mark prices too, so the ema
    # and the crossover's `prev.` values after it are those of a run without warm-up.
    events, second, price = [], 0, 100
    while second < 600:
        if second % 100 == 0:  # 00:03:20's trade is the last before 00:05: 00:03 closes at 00:04's mark
            price += 1 if second % 200 else -2
            events.append(_trade(second, str(price), len(events) + 1))
        events.append(_mark(second, str(price)))
        second += 5
    book = compile_text(QUIET)
    seen = {}
    for trade_from in (None, T0 + 300_000):
        records: list[object] = []
        run_backtest(book, iter(events), *usdm, BacktestConfig(trade_from=trade_from), on_record=records.append)
        seen[trade_from] = [(t, i) for t, i in _fired(records, "ema") + _fired(records, "up") if t >= 300_000]
    assert seen[None] and seen[None] == seen[T0 + 300_000]
