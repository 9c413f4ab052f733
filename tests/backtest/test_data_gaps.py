"""Holes in the candle data are said in the summary: rules and indicators run across them as if
the candles on either side were adjacent."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rulebot.backtest.api import backtest
from rulebot.backtest.data_gaps import GapWatch
from rulebot.backtest.summary_warmup import warmup_rows
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60_000
UM = ARCHIVE / "futures/um/daily/klines"


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=60))
def test_every_jump_past_the_next_candle_is_one_gap_and_the_longest_is_named(steps: list[int]) -> None:
    watch, open_time = GapWatch(), 0
    watch.see("BTCUSDT", "1m", open_time, open_time + MINUTE - 1)
    for step in steps:
        open_time += step * MINUTE
        watch.see("BTCUSDT", "1m", open_time, open_time + MINUTE - 1)
    (gap,) = watch.report() or (None,)
    missing = [s - 1 for s in steps if s > 1]
    if not missing:
        assert gap is None
        return
    assert gap is not None and gap.series == "BTCUSDT 1m" and gap.count == len(missing)
    assert gap.longest_ms == max(missing) * MINUTE


def test_each_series_is_watched_on_its_own() -> None:
    watch = GapWatch()
    for t in (0, MINUTE, 2 * MINUTE):  # 1m, no gap
        watch.see("BTCUSDT", "1m", t, t + MINUTE - 1)
    watch.see("BTCUSDT", "1h", 0, 3_600_000 - 1)
    watch.see("BTCUSDT", "1h", 3_600_000, 2 * 3_600_000 - 1)
    watch.see("ETHUSDT", "1m", 0, MINUTE - 1)
    watch.see("ETHUSDT", "1m", 5 * MINUTE, 6 * MINUTE - 1)
    assert [(g.series, g.count, g.longest_ms, g.longest_from) for g in watch.report()] == [
        ("ETHUSDT 1m", 1, 4 * MINUTE, MINUTE)
    ]


def test_a_missing_day_in_real_data_is_a_warning_and_complete_data_has_none() -> None:
    # ETHUSDT's 1m files skip 2025-06-12 (held back from shared/data): a day the rules never saw.
    book = str(ROOT / "rules/rsi-reversion-eth.yaml")
    result, _, _ = backtest(book, [str(UM / "ETHUSDT/1m")])
    gaps = [w for w in result.warnings if "gap" in w]
    assert len(gaps) == 1, result.warnings
    assert gaps[0].startswith("ETHUSDT 1m candles: 1 gap") and "1d" in gaps[0] and "2025-06-12 00:00" in gaps[0]
    result, _, _ = backtest(str(ROOT / "rules/ema-trend-btc.yaml"), [str(UM / "BTCUSDT/1m")])
    assert not [w for w in result.warnings if "gap" in w]


def test_a_pause_in_trades_longer_than_an_hour_is_a_gap_and_a_shorter_one_is_not() -> None:
    watch = GapWatch()
    hour = 3_600_000
    for t in (0, 10_000, hour, hour + 1):  # one pause of exactly an hour less 10 s: not a gap
        watch.trade("BTCUSDT", t)
    assert watch.report() == ()
    watch.trade("BTCUSDT", 3 * hour)  # two hours without a trade
    watch.trade("ETHUSDT", 0)
    (gap,) = watch.report()
    assert (gap.series, gap.count, gap.longest_ms, gap.longest_from) == ("BTCUSDT trades", 1, 2 * hour - 2, hour + 2)


def test_trade_files_months_apart_warn_of_the_hole_a_position_was_carried_across() -> None:
    # Minutes of trades from 2023-04-05 and from 2024-07/08: a long held over the 15 months
    # between them made +3,790 USDT in one "trade", and only the funding line hinted at it.
    book = str(ROOT / "rules/ema-trend-btc.yaml")
    result, _, _ = backtest(book, [str(UM.parent / "trades/BTCUSDT")])
    gaps = [w for w in result.warnings if "BTCUSDT trades" in w]
    assert len(gaps) == 1 and "2023-04-05 00:06" in gaps[0] and "pause" in gaps[0], result.warnings


def test_a_missing_day_in_the_warm_up_before_from_is_a_warning_and_not_counted_as_data() -> None:
    # --from 2025-06-13 warms the indicators on the days before it, and ETHUSDT's 2025-06-12 is
    # missing: the summary said "warmed on 5d of data" and warned of nothing, while the 1h EMA
    # had been fed 2025-06-11's candles as if they were 2025-06-12's.
    book = str(ROOT / "rules/rsi-reversion-eth.yaml")
    result, _, _ = backtest(book, [str(UM / "ETHUSDT/1m")], start="2025-06-13")
    gaps = [w for w in result.warnings if "gap" in w]
    assert len(gaps) == 1, result.warnings
    assert gaps[0].startswith("ETHUSDT 1m candles: 1 gap") and "2025-06-12 00:00" in gaps[0]
    assert result.warmup is not None and result.warmup.missing_ms == 86_400_000
    rows = dict(warmup_rows(None, result))  # type: ignore[arg-type]  # the stats are not read
    assert rows["warm-up"].startswith("warmed on 4d of data before the start"), rows
    assert "1d of it missing" in rows["warm-up"]


def test_a_warm_up_without_holes_says_nothing_is_missing() -> None:
    book = str(ROOT / "rules/rsi-reversion-eth.yaml")
    result, _, _ = backtest(book, [str(UM / "ETHUSDT/1m")], start="2025-06-11")
    assert result.warmup is not None and result.warmup.missing_ms == 0
    assert "missing" not in dict(warmup_rows(None, result))["warm-up"]  # type: ignore[arg-type]
