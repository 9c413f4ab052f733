"""The stream sequencer: repeats dropped, holes found, by Binance's own sequence numbers."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from rulebot.binance.sequencer import RESTART_MS, CandleGap, Seen, Sequencer, TradeGap
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade


def trade(i: int, symbol: str = "BTCUSDT") -> Trade:
    return Trade(symbol, D("100"), D("1"), i * 10, False, i)


def candle(minute: int, symbol: str = "BTCUSDT") -> CandleClosed:
    open_ms = minute * 60_000
    return CandleClosed(symbol, "1m", open_ms, open_ms + 59_999, D(1), D(2), D("0.5"), D("1.5"), D(10), D(15), 3, D(5))


def test_a_rollover_overlap_is_dropped_and_a_hole_is_named() -> None:
    seq = Sequencer()
    assert seq.check(trade(5)) is Seen.FRESH
    seq.accept(trade(5))
    assert seq.check(trade(5)) is Seen.DUPLICATE
    assert seq.check(trade(4)) is Seen.DUPLICATE
    assert seq.check(trade(6)) is Seen.FRESH
    assert seq.check(trade(9)) == TradeGap("BTCUSDT", 6, 8)
    assert seq.check(trade(9, "ETHUSDT")) is Seen.FRESH  # each symbol has its own numbering


def test_backfill_takes_only_what_is_inside_the_hole_and_new() -> None:
    seq = Sequencer()
    seq.accept(trade(5))
    gap = seq.check(trade(9))
    assert isinstance(gap, TradeGap)
    taken = [t.trade_id for t in map(trade, (4, 6, 6, 7, 9, 10)) if seq.accept_trade(t, gap.first, gap.last)]
    assert taken == [6, 7]
    assert seq.last_trade_id("BTCUSDT") == 7


def test_candles_by_open_time() -> None:
    seq = Sequencer()
    seq.accept(candle(0))
    assert seq.check(candle(0)) is Seen.DUPLICATE
    assert seq.check(candle(1)) is Seen.FRESH
    gap = seq.check(candle(4))
    assert gap == CandleGap(candle(0), candle(4))
    assert isinstance(gap, CandleGap)
    assert [m for m in (1, 2, 4, 5) if seq.accept_candle(candle(m), gap)] == [1, 2]
    assert seq.newest_candle("BTCUSDT", "1m") == candle(2)


def test_book_by_update_id_and_mark_by_time() -> None:
    seq = Sequencer()
    book = BookTop("BTCUSDT", D(1), D(1), D(2), D(1), 100, 7)
    seq.accept(book)
    assert seq.check(book) is Seen.DUPLICATE
    mark = MarkPrice("BTCUSDT", D(1), 1_000)
    seq.accept(mark)
    assert seq.check(MarkPrice("BTCUSDT", D(2), 1_000)) is Seen.DUPLICATE
    assert seq.check(MarkPrice("BTCUSDT", D(2), 2_000)) is Seen.FRESH


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=80))
def test_what_passes_is_increasing_and_the_gaps_name_exactly_what_never_came(ids: list[int]) -> None:
    seq = Sequencer()
    passed: list[int] = []
    missing: set[int] = set()
    for i in ids:
        verdict = seq.check(trade(i))
        if verdict is Seen.DUPLICATE:
            assert passed and i <= passed[-1]
            continue
        if isinstance(verdict, TradeGap):
            missing |= set(range(verdict.first, verdict.last + 1))
        seq.accept(trade(i))
        passed.append(i)
    assert passed == sorted(set(passed))
    if passed:
        assert missing == set(range(passed[0], passed[-1] + 1)) - set(passed)


def test_a_numbering_that_starts_again_later_is_taken_not_dropped_as_repeats() -> None:
    """An exchange that restarts (`rulebot fake-exchange` run anew, a testnet reset) numbers its
    trades and book updates from 1 again: those frames are new (later), not repeats, or the bot
    would drop every trade and book update of the stream for good (probe finding 34)."""
    seq = Sequencer()
    seq.accept(trade(100_000))  # at time 1,000,000
    restarted = Trade("BTCUSDT", D("100"), D("1"), 2_000_000, False, 1)
    assert seq.check(restarted) is Seen.RESTARTED
    seq.accept(restarted)
    assert seq.last_trade_id("BTCUSDT") == 1
    assert seq.check(Trade("BTCUSDT", D("100"), D("1"), 2_000_001, False, 2)) is Seen.FRESH
    assert seq.check(restarted) is Seen.DUPLICATE  # and a repeat of the new numbering is one
    book = BookTop("BTCUSDT", D(1), D(1), D(2), D(1), 100, 7_000_000)
    seq.accept(book)
    again = BookTop("BTCUSDT", D(1), D(1), D(2), D(1), 200_000, 3)
    assert seq.check(again) is Seen.RESTARTED
    seq.accept(again)
    assert seq.check(BookTop("BTCUSDT", D(1), D(1), D(2), D(1), 200_001, 4)) is Seen.FRESH


@given(
    st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=80),
    st.integers(min_value=0, max_value=RESTART_MS),
)
def test_a_repeat_stays_a_repeat_even_stamped_a_little_later(ids: list[int], late: int) -> None:
    """A repeat carries the time of its first delivery (here a trade's time is ten times its id);
    even one a socket stamped up to the restart margin later is dropped, never taken for a restart."""
    seq = Sequencer()
    taken: list[int] = []
    for i in ids:
        verdict = seq.check(trade(i))
        assert verdict is not Seen.RESTARTED
        if verdict is not Seen.DUPLICATE:
            seq.accept(trade(i))
            seq.accept(BookTop("BTCUSDT", D(1), D(1), D(2), D(1), i * 10, i))
            taken.append(i)
    for i in taken:
        assert seq.check(Trade("BTCUSDT", D("100"), D("1"), i * 10 + late, False, i)) is Seen.DUPLICATE
        assert seq.check(BookTop("BTCUSDT", D(1), D(1), D(2), D(1), i * 10 + late, i)) is Seen.DUPLICATE
