"""Warm-up: indicators learn on the data before `--from`, and every need is stated and checked.

The history a need states (rulebook/history.py) is exact: an indicator turns ready on the very
candle it says. A backtest from `--from` starts with the indicator values the same data gives
a run that started earlier, trades and counts nothing before `--from`, and says loudly when
an indicator can never warm up in the data.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.backtest.api import backtest
from rulebot.backtest.runner import BacktestConfig
from rulebot.backtest.warmup import CONVERGE, lead_ms, read_from
from rulebot.cli import main
from rulebot.core.events import CandleClosed
from rulebot.engine.market import SymbolMarket
from rulebot.engine.records import Decision
from rulebot.feeds.replay import to_ms
from rulebot.rulebook.compiler import compile_file, compile_text
from rulebot.rulebook.history import duration_text, history_needs
from rulebot.testing.shared import ARCHIVE, require

RULES = Path(__file__).resolve().parents[2] / "rules"
BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"
DAY_14, DAY_15 = (require(BTC_1M / f"BTCUSDT-1m-2025-06-{d}.zip") for d in (14, 15))
MINUTE = 60_000
T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def test_the_shipped_trend_rulebook_needs_13h45m_for_its_slow_ema_and_a_lookback_one_candle_more():
    needs = {n.name: n for n in history_needs(compile_file(str(RULES / "ema-trend-btc.yaml")))}
    slow = needs["ema_slow"]
    assert (slow.candles, slow.timeframe, duration_text(slow.ms)) == (55, "15m", "13h 45m")
    assert slow.rules == ("arm-long", "exit-on-cross")
    assert needs["vol"].candles == 31  # 30 returns need 31 closes
    assert needs["vol_base"].candles == 31 + 240 - 1  # an sma of 240 values of vol
    breakout = {n.name: n for n in history_needs(compile_file(str(RULES / "volatility-breakout-btc.yaml")))}
    assert (breakout["range_high"].candles, breakout["range_high[1]"].candles) == (24, 25)
    assert breakout["range_high[1]"].rules == ("breakout-long",)


INDICATORS = st.sampled_from(
    [
        "ema(close@{tf}, {n})",
        "sma(close@{tf}, {n})",
        "rsi(close@{tf}, {n})",
        "stdev(returns@{tf}, {n})",
        "highest(high@{tf}, {n})",
        "atr({tf}, {n})",
        "roc(close@{tf}, {n})",
        "macd(close@{tf}, {n}, {m}, 3)",
        "bbands(close@{tf}, {n}, 2)",
    ]
)


@settings(max_examples=40, deadline=None)
@given(
    template=INDICATORS,
    tf=st.sampled_from(["1m", "5m"]),
    n=st.integers(2, 12),
    extra=st.integers(2, 6),
    chain=st.integers(0, 5),
    back=st.integers(0, 3),
)
def test_every_stated_need_is_the_exact_candle_its_indicator_turns_ready(template, tf, n, extra, chain, back):
    definition = template.format(tf=tf, n=n, m=n + extra)
    first = "x.line" if definition.startswith("macd") else "x.mid" if definition.startswith("bbands") else "x"
    chained = f"\n  y: sma({first}, {chain})" if chain >= 2 else ""
    read = "y" if chained else first
    when = f"{read}[{back}] > -1" if back else f"{read} > -1"
    book = compile_text(
        f"rulebook: t\nmarket: usdm\nsymbols: [BTCUSDT]\ntimeframes: [1m, 5m]\n"
        f"indicators:\n  x: {definition}{chained}\n"
        f'rules:\n  - name: r\n    on: candle_close 1m\n    when: "{when}"\n    do: [{{log: x}}]\n'
    )
    needs = {h.name: h for h in history_needs(book)}
    market = SymbolMarket("BTCUSDT", book, Decimal("0.1"))
    keys = {"x": first, "y": "y", f"{read}[{back}]": f"{read}[{back}]"}
    became: dict[str, int] = {}
    step = 5 if tf == "5m" else 1
    for i in range(400):
        price = Decimal(60_000 + 50 * math.sin(i / 3) + i)
        market.on_candle(
            CandleClosed(
                "BTCUSDT",
                "1m",
                T0 + i * MINUTE,
                T0 + (i + 1) * MINUTE - 1,
                price,
                price + 5,
                price - 5,
                price,
                Decimal(1),
                Decimal(0),
                0,
                Decimal(0),
            )
        )
        for name, key in keys.items():
            if name in needs and name not in became and key not in market.not_ready:
                became[name] = (i + 1) // step  # closed candles of the indicator's timeframe so far
    for name, need in needs.items():
        assert became.get(name) == need.candles, (definition, name, need, became)


def _run(*files, start=None, end=None):
    result, _, _ = backtest(str(RULES / "ema-trend-btc.yaml"), [str(f) for f in files], start=start, end=end)
    return result


def test_from_inside_the_data_starts_with_the_indicators_a_run_from_the_beginning_has():
    # One day before --from is less than the warm-up reads (3 x 13h45m), so the warm-up sees all
    # the history the full run saw: the indicator values from --from on must be the same floats.
    assert lead_ms(compile_file(str(RULES / "ema-trend-btc.yaml"))) == CONVERGE * 55 * 15 * MINUTE + 15 * MINUTE
    full = _run(DAY_14, DAY_15)
    late = _run(DAY_14, DAY_15, start="2025-06-15")
    start = to_ms("2025-06-15")
    assert start <= late.start_time < start + MINUTE
    assert late.warmup is not None and late.warmup.warm_events == 1440
    assert all(o.ready_at is not None and o.ready_at <= late.warmup.trade_from for o in late.warmup.outcomes)
    times = [p.time for p in full.symbol_curves["BTCUSDT"]]
    offset = times.index(late.symbol_curves["BTCUSDT"][0].time)
    for name, values in late.indicator_values["BTCUSDT"].items():
        mine = list(values)
        theirs = list(full.indicator_values["BTCUSDT"][name])[offset : offset + len(mine)]
        assert len(mine) > 1000 and not any(math.isnan(v) for v in mine), name
        assert mine == theirs, name
    # Nothing is traded or counted before --from: the events are the day's, the fills after it.
    assert late.events == 1440
    assert all(f.time >= start for f in late.fills)
    assert not [w for w in late.warnings if "never warmed up" in w]


def test_without_history_before_from_the_indicators_warm_inside_the_run_and_the_summary_says_when():
    result = _run(DAY_15, start="2025-06-15")
    assert result.warmup is not None and result.warmup.warm_events == 0
    slow = next(o for o in result.warmup.outcomes if o.need.name == "ema_slow")
    assert slow.ready_at is not None
    assert slow.ready_at - result.start_time == 55 * 15 * MINUTE - MINUTE  # the 55th 15m close, 1m bars


def test_an_indicator_that_can_never_warm_up_is_a_loud_warning_in_the_table_and_the_json():
    runner = CliRunner()
    args = ["backtest", str(RULES / "ema-trend-btc.yaml"), "--data", str(DAY_14)]
    window = ["--from", "2025-06-14", "--to", "2025-06-14T06:00"]
    out = runner.invoke(main, [*args, *window, "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    slow = next(n for n in doc["warmup"]["needs"] if n["name"] == "ema_slow")
    assert (slow["candles"], slow["ms"], slow["ready_at"], slow["ready_at_start"]) == (55, 49_500_000, None, False)
    fast = next(n for n in doc["warmup"]["needs"] if n["name"] == "ema_fast")
    assert fast["ready_at"] is not None and not fast["ready_at_start"]
    (warning,) = [w for w in doc["warnings"] if "ema_slow" in w]
    assert "13h 45m" in warning and "0 trades are possible" in warning and "arm-long" in warning
    text = runner.invoke(main, [*args, *window], env={"COLUMNS": "300"})
    assert "NEVER READY" in text.stdout and "ema_slow never warmed up" in text.stdout


def test_a_backtest_config_without_from_trades_from_the_first_event():
    assert BacktestConfig().trade_from is None
    result = _run(DAY_15)
    assert result.warmup is not None and result.warmup.warm_events == 0
    assert result.start_time == result.warmup.trade_from


def test_klines_longer_than_a_timeframe_are_named_as_the_cause_not_too_little_data():
    # Three months of 4h bars are far more history than 13h 45m: what stops the 15m EMAs is that a
    # 15m candle cannot be made from 4h ones. "Give more data" would send the user after more 4h files.
    months = [require(ARCHIVE / f"futures/um/monthly/klines/BTCUSDT/4h/BTCUSDT-4h-2024-0{m}.zip") for m in (1, 2, 3)]
    result = _run(*months)
    warnings = [w for w in result.warnings if "never warmed up" in w]
    assert len(warnings) == 5  # ema_fast, ema_slow, atr (15m), vol, vol_base (1m)
    slow = next(w for w in warnings if w.startswith("ema_slow"))
    assert "no 15m candle of BTCUSDT could be made" in slow and "its klines are 4h" in slow
    assert "Give more data" not in slow and "(arm-long, exit-on-cross) could never fire on BTCUSDT" in slow
    # Enough 1m bars for the 1m needs and not for the 15m ones: that is too little data, said as before.
    short = _run(DAY_14, start="2025-06-14", end="2025-06-14T06:00")
    (slow,) = [w for w in short.warnings if w.startswith("ema_slow never warmed up")]
    assert "Give more data" in slow and "could be made" not in slow


def test_a_symbol_without_data_is_named_alone_as_the_one_whose_rules_could_not_fire(tmp_path):
    # BTCUSDT warmed and traded; only ETHUSDT had nothing: "0 trades are possible" would be false.
    book = tmp_path / "two.yaml"
    book.write_text(
        (RULES / "ema-trend-btc.yaml").read_text().replace("symbols: [BTCUSDT]", "symbols: [BTCUSDT, ETHUSDT]")
    )
    result, _, _ = backtest(str(book), [str(DAY_14)])
    (slow,) = [w for w in result.warnings if w.startswith("ema_slow never warmed up")]
    assert "no 15m candle of ETHUSDT could be made: the data has no trades or klines of it" in slow
    assert "could never fire on ETHUSDT" in slow and "BTCUSDT" not in slow and "0 trades" not in slow


def test_symbols_whose_data_start_apart_are_each_ready_on_their_own_time(tmp_path):
    """Tried as a user: BTCUSDT's data began a day before ETHUSDT's, and the summary said the rules
    "could not fire before" ETHUSDT's ready time, above trades BTCUSDT made on the first day."""
    book = tmp_path / "two.yaml"
    book.write_text(
        "rulebook: two\nmarket: usdm\nsymbols: [BTCUSDT, ETHUSDT]\ntimeframes: [1m]\n"
        "indicators:\n  fast: ema(close@1m, 9)\n"
        "rules:\n  - name: buy\n    on: candle_close 1m\n    in: flat\n    when: close@1m > fast\n"
        "    do: [{enter: {side: long, size: 1%}}, {stop_loss: {distance: 1%}}, {goto: long}]\n"
        "  - name: sell\n    on: candle_close 1m\n    in: long\n    when: close@1m < fast\n"
        "    do: [exit, {goto: flat}]\n"
    )
    eth_15 = require(ARCHIVE / "futures/um/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2025-06-15.zip")
    result, _, _ = backtest(str(book), [str(DAY_14), str(DAY_15), str(eth_15)])
    assert result.warmup is not None
    (fast,) = result.warmup.outcomes
    ready = dict(fast.by_symbol)
    assert ready["ETHUSDT"] - ready["BTCUSDT"] == 24 * 60 * MINUTE
    assert fast.ready_at == ready["ETHUSDT"]
    assert any(f.symbol == "BTCUSDT" and f.time < ready["ETHUSDT"] for f in result.fills)
    table = CliRunner().invoke(
        main,
        [
            "backtest",
            str(book),
            "--data",
            str(DAY_14),
            "--data",
            str(DAY_15),
            "--data",
            str(eth_15),
            "--format",
            "json",
        ],
    )
    need = json.loads(table.output)["warmup"]["needs"][0]
    assert need["ready_at_by_symbol"] == ready
    text = (
        CliRunner()
        .invoke(
            main,
            ["backtest", str(book), "--data", str(DAY_14), "--data", str(DAY_15), "--data", str(eth_15)],
            terminal_width=400,
        )
        .output
    )
    assert "ready on BTCUSDT 2025-06-14 00:08, ETHUSDT 2025-06-15 00:08" in " ".join(text.split())


def test_a_session_vwap_from_inside_a_day_warms_from_that_days_midnight(tmp_path):
    """Tried as a user: with `--from 2025-06-15T12:00`, `vwap(1m)` (the VWAP since 00:00 UTC) was
    warmed on 4 minutes of data, so at 12:00 it read 104,909.21 where the day's VWAP was 105,403.12:
    `close@1m > vw` compared the price with the VWAP of the last few minutes, all afternoon."""
    book = tmp_path / "vwap.yaml"
    book.write_text(
        "rulebook: vw\nmarket: usdm\nsymbols: [BTCUSDT]\ntimeframes: [1m]\n"
        "indicators:\n  vw: vwap(1m)\n"
        "rules:\n  - name: look\n    on: candle_close 1m\n    when: close@1m > vw\n    do: [{log: x}]\n"
    )
    full, _, _ = backtest(str(book), [str(DAY_14), str(DAY_15)])
    late, _, _ = backtest(str(book), [str(DAY_14), str(DAY_15)], start="2025-06-15T12:00")
    times = [p.time for p in full.symbol_curves["BTCUSDT"]]
    offset = times.index(late.symbol_curves["BTCUSDT"][0].time)
    mine = list(late.indicator_values["BTCUSDT"]["vw"])
    theirs = list(full.indicator_values["BTCUSDT"]["vw"])[offset : offset + len(mine)]
    assert len(mine) > 600 and mine == theirs
    assert late.warmup is not None and late.warmup.warm_events >= 720  # from 00:00 of the 15th at least
    # The need is a day of candles: the most any start inside a day is from its midnight.
    assert {n.name: n.candles for n in history_needs(compile_file(str(book)))} == {"vw": 1440}


def test_a_crossover_on_the_first_candle_after_from_compares_with_the_warmed_candle_before(tmp_path):
    """Tried as a user: ema(5) crosses over ema(20) on BTCUSDT's 1m candle that closes at
    2025-06-14 02:17:59.999 (found in the full run's decisions). From `--from 2025-06-14T02:17` that
    candle is the first one traded, and the crossover did not fire: the warm-up warmed the
    indicators but not the previous values a crossover compares with (prev read the current
    value, so `f <= s and f > s`). On both paths, every decision from --from is the full run's."""
    book = tmp_path / "cross.yaml"
    book.write_text(
        "rulebook: cx\nmarket: usdm\nsymbols: [BTCUSDT]\ntimeframes: [1m]\n"
        "indicators:\n  f: ema(close@1m, 5)\n  s: ema(close@1m, 20)\n"
        "rules:\n  - name: up\n    on: candle_close 1m\n    when: crossover(f, s)\n    do: [{log: x}]\n"
    )

    def fired(start=None, path="auto"):
        seen: list[int] = []

        def record(r: object) -> None:
            if isinstance(r, Decision) and r.fired:
                seen.append(r.time)

        backtest(str(book), [str(DAY_14)], start=start, on_record=record, config=BacktestConfig(path=path))
        return seen

    full = fired()
    for cross in full[3:8]:
        start = cross - MINUTE + 1  # the open of the candle that crossed
        assert fired(start) == fired(start, "event") == [t for t in full if t >= start], cross


HOURLY_BARS = """\
rulebook: hourly-bars
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 1h]
rules:
  - name: bar
    on: candle_close 1h
    do: [{log: "o {open@1h} h {high@1h} l {low@1h} c {close@1h} v {volume@1h}"}]
"""


def test_a_from_inside_an_hour_closes_that_hours_candle_whole_without_any_indicator(tmp_path: Path) -> None:
    """Without an indicator nothing was read before --from: `--from 12:30` made the 12:00 1h candle of
    the second half-hour alone (open 105585.7, high 105684.1, volume 2097.3 where the hour had
    105619.2, 105725.1 and 4317.3) and fired `candle_close 1h` on it as if it were the hour."""
    book = tmp_path / "bars.yaml"
    book.write_text(HOURLY_BARS)

    def bars(start: str) -> list[dict[str, float]]:
        logged: list[dict[str, float]] = []

        def keep(r: object) -> None:
            if type(r).__name__ == "Decision" and r.rule == "bar":  # type: ignore[attr-defined]
                logged.append(r.inputs)  # type: ignore[attr-defined]

        day = require(BTC_1M / "BTCUSDT-1m-2025-06-08.zip")
        backtest(str(book), [str(day)], start=start, end="2025-06-08T14:00", on_record=keep)
        return logged

    whole, cut = bars("2025-06-08T12:00"), bars("2025-06-08T12:30")
    assert len(whole) == len(cut) == 2
    assert cut == whole


WEEKLY = """
rulebook: w
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 4h, 3d, 1w]
indicators:
  e: ema(close@4h, 5)
rules:
  - name: r
    on: candle_close 4h
    when: "e > 0"
    do: [{log: x}]
"""


def test_the_data_before_from_is_read_from_a_start_of_every_timeframes_bucket():
    """`--from` minus the lead falls inside a bucket of the longest timeframes: reading from there
    would make their first candle of part of it, which is skipped (engine/candles.py), a candle of
    warm-up lost. It is read from a time every timeframe's bucket starts at."""
    hourly = compile_file(str(RULES / "volatility-breakout-btc.yaml"))
    start = to_ms("2025-06-10T10:20")
    assert (start - lead_ms(hourly)) % 3_600_000 == 20 * MINUTE  # before: 20 minutes into an hour
    assert read_from(hourly, start) == start - lead_ms(hourly) - 20 * MINUTE
    book = compile_text(WEEKLY)
    at = read_from(book, start)
    assert at <= start - lead_ms(book)
    assert at % (3 * 86_400_000) == 0 and (at - 4 * 86_400_000) % (7 * 86_400_000) == 0  # 3d, and a Monday
    assert start - lead_ms(book) - at < 21 * 86_400_000  # the nearest such time: 3d and 1w meet every 21 days
    assert read_from(book, 0) == 0


def test_a_backtest_from_inside_an_hour_warms_without_a_partial_first_hour():
    result, _, _ = backtest(
        str(RULES / "volatility-breakout-btc.yaml"), [str(DAY_14), str(DAY_15)], start="2025-06-15T10:20"
    )
    assert not [n for n in result.notes if "partial" in n]
    assert result.warmup is not None and (result.warmup.data_from + 1 - MINUTE) % 3_600_000 == 0  # a close: on the hour
