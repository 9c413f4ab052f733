"""`deleverage: {to: X}` leaves the position at most X times equity after one close, fee included."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import Market
from rulebot.engine.records import GuardRecord
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments

from .conftest import backtest, trades

BOOK = """\
rulebook: shed
market: usdm
symbols: [BTCUSDT]
account: {{leverage: 10}}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{{enter: {{side: long, size: "{size}"}}}}, {{stop_loss: {{distance: 50%}}}}, {{goto: long}}]
  - name: shed
    on: trade
    in: long
    when: leverage > {to}
    do: [{{deleverage: {{to: {to}}}}}]
"""


def _run(size: str, to: int, price: int = 60000, balance: int = 10_000):
    text = BOOK.format(size=size, to=to)
    result, _ = backtest(text, trades([price] * 6, symbol="BTCUSDT"), usdm_tables(), balance=balance)
    entry = [f for f in result.fills if f.purpose == "entry"]
    cuts = [f for f in result.fills if f.purpose == "deleverage"]
    return result, entry, cuts


def usdm_tables():
    return builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)


def test_one_deleverage_reaches_the_target_leverage():
    # 1.499 BTC at 60,000 (89,940 USDT) on 10,000 USDT, cut to 3x. Rounding the close down to the
    # 0.001 step (1.0012.. -> 1.001) and ignoring the close's own 30 USDT fee left 3.01x, so the
    # rule fired again on the next trades: three taker orders (1.001, 0.001, 0.001) where one does.
    result, entry, cuts = _run("1.499", 3)
    assert len(entry) == 1 and len(cuts) == 1
    held = entry[0].quantity - cuts[0].quantity
    equity = result.end_equity
    assert held * 60000 <= 3 * equity
    # and no more than needed: one step less closed would be above the target
    assert (held + Decimal("0.001")) * 60000 > 3 * equity


@settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(min_value=200, max_value=1600),
    to=st.integers(min_value=1, max_value=9),
    price=st.integers(min_value=20000, max_value=90000),
)
def test_deleverage_never_leaves_more_than_the_target(steps, to, price):
    size = str(Decimal(steps) / 1000)
    result, entry, cuts = _run(size, to, price)
    if not entry:
        return  # refused by a guard (too large for the leverage): nothing to deleverage
    held = entry[0].quantity - sum((c.quantity for c in cuts), Decimal(0))
    assert held >= 0
    assert held * price <= to * result.end_equity
    assert len(cuts) <= 1


BOTH = """\
rulebook: trim-and-shed
market: usdm
symbols: [BTCUSDT]
account: {leverage: 10}
states:
  flat: {position: none}
  long: {position: long}
  done: {position: none}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "1.499"}}, {stop_loss: {distance: 50%}}, {goto: long}]
  - name: trim
    on: trade
    in: long
    when: leverage > 3
    priority: 2
    do: [{reduce: {by: 50%}}]
  - name: shed
    on: trade
    in: long
    when: leverage > 3
    priority: 1
    do: [{deleverage: {to: 3}}]
  - name: closed
    on: position_closed
    in: long
    do: [{goto: done}]
  - name: done
    on: trade
    in: done
    when: price < 0
    do: [{log: never}]
"""


def test_a_deleverage_beside_a_reduce_of_the_same_moment_keeps_the_target_not_nothing():
    # A `reduce: 50%` and a `deleverage: {to: 3}` fired on the same trade. The deleverage sized its
    # close on the 1.499 BTC held as if the reduce's 0.749 were not already going out: 0.749 + 1.002
    # reduce-only is more than the position, and the exchange closed all of it (flat, not 3x).
    result, _ = backtest(BOTH, trades([60000] * 6, symbol="BTCUSDT"), usdm_tables())
    bought = sum((f.quantity for f in result.fills if f.purpose == "entry"), Decimal(0))
    sold = sum((f.quantity for f in result.fills if f.side == "SELL"), Decimal(0))
    held = bought - sold
    assert bought == Decimal("1.499")
    assert held * 60000 <= 3 * result.end_equity < (held + Decimal("0.001")) * 60000


def test_a_coinm_deleverage_keeps_whole_contracts_within_the_target():
    # 5,000 contracts of BTCUSD_PERP (100 USD each) at 60,000 on 1 BTC: 8.33 BTC of notional. To 3x in
    # one close of 3,213 contracts: 1,787 kept are 2.9989x; one contract more would be 3.0005x.
    text = BOTH.replace("BTCUSDT", "BTCUSD_PERP").replace("usdm", "coinm").replace('"1.499"', '"5000"')
    text = text.replace("when: leverage > 3\n    priority: 2", "when: leverage > 1000\n    priority: 2")
    coinm = builtin_instruments(Market.COINM), builtin_brackets(Market.COINM)
    result, _ = backtest(text, trades([60000] * 6, symbol="BTCUSD_PERP"), coinm, balance=1)
    cuts = [f.quantity for f in result.fills if f.purpose == "deleverage"]
    assert cuts == [Decimal(3213)]
    held, cs, mark = Decimal(5000 - 3213), Decimal(100), Decimal(60000)
    assert held * cs / mark <= 3 * result.end_equity < (held + 1) * cs / mark


_EXPR = """\
rulebook: shed
market: usdm
symbols: [BTCUSDT]
account: {leverage: 10}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "1.499"}}, {stop_loss: {distance: 50%}}, {goto: long}]
  - name: shed
    on: trade
    in: long
    when: leverage > 3
    do: [{deleverage: {to: "TARGET"}}]
"""


def _shed(target: str):
    result, records = backtest(_EXPR.replace("TARGET", target), trades([60000] * 6, symbol="BTCUSDT"), usdm_tables())
    cuts = [f for f in result.fills if f.purpose == "deleverage"]
    refusals = [r for r in records if isinstance(r, GuardRecord) and r.rule == "shed"]
    return cuts, refusals


@pytest.mark.parametrize("target", ["leverage - 20", "3 - leverage * 2"])
def test_a_negative_runtime_target_is_refused_and_said_not_a_close_of_everything(target):
    # The compiler refuses `to: -1` (1 to 10), but an expression can still come out negative at run
    # time: target * equity < notional then held for any position, and the whole 1.499 BTC went out.
    cuts, refusals = _shed(target)
    assert cuts == []
    assert refusals and all("deleverage" in r.intent and r.verdicts[0].kind == "reject" for r in refusals)
    assert "negative" in refusals[0].verdicts[0].reason


def test_a_target_that_cannot_be_computed_is_said():
    cuts, refusals = _shed("price / (price - price)")
    assert cuts == []
    assert refusals and "division by zero" in refusals[0].verdicts[0].reason


def test_a_zero_target_closes_the_position():
    cuts, refusals = _shed("leverage * 0")
    assert cuts[0].quantity == Decimal("1.499")  # all of it at once (the buy rule enters again later)
    assert all(r.verdicts[0].kind == "allow" for r in refusals)
