"""On trade data the fast path folds quiet trades into their candle and gives the event path's answer.

Differential, as test_fast_path.py: each run goes through `run_backtest` on `--path event` (every
trade walked) and on the default path (trades in runs, those at which nothing can act folded,
backtest/fast_trades.py), and the journal records, fills, equity curve and summary must be equal.
Generated rulebooks (stops, take-profits, trailing stops, limits, `on: trade` exits, timers, the
daily cap, high leverage) over generated aggTrades files with bursts and gaps; and the rulebooks of
`rules/` over the shared real trades and aggTrades files, USDⓈ-M and COIN-M.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.exchange_sim import FillModel
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource
from rulebot.feeds.trade_runs import TradeRun
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_fast_path import CM, UM, both, rulebooks, shared_run

IDEAL, REALISTIC = FillModel(), FillModel.realistic()  # the realistic model is what `rulebot backtest` runs
# A cap that binds on the generated trades (0.001 to 0.9 a trade, a few a second): partial fills,
# limits that rest into the next minute, market remainders that expire -- all counted from the
# minute's volume, which the folded trades make up too.
TIGHT = FillModel.realistic(participation=Decimal("0.002"), impact_bps=Decimal(30))
T0 = 1_735_689_600_000 - 2 * 3_600_000  # 2024-12-31 22:00 UTC: the runs cross a day roll
HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"


@pytest.mark.parametrize(
    ("rulebook", "data"),
    [
        ("ema-trend-btc.yaml", (UM / "daily/trades/BTCUSDT",)),
        ("ema-trend-btc.yaml", (UM / "daily/trades/BTCUSDT", UM / "daily/bookTicker/BTCUSDT")),
        ("volatility-breakout-btc.yaml", (UM / "daily/trades/BTCUSDT",)),
        ("rsi-reversion-eth.yaml", (UM / "daily/trades/ETHUSDT",)),
        ("funding-aware-btc-coinm.yaml", (CM / "daily/aggTrades/BTCUSD_PERP",)),
        ("funding-aware-btc-coinm.yaml", (CM / "daily/trades/BTCUSD_PERP",)),
    ],
    ids=["ema-trend", "ema-trend-book", "volatility-breakout", "rsi-reversion", "coinm-agg", "coinm-trades"],
)
@pytest.mark.parametrize("fill", [IDEAL, REALISTIC], ids=["ideal", "realistic"])
def test_every_ready_rulebook_gives_the_same_backtest_on_real_trades(
    rulebook: str, data: tuple[Path, ...], fill: FillModel
) -> None:
    _event, fast = both(shared_run(rulebook, *data, fill_model=fill), "auto")
    assert fast.path == "fast", fast.path_reason  # the comparison means something: trades were folded
    assert "trades folded" in fast.path_reason
    if "coinm" in rulebook:  # trades fold, candles do not jump: the row says both, and why
        assert "every candle walked price by price: an inverse (COIN-M) contract" in fast.path_reason


def agg_trades(folder: Path, seed: int, minutes: int, vol: float, jump: float) -> Path:
    """A random walk of BTCUSDT aggTrades, a few a second with bursts, quiet stretches and rare gaps."""
    rng = random.Random(seed)
    ticks = 600_000  # 60000.0 at a 0.1 tick
    t, agg = T0, 1
    rows = [HEADER]
    end = T0 + minutes * 60_000
    while t < end:
        t += rng.choice((0, 0, 1, 37, 180, 450, 2500)) if rng.random() > 0.002 else rng.randint(60_000, 300_000)
        if rng.random() < 0.003:
            ticks = int(ticks * (1 + rng.uniform(-jump, jump)))
        ticks = max(1000, ticks + round(rng.gauss(0, vol * ticks)))
        maker = "true" if rng.random() < 0.5 else "false"
        rows.append(
            f"{agg},{ticks // 10}.{ticks % 10},{rng.randint(1, 900) / 1000:.3f},{agg * 3},{agg * 3 + 2},{t},{maker}\n"
        )
        agg += 1
    path = folder / "BTCUSDT-aggTrades-2024-12-31.csv"
    path.write_text("".join(rows))
    return path


# A 23% jump right after a folded trade: the venue expires the daily cap's stop and liquidates there.
# The engine, told of the expiry, re-places the stop at the mark (the event path, at the folded trade's
# price) -- or did not, when the fold left it at an older walked trade's mark already past the stop.
LIQUIDATED_AFTER_A_FOLD = """
rulebook: generated
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 10}
timeframes: [1m]
indicators:
  fast: ema(close@1m, 2)
  slow: ema(close@1m, 3)
states:
  flat: {position: none}
  armed: {position: none, timeout: 3m, then: flat}
  long: {position: long}
  short: {position: short}
rules:
  - name: arm
    on: candle_close 1m
    in: flat
    when: crossover(fast, slow) or crossunder(fast, slow)
    do: [{goto: armed}]
  - name: go-long
    on: candle_close 1m
    in: armed
    when: fast > slow
    priority: 1
    do: [{enter: {side: long, size: '20%'}}, {goto: long}]
  - name: go-short
    on: candle_close 1m
    in: armed
    when: fast < slow
    do: [{enter: {side: short, size: '20%'}}, {goto: short}]
  - name: out-long
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {cancel: all}, {goto: flat}]
  - name: out-short
    on: candle_close 1m
    in: short
    when: crossover(fast, slow)
    do: [exit, {cancel: all}, {goto: flat}]
risk:
  max_leverage: 10
  daily_loss_cap: 1%
  max_margin_ratio: 20%
  min_liquidation_distance: 1%
"""


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(text=LIQUIDATED_AFTER_A_FOLD, seed=3337, minutes=40, vol=0.002, jump=0.3, fill=IDEAL)
@given(
    text=rulebooks(),
    seed=st.integers(0, 10_000),
    minutes=st.integers(20, 240),
    vol=st.sampled_from([0.00005, 0.0003, 0.002]),
    jump=st.sampled_from([0.0, 0.05, 0.3]),
    fill=st.sampled_from([IDEAL, REALISTIC, TIGHT]),
)
def test_generated_rulebooks_on_generated_trades_give_the_same_backtest(
    text: str, seed: int, minutes: int, vol: float, jump: float, fill: FillModel
) -> None:
    book = compile_text(text, "generated.yaml")
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    with tempfile.TemporaryDirectory() as tmp:
        path = agg_trades(Path(tmp), seed, minutes, vol, jump)

        def run(which: str, record: Callable[[object], None]) -> BacktestResult:
            source = ReplaySource([path])
            source.trade_runs = True  # the event path must walk the runs' every trade
            # A third of the cases warm up on their first 30 minutes (backtest/warmup.py): no fold there.
            warm = T0 + 1_800_000 + seed % 7 if seed % 3 == 1 else None
            config = BacktestConfig(path=which, record_all_decisions=seed % 3 == 0, trade_from=warm, fill_model=fill)
            return run_backtest(book, source, instruments, brackets, config, on_record=record)

        both(run, "auto")


@st.composite
def rulebooks_with_trade_rules(draw: st.DrawFn) -> str:
    """Generated rulebooks with `on: trade` rules in every state whose conditions the trade screen can
    rule out over a stretch of prices (trade_screen.py) -- or cannot, when upnl or the book come first."""
    k = draw(st.sampled_from(["1.0005", "1.002", "1.01"]))
    d = draw(st.sampled_from(["20", "150", "900"]))
    first = draw(st.sampled_from(["", "upnl > 0 and ", "bid > 0 and "]))
    act = draw(st.sampled_from(["[{reduce: {by: 50%}}]", "[exit, {cancel: all}, {goto: flat}]"]))
    rules = f"""
  - name: stretch-long
    on: trade
    in: long
    when: {first}price > close@1m * {k}
    do: {act}
  - name: sag-short
    on: trade
    in: short
    when: price < slow / {k} or abs(price - fast) > {d}
    do: {act}
  - name: watch-flat
    on: trade
    in: [flat, armed]
    when: price > max(fast, slow) * {k} * {k} and hour >= 0
    do: [{{log: "stretched {{price}}"}}]
"""
    return draw(rulebooks()).replace("\nrisk:\n", rules + "risk:\n", 1)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rulebooks_with_trade_rules(), seed=st.integers(0, 10_000), minutes=st.integers(20, 180))
def test_trade_rules_the_screen_rules_out_give_the_same_backtest(text: str, seed: int, minutes: int) -> None:
    book = compile_text(text, "generated.yaml")
    assert sum(r.trigger.key == ("trade", None) for r in book.rules) >= 3
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    with tempfile.TemporaryDirectory() as tmp:
        path = agg_trades(Path(tmp), seed, minutes, 0.0003, 0.05)

        def run(which: str, record: Callable[[object], None]) -> BacktestResult:
            source = ReplaySource([path])
            source.trade_runs = True
            return run_backtest(book, source, instruments, brackets, BacktestConfig(path=which), on_record=record)

        _event, fast = both(run, "auto")
        # Not every draw leaves a trade to fold (an `upnl` first, or prices that keep reaching a rule);
        # test_the_trade_screen_folds_trades_of_a_state_with_trade_rules shows the screen does fold.
        event("trades folded" if "trades folded" in fast.path_reason else "nothing folded")


SCREENED = """
rulebook: screened
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
    do: [{enter: {side: long, size: '20%'}}, {stop_loss: {distance: 1%}}, {goto: long}]
  - name: out-long
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {cancel: all}, {goto: flat}]
  - name: stretch-long
    on: trade
    in: long
    when: price > close@1m * 1.01
    do: [{reduce: {by: 50%}}]
  - name: watch-flat
    on: trade
    in: flat
    when: price > max(fast, slow) * 1.01 * 1.01 and hour >= 0
    do: [{log: "stretched {price}"}]
"""


def test_the_trade_screen_folds_trades_of_a_state_with_trade_rules() -> None:
    """The generated comparison above is not vacuous: with `on: trade` rules in every state, the
    screen still folds most trades, while the rulebook trades, and the answer is the event path's."""
    book = compile_text(SCREENED, "screened.yaml")
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
    with tempfile.TemporaryDirectory() as tmp:
        path = agg_trades(Path(tmp), 7, 240, 0.0003, 0.05)

        def run(which: str, record: Callable[[object], None]) -> BacktestResult:
            source = ReplaySource([path])
            source.trade_runs = True
            return run_backtest(book, source, instruments, brackets, BacktestConfig(path=which), on_record=record)

        event_path, fast = both(run, "auto")
    assert len(event_path.fills) >= 4
    assert "trades folded" in fast.path_reason
    folded, trades = (int(n.replace(",", "")) for n in fast.path_reason.split(" trades folded")[0].split(" of "))
    assert folded > trades // 2


def test_runs_hold_every_trade_in_the_order_merge_gives() -> None:
    """Expanded, the runs and the other series' events are exactly the event stream."""
    data = [str(UM / "daily/trades/BTCUSDT"), str(UM / "daily/bookTicker/BTCUSDT")]
    plain = ReplaySource(data)
    runs = ReplaySource(data)
    runs.trade_runs = True
    expanded: list[object] = []
    kinds = set()
    for item in runs:
        kinds.add(type(item))
        expanded.extend(item.trades() if isinstance(item, TradeRun) else [item])
    assert TradeRun in kinds and len(kinds) > 1  # both series are there, the trades in runs
    assert expanded == list(plain)
    assert any(isinstance(e, Trade) for e in expanded)


@pytest.mark.parametrize(
    "data", [UM / "daily/trades/BTCUSDT", CM / "daily/aggTrades/BTCUSD_PERP"], ids=["trades", "agg"]
)
def test_a_runs_columns_give_its_chunks_trades(data: Path) -> None:
    """The lists the fast path walks a run by (`TradeRun.columns`) give each row's `Trade` as the
    chunk does: the same values, Python ints, the aggregate ids of aggTrades."""
    runs = ReplaySource([str(data)])
    runs.trade_runs = True
    seen = 0
    for run in runs:
        assert isinstance(run, TradeRun)
        cols = run.columns()
        got = [cols.trade(k) for k in range(len(run))]
        assert got == list(run.trades())
        assert cols.times == [t.time for t in got] and cols.prices == [float(t.price) for t in got]
        assert all(type(t.time) is int and type(t.trade_id) is int for t in got)
        seen += len(got)
    assert seen > 1000
    assert (got[-1].first_trade_id is None) == (data.name == "BTCUSDT")


FOLDED_FILL = """
rulebook: folded-fill
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 10}
timeframes: [1m]
rules:
  - name: bid
    on: candle_close 1m
    in: flat
    when: close@1m > 0
    do:
      - enter: {side: long, size: 0.1, order: limit, price: 'close@1m * 0.9999', expire: 5m}
      - stop_loss: {distance: 2%}
      - goto: long
risk:
  daily_loss_cap: 5%
"""


def test_a_fill_right_after_folded_trades_is_valued_at_the_last_of_them(tmp_path: Path) -> None:
    """The venue handles a trade before the engine does: a fill there is reported to an engine that
    has seen the trades before it, folded or not, and the daily PnL noted then (the worst day, the
    daily cap) reads the mark the last of them left. Seen on generated data as a worst day off by
    cents; here the limit bid at 59994.0 fills at 61 s, on the first trade after eight folded ones."""
    minute = [(i * 5_000, "60000.0") for i in range(12)]  # closes at 60000.0: the bid at 59994.0
    folded = [(60_000 + 100 * k, f"{59_999 - (k - 2) * 0.5:.1f}") for k in range(2, 10)]  # down to 59995.5
    after = [(60_000, "60000.0"), (60_100, "60000.0"), *folded, (61_000, "59990.0")]
    rising = [(61_000 + 2_000 * k, f"{59_990 + 10 * k}.0") for k in range(1, 60)]
    rows = [
        f"{n},{price},0.100,{n * 3},{n * 3 + 2},{T0 + t},{'true' if n % 2 else 'false'}\n"
        for n, (t, price) in enumerate([*minute, *after, *rising], 1)
    ]
    path = tmp_path / "BTCUSDT-aggTrades-2024-12-31.csv"
    path.write_text(HEADER + "".join(rows))
    book = compile_text(FOLDED_FILL, "folded-fill.yaml")
    instruments, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)

    def run(which: str, record: Callable[[object], None]) -> BacktestResult:
        source = ReplaySource([path])
        source.trade_runs = True
        return run_backtest(book, source, instruments, brackets, BacktestConfig(path=which), on_record=record)

    event_path, fast = both(run, "auto")
    assert [(f.time - T0, f.price) for f in event_path.fills] == [(61_000, Decimal("59994.0"))]
    # The eight trades before the fill were folded, and every other one but the runs' first and last, the
    # fill's and those at which an equity sample falls due: the once-a-second ones taken quietly.
    assert fast.path_reason.startswith("72 of 82 ")
    assert event_path.worst_day is not None
    assert (
        event_path.worst_day.pnl == Decimal("0.1") * (Decimal("59995.5") - Decimal("59994.0")) - event_path.fills[0].fee
    )
