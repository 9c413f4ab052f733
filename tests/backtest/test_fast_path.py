"""The fast backtest path gives the event path's answer: the same fills, journal rows and summary.

Differential: every run below goes through `run_backtest` twice, `--path event` (every candle
walked price by price) and `--path fast` (quiet candles jumped, fast_path.py), and everything a
user can see must be equal: each record handed to the journal (decisions, guard verdicts,
commands, venue reports, in order), the fills, and the summary JSON byte for byte apart from the
two lines that name the path. Generated rulebooks (entries, exits, stops, take-profits, trailing
stops, timeouts, timers, the daily cap, high leverage near liquidation) over generated candles
with gaps, and every rulebook of `rules/` over the shared real files.
"""

from __future__ import annotations

import json
import random
import zipfile
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.backtest.api import backtest
from rulebot.backtest.candle_columns import ticks_away
from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.backtest.stats import compute_stats
from rulebot.backtest.summary import summary_dict
from rulebot.core.enums import Market
from rulebot.core.errors import InvalidInput
from rulebot.core.events import CandleClosed
from rulebot.engine import records as rec
from rulebot.exchange_sim import FillModel
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.testing.shared import ARCHIVE, require

RULES = Path(__file__).resolve().parents[2] / "rules"
UM = ARCHIVE / "futures" / "um"
CM = ARCHIVE / "futures" / "cm"
T0 = 1_735_689_600_000 - 3 * 3_600_000  # 2024-12-31 21:00 UTC: the runs cross a day roll
MINUTE = 60_000


def summary_text(result: BacktestResult) -> str:
    doc = summary_dict(compute_stats(result), result)
    doc.pop("path")
    doc.pop("path_reason")
    return json.dumps(doc, indent=2, default=str)


Runner = Callable[[str, Callable[[object], None]], BacktestResult]


def both(run: Runner, other: str = "fast") -> tuple[BacktestResult, BacktestResult]:
    """Run on the event path and on `other`; assert that nothing a user sees differs."""
    seen: dict[str, list[object]] = {"event": [], "fast": []}
    event = run("event", seen["event"].append)
    fast = run(other, seen["fast"].append)
    assert event.path == "event"
    records_e, records_f = seen["event"], seen["fast"]
    for i, (a, b) in enumerate(zip(records_e, records_f, strict=False)):
        assert a == b, f"journal record {i} differs:\nevent: {a!r}\nfast:  {b!r}"
    assert len(records_e) == len(records_f)
    assert fast.fills == event.fills
    assert fast.equity_curve == event.equity_curve
    assert summary_text(fast) == summary_text(event)
    return event, fast


# ---------------------------------------------------------------- the shared real files


def shared_run(rulebook: str, *data: Path, fill_model: FillModel = FillModel()) -> Runner:
    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        config = BacktestConfig(path=path, fill_model=fill_model)
        result, _, _ = backtest(str(RULES / rulebook), [str(require(d)) for d in data], config=config, on_record=record)
        return result

    return run


def book_run(book: object, data: list[CandleClosed], seen: list[object]) -> Runner:
    """A `Runner` of a compiled rulebook on `data` with the built-in USD-M catalog; the event path's
    journal records are also kept in `seen`, for a test to read after `both`."""
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        def journal(r: object) -> None:
            if path == "event":
                seen.append(r)
            record(r)

        config = BacktestConfig(path=path)
        return run_backtest(book, iter(data), instruments, brackets, config, on_record=journal)  # type: ignore[arg-type]

    return run


@pytest.mark.parametrize(
    ("rulebook", "data"),
    [
        ("ema-trend-btc.yaml", (UM / "daily/klines/BTCUSDT/1m", UM / "monthly/fundingRate/BTCUSDT")),
        ("volatility-breakout-btc.yaml", (UM / "daily/klines/BTCUSDT/1m",)),
        ("rsi-reversion-eth.yaml", (UM / "daily/klines/ETHUSDT/1m",)),
        ("ema-trend-btc.yaml", (UM / "monthly/klines/BTCUSDT/4h",)),
    ],
    ids=["ema-trend-1m", "volatility-breakout-1m", "rsi-reversion-1m", "ema-trend-4h-5y"],
)
def test_every_ready_rulebook_gives_the_same_backtest_on_the_fast_path(rulebook: str, data: tuple[Path, ...]) -> None:
    _event, fast = both(shared_run(rulebook, *data))
    assert fast.path == "fast", fast.path_reason  # the comparison means something: candles were jumped
    assert "candles jumped" in fast.path_reason


def test_a_coin_m_rulebook_takes_the_event_path_and_says_why() -> None:
    _event, fast = both(shared_run("funding-aware-btc-coinm.yaml", CM / "daily/klines/BTCUSD_PERP/1m"), "auto")
    assert fast.path == "event"
    assert "inverse" in fast.path_reason


def test_trades_without_candles_fold_their_quiet_trades_instead() -> None:
    data = (UM / "daily/trades/BTCUSDT", UM / "daily/bookTicker/BTCUSDT")
    _event, fast = both(shared_run("ema-trend-btc.yaml", *data), "auto")
    assert fast.path == "fast"
    assert "trades folded" in fast.path_reason  # trades take the fast path of their own (fast_trades.py)


def test_forcing_the_fast_path_on_a_rulebook_it_cannot_run_is_refused() -> None:
    with pytest.raises(InvalidInput, match="inverse"):
        shared_run("funding-aware-btc-coinm.yaml", CM / "daily/klines/BTCUSD_PERP/1m")("fast", lambda _: None)


# ---------------------------------------------------------------- generated rulebooks and candles


def candles(seed: int, n: int, vol: float, jump: float) -> list[CandleClosed]:
    """A random walk of BTCUSDT 1m candles, with rare gaps of up to `jump` (a share of the price)."""
    rng = random.Random(seed)
    price = 60_000.0
    out = []
    for i in range(n):
        t = T0 + i * MINUTE
        o = price
        if rng.random() < 0.01:
            o = price * (1 + rng.uniform(-jump, jump))  # a gap from the last close
        c = max(100.0, o * (1 + rng.gauss(0, vol)))
        h = max(o, c) * (1 + abs(rng.gauss(0, vol / 2)))
        lo = min(o, c) * (1 - abs(rng.gauss(0, vol / 2)))
        q = D(f"{rng.uniform(1, 50):.3f}")
        out.append(
            CandleClosed(
                "BTCUSDT",
                "1m",
                t,
                t + MINUTE - 1,
                D(f"{o:.1f}"),
                D(f"{h:.1f}"),
                D(f"{lo:.1f}"),
                D(f"{c:.1f}"),
                q,
                q * D(f"{c:.1f}"),
                10,
                q / 2,
            )
        )
        price = c
    return out


# Conditions of the generated `watch` rule: the account alone, the market then the account (which
# short-circuits), the account then the market.
WATCHED = [
    "upnl < 0",
    "equity > 0",
    "fast > slow and upnl > 0",
    "position.size > 0 and close@1m > fast",
    "roe < -0.001 or crossover(fast, slow)",
]

ENTRY = {
    "market": "{side: %(side)s, size: '%(size)s%%'}",
    "limit": "{side: %(side)s, size: '%(size)s%%', order: limit, price: '%(price)s', expire: %(expire)sm}",
}


@st.composite
def rulebooks(draw: st.DrawFn) -> str:
    fast_n = draw(st.integers(2, 8))
    slow_n = fast_n + draw(st.integers(1, 12))
    leverage = draw(st.integers(1, 10))
    size = draw(st.sampled_from([5, 20, 50, 90]))
    order = draw(st.sampled_from(["market", "limit"]))
    protect: list[str] = []
    if draw(st.booleans()):
        protect.append(f"{{stop_loss: {{distance: {draw(st.sampled_from(['0.2%', '0.5%', '2%']))}}}}}")
    if draw(st.booleans()):
        protect.append(f"{{take_profit: {{distance: {draw(st.sampled_from(['0.3%', '1%']))}}}}}")
    if draw(st.booleans()):
        activation = draw(st.sampled_from(["", ", activation: 'entry_price * 1.002'"]))
        working = draw(st.sampled_from(["", ", working_type: contract_price"]))
        protect.append(f"{{trailing_stop: {{callback: {draw(st.sampled_from(['0.3%', '1%']))}{activation}{working}}}}}")
    exit_trigger = draw(st.sampled_from(["candle_close 1m", "trade", "mark_price"]))
    timeout = draw(st.sampled_from(["", ", timeout: 7m, then: flat"]))
    cap = draw(st.sampled_from(["1%", "3%", "5%"]))
    margin_ratio = draw(st.sampled_from(["20%", "50%", "80%"]))
    timer = draw(st.sampled_from(["", "every 5m", 'cron "30 * * * *"']))

    def entry(side: str, below: bool) -> str:
        price = f"close@1m * {'0.999' if below else '1.001'}"
        return ENTRY[order] % {"side": side, "size": size, "price": price, "expire": draw(st.integers(1, 5))}

    # An exit either goes flat or reverses in the same rule (stop-and-reverse: the entry waits
    # for the exit's fill, and leaves its retry time behind, engine/quiet_walk.py).
    def out(side: str) -> str:
        if not reverse:
            return "[exit, {cancel: all}, {goto: flat}]"
        other = "short" if side == "long" else "long"
        then = ", ".join([*protect, f"{{goto: {other}}}"])
        return f"[exit, {{cancel: all}}, {{enter: {entry(other, other == 'long')}}}, {then}]"

    reverse = draw(st.booleans())

    extra = (
        f"""
  - name: tick
    on: {timer}
    do: [{{log: "equity {{equity}}"}}]"""
        if timer
        else ""
    )
    # A rule on a tick of candle-only data (the close), in one state only, reading the account:
    # the engine runs no rule where none has the trigger, and the fast path skips the checks it
    # showed at the close (engine/dispatch.py, engine/quiet_walk.py); here a wrong skip shows.
    watch = draw(st.sampled_from(["", "trade", "mark_price", "candle_close 1m"]))
    if watch:
        state = draw(st.sampled_from(["flat", "armed", "long", "short"]))
        when = draw(st.sampled_from(WATCHED))
        extra += f"""
  - name: watch
    on: {watch}
    in: {state}
    when: {when}
    do: [{{log: "watched {{equity}} {{upnl}}"}}]"""
    return f"""
rulebook: generated
market: usdm
symbols: [BTCUSDT]
account: {{margin: isolated, leverage: {leverage}}}
timeframes: [1m]
indicators:
  fast: ema(close@1m, {fast_n})
  slow: ema(close@1m, {slow_n})
states:
  flat: {{position: none}}
  armed: {{position: none{timeout or ", timeout: 3m, then: flat"}}}
  long: {{position: long}}
  short: {{position: short}}
rules:
  - name: arm
    on: candle_close 1m
    in: flat
    when: crossover(fast, slow) or crossunder(fast, slow)
    do: [{{goto: armed}}]
  - name: go-long
    on: candle_close 1m
    in: armed
    when: fast > slow
    priority: 1
    do: [{{enter: {entry("long", True)}}}, {", ".join([*protect, "{goto: long}"])}]
  - name: go-short
    on: candle_close 1m
    in: armed
    when: fast < slow
    do: [{{enter: {entry("short", False)}}}, {", ".join([*protect, "{goto: short}"])}]
  - name: out-long
    on: {exit_trigger}
    in: long
    when: crossunder(fast, slow)
    do: {out("long")}
  - name: out-short
    on: {exit_trigger}
    in: short
    when: crossover(fast, slow)
    do: {out("short")}{extra}
risk:
  max_leverage: 10
  daily_loss_cap: {cap}
  max_margin_ratio: {margin_ratio}
  min_liquidation_distance: 1%
"""


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=rulebooks(),
    seed=st.integers(0, 10_000),
    n=st.integers(60, 600),
    vol=st.sampled_from([0.0005, 0.002, 0.01]),
    jump=st.sampled_from([0.0, 0.05, 0.3]),
)
def test_generated_rulebooks_on_generated_candles_give_the_same_backtest(
    text: str, seed: int, n: int, vol: float, jump: float
) -> None:
    book = compile_text(text, "generated.yaml")
    data = candles(seed, n, vol, jump)
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        config = BacktestConfig(path=path, record_all_decisions=seed % 3 == 0)
        return run_backtest(book, iter(data), instruments, brackets, config, on_record=record)

    both(run)


# A rule in every state (no `in:`) on each trigger, never true and with nothing to do: with it no
# trigger ever has "no rule of this state" and a close is always dispatched as a trade and a mark.
NEVER_SKIPPED = """
  - name: zz-never-{n}
    on: {trigger}
    when: close@1m < 0
    do: [{{log: "never"}}]"""


def without_version(records: list[object]) -> list[object]:
    """The journal records, decisions without the rulebook hash (two rulebooks are compared)."""
    return [replace(r, version="") if isinstance(r, rec.Decision) else r for r in records]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=rulebooks(),
    seed=st.integers(0, 10_000),
    n=st.integers(60, 400),
    vol=st.sampled_from([0.0005, 0.002, 0.01]),
)
def test_rules_that_cannot_run_are_skipped_without_changing_the_backtest(
    text: str, seed: int, n: int, vol: float
) -> None:
    """The rulebook on the fast path, which skips what cannot act, against the same rulebook with
    a never-firing rule on every trigger in every state on the event path, which skips nothing:
    the same journal (rulebook hash aside), fills and equity."""
    padded = text.rstrip().replace(
        "\nrisk:",
        "".join(NEVER_SKIPPED.format(n=i, trigger=t) for i, t in enumerate(["candle_close 1m", "trade", "mark_price"]))
        + "\nrisk:",
    )
    data = candles(seed, n, vol, 0.05)
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    seen: dict[str, list[object]] = {"lean": [], "full": []}
    lean = run_backtest(
        compile_text(text, "lean.yaml"),
        iter(data),
        instruments,
        brackets,
        BacktestConfig(path="fast"),
        on_record=seen["lean"].append,
    )
    full = run_backtest(
        compile_text(padded, "full.yaml"),
        iter(data),
        instruments,
        brackets,
        BacktestConfig(path="event"),
        on_record=seen["full"].append,
    )
    assert padded.count("zz-never-") == 3
    assert without_version(seen["lean"]) == without_version(seen["full"])
    assert lean.fills == full.fills
    assert lean.equity_curve == full.equity_curve


def test_a_generated_case_jumps_candles_and_still_trades() -> None:
    """The generated comparison is not vacuous: the fast path jumps most candles while trading."""
    book = compile_text(FIXED, "fixed.yaml")
    data = candles(3, 600, 0.002, 0.05)
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run_backtest(book, iter(data), instruments, brackets, BacktestConfig(path=path), on_record=record)

    event, fast = both(run)
    assert len(event.fills) >= 10
    assert fast.path == "fast"
    jumped = int(fast.path_reason.split(" of ")[0].replace(",", ""))
    assert jumped > 300


FIXED = """
rulebook: fixed
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 5}
timeframes: [1m]
indicators:
  fast: ema(close@1m, 5)
  slow: ema(close@1m, 13)
rules:
  - name: go-long
    on: candle_close 1m
    in: flat
    when: crossover(fast, slow)
    do:
      - enter: {side: long, size: '20%'}
      - trailing_stop: {callback: 0.5%}
      - stop_loss: {distance: 1%}
      - goto: long
  - name: out-long
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {cancel: all}, {goto: flat}]
"""


def test_a_stop_and_reverse_leaves_no_candle_to_walk_behind() -> None:
    """Each reversal leaves the retry time of its exit behind after the exit filled; reaching it
    only clears it (engine/quiet_walk.py), so the candle after each trade is jumped too."""
    book = compile_text(REVERSING, "reversing.yaml")
    data = candles(5, 1500, 0.002, 0.0)
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run_backtest(book, iter(data), instruments, brackets, BacktestConfig(path=path), on_record=record)

    event, fast = both(run)
    reversals = sum(1 for f in event.fills if f.purpose == "exit")
    assert reversals >= 20
    walked = int(fast.path_reason.split(", ")[1].split(" walked")[0].replace(",", ""))
    assert walked < reversals // 4, fast.path_reason


def test_the_summary_says_why_candles_were_walked() -> None:
    """Without a stop of its own each entry gets the protective-stop guard's stop a few seconds
    later, inside the next candle: that candle is walked, and the summary says so."""
    book = compile_text(REVERSING.replace(", {stop_loss: {distance: 5%}}", ""), "unprotected.yaml")
    data = candles(5, 1500, 0.002, 0.0)  # 25 hours from 21:00: one day roll
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        return run_backtest(book, iter(data), instruments, brackets, BacktestConfig(path=path), on_record=record)

    event, fast = both(run)
    entries = sum(1 for f in event.fills if f.purpose == "entry")
    reasons = dict(
        reversed(part.split(": ", 1))
        for part in fast.path_reason.split(". ")[0].split(" walked price by price (")[1].rstrip(")").split("; ")
    )
    assert int(reasons["the protective-stop deadline fell inside"].replace(",", "")) >= entries - 1 >= 20
    assert reasons["the day roll fell inside"] == "1"
    walked = int(fast.path_reason.split(", ")[1].split(" walked")[0].replace(",", ""))
    assert sum(int(n.replace(",", "")) for n in reasons.values()) == walked


REVERSING = """
rulebook: reversing
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 5}
timeframes: [1m]
indicators:
  fast: ema(close@1m, 5)
  slow: ema(close@1m, 13)
rules:
  - name: start-long
    on: candle_close 1m
    in: flat
    when: fast > slow
    priority: 1
    do: [{enter: {side: long, size: 0.01}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: start-short
    on: candle_close 1m
    in: flat
    when: fast < slow
    do: [{enter: {side: short, size: 0.01}}, {stop_loss: {distance: 5%}}, {goto: short}]
  - name: reverse-to-short
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {enter: {side: short, size: 0.01}}, {stop_loss: {distance: 5%}}, {goto: short}]
  - name: reverse-to-long
    on: candle_close 1m
    in: short
    when: crossover(fast, slow)
    do: [exit, {enter: {side: long, size: 0.01}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""


def test_a_condition_on_the_book_klines_stand_in_for_reads_whole_ticks_on_both_paths(tmp_path: Path) -> None:
    """`ask == high@1m or bid == low@1m` holds where the close is one tick from the high or the low:
    458 of 2025-06-08's 1,440 BTCUSDT candles. The ask was close + 0.1 in floats (105507.70000000001),
    so the engine saw 314, and the array screen must compute the very same floats to jump candles."""
    book = tmp_path / "book.yaml"
    book.write_text(
        "rulebook: book\nmarket: usdm\nsymbols: [BTCUSDT]\ntimeframes: [1m]\n"
        "rules:\n  - name: top\n    on: candle_close 1m\n    when: ask == high@1m or bid == low@1m\n"
        "    do: [{log: x}]\n"
    )
    day = require(UM / "daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-08.zip")
    with zipfile.ZipFile(day) as z:
        rows = [line.split(",") for line in z.read(z.namelist()[0]).decode().splitlines() if line[0].isdigit()]
    tick = D("0.1")
    expected = sum(1 for r in rows if D(r[4]) + tick == D(r[2]) or D(r[4]) - tick == D(r[3]))

    def run(path: str, record: Callable[[object], None]) -> BacktestResult:
        result, _, _ = backtest(str(book), [str(day)], config=BacktestConfig(path=path), on_record=record)
        return result

    event, fast = both(run)
    assert expected > 100 and event.decisions == expected
    assert "jumped in whole runs" in fast.path_reason


@settings(max_examples=200, deadline=None)
@given(
    grid=st.lists(st.integers(0, 10**12), min_size=1, max_size=20),
    tick=st.sampled_from(["0.1", "0.01", "0.0001", "0.00000001", "0.5", "0.25", "1", "10"]),
    sign=st.sampled_from([-1, 1]),
    off_grid=st.booleans(),
)
def test_the_screens_book_column_is_the_engines_float_of_the_exact_price(
    grid: list[int], tick: str, sign: int, off_grid: bool
) -> None:
    t = D(tick)
    closes = [n * t + (D("0.000000000123") if off_grid else 0) for n in grid]
    got = ticks_away(np.array([float(c) for c in closes]), t, sign)
    assert got.tolist() == [float(D(repr(float(c))) + sign * t) for c in closes]
