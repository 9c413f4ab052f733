"""Property: an isolated position never loses more than its margin (and a cross account never
more than its wallet), whatever the price path.

Generated paths jump by up to ±60% a step (gaps between bars, as a one-candle crash), and
reach the simulator as trades, mark prices and book tops in any order, with the position
protected (or not) by a stop on the mark or the last price. After every event:

    wallet >= start - commission paid - initial isolated margin

i.e. the realized loss of the position (before fees) is at most the margin it was opened
with. Fees are paid from the wallet apart from the margin, which is why they are added.
"""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rulebot.core.enums import MarginType, OrderType, Side, WorkingType

from .conftest import BTCUSDT, book, market, order, usdm

TICK = D("0.1")
START = D("10000")

steps = st.lists(
    st.tuples(
        st.floats(min_value=-0.6, max_value=0.6, allow_nan=False),  # relative move of this step
        st.sampled_from(["trade", "mark", "book", "trade+mark"]),
    ),
    min_size=1,
    max_size=25,
)


def _price(value: D) -> D:
    return max(TICK, value.quantize(TICK))


@settings(max_examples=150, deadline=None)
@example(long=True, leverage=10, stop=(0.01, False), path=[(-0.4, "trade")])  # a last-price stop in a 40% gap
@given(
    long=st.booleans(),
    leverage=st.integers(min_value=1, max_value=20),
    stop=st.one_of(st.none(), st.tuples(st.floats(min_value=0.001, max_value=0.3), st.booleans())),
    path=steps,
)
def test_an_isolated_position_never_loses_more_than_its_margin(
    long: bool, leverage: int, stop: tuple[float, bool] | None, path: list[tuple[float, str]]
) -> None:
    sim = usdm(str(START), default_margin_type=MarginType.ISOLATED, default_leverage=leverage)
    entry = D("60000")
    book(sim, str(entry - TICK), str(entry))
    sim.on_trade(BTCUSDT, entry, D("1"), 1, False)
    sim.on_mark_price(BTCUSDT, entry, 1)
    side = Side.BUY if long else Side.SELL
    assert sim.execute(market("open", side, "0.1"), 2).ok
    (pos,) = sim.positions()
    margin = pos.isolated_wallet
    assert margin > 0
    if stop is not None:
        distance, on_mark = stop
        trigger = _price(entry * (1 - D(repr(distance))) if long else entry * (1 + D(repr(distance))))
        wt = WorkingType.MARK_PRICE if on_mark else WorkingType.CONTRACT_PRICE
        close = Side.SELL if long else Side.BUY
        assert sim.execute_algo(
            order("sl", close, OrderType.STOP_MARKET, "0.1", trigger=str(trigger), reduce_only=True, working_type=wt), 3
        ).ok
    price = entry
    for n, (move, kind) in enumerate(path, start=4):
        price = _price(price * (1 + D(repr(move))))
        if kind in ("trade", "trade+mark"):
            sim.on_trade(BTCUSDT, price, D("5"), n, n % 2 == 0)
        if kind in ("mark", "trade+mark"):
            sim.on_mark_price(BTCUSDT, price, n)
        if kind == "book":
            book(sim, str(price), str(price + TICK), time=n)
        ledger = sim.ledger("USDT")
        assert ledger.realized_pnl >= -margin, (price, ledger)
        assert sim.balances()[0].wallet_balance >= START - ledger.commission - margin


@settings(max_examples=100, deadline=None)
@example(
    long=False, leverage=7, stop=(0.125, False), path=[(-0.17701777219773202, "trade"), (0.41634077512342793, "trade")]
)
@example(long=True, leverage=10, stop=(0.01, False), path=[(-0.6, "trade")])  # a last-price stop in a 60% gap
@given(
    long=st.booleans(),
    leverage=st.integers(min_value=7, max_value=20),
    stop=st.one_of(st.none(), st.tuples(st.floats(min_value=0.001, max_value=0.3), st.booleans())),
    path=steps,
)
def test_a_cross_account_never_loses_more_than_its_wallet(
    long: bool, leverage: int, stop: tuple[float, bool] | None, path: list[tuple[float, str]]
) -> None:
    # 0.1 BTC at 60,000 on a 1,000 USDT wallet: a 60% gap would lose 3,600 if a stop filled there.
    sim = usdm("1000", default_leverage=leverage)
    entry = D("60000")
    book(sim, str(entry - TICK), str(entry))
    sim.on_trade(BTCUSDT, entry, D("1"), 1, False)
    sim.on_mark_price(BTCUSDT, entry, 1)
    side = Side.BUY if long else Side.SELL
    assert sim.execute(market("open", side, "0.1"), 2).ok
    if stop is not None:
        distance, on_mark = stop
        trigger = _price(entry * (1 - D(repr(distance))) if long else entry * (1 + D(repr(distance))))
        wt = WorkingType.MARK_PRICE if on_mark else WorkingType.CONTRACT_PRICE
        close = Side.SELL if long else Side.BUY
        assert sim.execute_algo(
            order("sl", close, OrderType.STOP_MARKET, "0.1", trigger=str(trigger), reduce_only=True, working_type=wt), 3
        ).ok
    price = entry
    for n, (move, kind) in enumerate(path, start=4):
        price = _price(price * (1 + D(repr(move))))
        if kind in ("trade", "trade+mark"):
            sim.on_trade(BTCUSDT, price, D("5"), n, n % 2 == 0)
        if kind in ("mark", "trade+mark"):
            sim.on_mark_price(BTCUSDT, price, n)
        if kind == "book":
            book(sim, str(price), str(price + TICK), time=n)
        assert sim.balances()[0].wallet_balance >= 0, price
