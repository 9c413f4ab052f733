"""A held run's samples taken in bulk (Sampler.take_held_run, run_sampler) are the samples taken one
by one, as the runner takes them while the candle array path jumps a run holding a position.

One by one: the mark and the last price set to each candle's close, the charted values into the
market's env, the engine's own equity (Portfolio.equity) and the runner's worst day noted with it,
then Sampler.take, which values each side's PnL with Portfolio.unrealized. In bulk: the same run at
once. Everything the sampler holds (the rows, the chart series, every tally) is compared as plain
values, Decimals by repr so that an exponent that differs fails; linear (USD-M) and inverse
(COIN-M) positions, long and short, after any history of samples, across hours, days and months.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.run_samples import run_sampler
from rulebot.backtest.sampling import Sampler
from rulebot.backtest.warmup import Warmup
from rulebot.core.enums import Market, PositionSide
from rulebot.engine.engine import Engine
from rulebot.engine.portfolio import PositionState
from rulebot.feeds.catalog import builtin_instruments
from rulebot.rulebook.compiler import compile_text
from tests.backtest.test_candle_runs import deep

BOOK = """
rulebook: held
market: %(market)s
symbols: [%(symbol)s]
timeframes: [1m]
indicators:
  fast: ema(close@1m, 3)
rules:
  - name: go
    on: candle_close 1m
    in: flat
    when: fast > 0
    do: [{enter: {side: long, size: %(size)s}}, {goto: long}]
  - name: leave
    on: candle_close 1m
    in: long
    when: fast < 0
    do: [exit, {goto: flat}]
"""
MARKETS = {"usdm": ("BTCUSDT", "USDT", "0.01"), "coinm": ("BTCUSD_PERP", "BTC", "1")}
DAY_MS = 86_400_000


class Account:
    """A real engine and a sampler over it, with the runner's last prices, booked PnL and worst day."""

    def __init__(self, market: str, wallet: Decimal, booked: Decimal, buckets: int) -> None:
        symbol, asset, size = MARKETS[market]
        book = compile_text(BOOK % {"market": market, "symbol": symbol, "size": size}, "held.yaml")
        instruments = builtin_instruments(Market.USDM if market == "usdm" else Market.COINM)
        self.engine = Engine(book, {symbol: instruments[symbol]}, {asset: wallet})
        self.symbol, self.asset = symbol, asset
        self.last_price: dict[str, Decimal] = {}
        self.booked = {symbol: booked}
        self.sampler = Sampler(self.engine, [symbol], wallet, self.last_price, self.booked, ["fast"], buckets)
        self.worst: Decimal | None = None
        self.pf = self.engine.state.portfolio
        self.pf.on_time(1_700_000_000_000)

    def hold(self, amount: Decimal, entry: Decimal) -> None:
        self.pf.positions[(self.symbol, PositionSide.BOTH)] = PositionState(
            self.symbol, PositionSide.BOTH, amount, entry, opened_at=0
        )

    def note_day(self, equity: Decimal) -> None:
        """The runner's note_day: the lowest daily PnL so far, the first of equal ones."""
        today = self.engine.today
        assert today is not None
        pnl = equity - today.start_equity[self.asset]
        if self.worst is None or pnl < self.worst:
            self.worst = pnl

    def take(self, time: int, price: Decimal, value: float) -> None:
        """The runner's take_sample inside a jumped run, one candle's close."""
        self.last_price[self.symbol] = price
        self.pf.set_mark(self.symbol, price)
        self.engine.state.runs[self.symbol].market.env["fast"] = value
        equity = self.engine.equity(self.asset)
        self.note_day(equity)
        self.sampler.take(time, equity)

    def state(self) -> Any:
        return deep((self.sampler.tally, self.sampler.curve, self.sampler._pending, self.worst))


def decimals(lo: int, hi: int) -> st.SearchStrategy[Decimal]:
    """Prices and amounts with assorted exponents (1, 1.0, 1.00 ... are equal but print apart)."""
    return st.builds(lambda n, e: Decimal(n).scaleb(-e), st.integers(lo, hi), st.integers(-2, 4))


# Near prices: equal values apart in their exponent (30000, 30000.0) come often.
prices = st.one_of(
    st.builds(lambda n, e: Decimal(n * 10**e).scaleb(-e), st.integers(29_998, 30_002), st.integers(0, 3)),
    decimals(200_000, 800_000),
)
sample = st.tuples(
    st.one_of(st.integers(1, 120_000), st.integers(1, 3 * DAY_MS), st.integers(1, 35 * DAY_MS)),
    prices,
    st.floats(allow_nan=True, allow_infinity=False),
)


@example(
    market="usdm",
    amount=Decimal("0.010"),
    entry=Decimal(30000),
    before=[(60_000, Decimal(30000), 1.0)] * 3,
    run=[(60_000, Decimal(30000), 1.0)] * 5,
    buckets=1,
    wallet=Decimal(100),
)
@settings(max_examples=150, deadline=None)
@given(
    market=st.sampled_from(sorted(MARKETS)),
    amount=st.builds(lambda d, neg: -d if neg else d, decimals(1, 5000), st.booleans()),
    entry=decimals(20_000, 80_000),
    before=st.lists(sample, max_size=30),
    run=st.lists(sample, min_size=1, max_size=80),
    buckets=st.integers(1, 6),
    wallet=decimals(-100, 100_000),
)
def test_a_held_run_sampled_in_bulk_is_the_run_sampled_one_by_one(
    market: str,
    amount: Decimal,
    entry: Decimal,
    before: list[tuple[int, Decimal, float]],
    run: list[tuple[int, Decimal, float]],
    buckets: int,
    wallet: Decimal,
) -> None:
    if amount == 0:
        amount = Decimal(1)
    one, bulk = (Account(market, wallet, Decimal("-1.25"), buckets) for _ in range(2))
    t = 1_700_000_000_000
    for account in (one, bulk):
        account.hold(amount, entry)
    for step, price, value in before:
        t += step
        for account in (one, bulk):
            account.take(t, price, value)
    times, prices, values = [], [], []
    for step, price, value in run:
        t += step
        times.append(t)
        prices.append(price)
        values.append((value,))
    for at, price, (value,) in zip(times, prices, values, strict=True):
        one.take(at, price, value)
    warm = Warmup(bulk.engine.book, bulk.engine, None)
    columns = [[value for (value,) in values]]
    order = np.array([float(p) for p in prices])  # these prices (a few digits) their floats order exactly
    assert run_sampler(bulk.engine, bulk.asset, bulk.note_day, bulk.sampler, warm)(times, prices, columns, order)
    assert bulk.state() == one.state()
    # The run's last candle, as take_samples leaves it; then the end of the backtest.
    bulk.last_price[bulk.symbol] = prices[-1]
    bulk.pf.set_mark(bulk.symbol, prices[-1])
    bulk.engine.state.runs[bulk.symbol].market.env["fast"] = values[-1][0]
    one_result, bulk_result = (BacktestResult("b", "h", one.symbol, one.asset, 0, 0, Decimal(0), 0) for _ in "ab")
    one.sampler.finish(t + 1, one_result)
    bulk.sampler.finish(t + 1, bulk_result)
    assert deep(bulk_result) == deep(one_result)


def test_a_run_not_held_one_way_by_the_first_symbol_is_left_to_the_caller() -> None:
    """A hedge-mode leg open: Sampler.take_held_run takes nothing, and run_sampler says so."""
    account = Account("usdm", Decimal(1000), Decimal(0), 4)
    account.pf.positions[(account.symbol, PositionSide.LONG)] = PositionState(
        account.symbol, PositionSide.LONG, Decimal(1), Decimal(100), opened_at=0
    )
    account.hold(Decimal(2), Decimal(100))
    before = account.state()
    warm = Warmup(account.engine.book, account.engine, None)
    bulk = run_sampler(account.engine, account.asset, account.note_day, account.sampler, warm)
    assert not bulk([1_700_000_060_000], [Decimal(101)], [[1.0]], None)
    assert account.state() == before
