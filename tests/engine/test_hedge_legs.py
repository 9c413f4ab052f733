"""Hedge mode: each leg is protected on its own.

Tried as a user: a hedge rulebook entered long with a 3% stop, then short with a 3% stop. The
short's stop was placed on the long leg (a SELL at the long's price, replacing the long's own
stop), so the short leg had no stop at all, and the protective-stop guard, seeing a stop on the
symbol, never placed one. Also here: a stop named with an entry that was refused is not placed
(in either mode). These run the engine over the real simulator (`faulty_paper`).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import OrderType, PositionSide, Side

from .conftest import backtest, trades
from .faulty_paper import FaultyPaper
from .test_risk_guards import kinds, verdicts

D = Decimal


def book(short_stop: bool = True) -> str:
    stop = ", {stop_loss: {distance: 2%}}" if short_stop else ""
    return f"""\
rulebook: hedge-legs
market: usdm
symbols: [BTCUSDT]
account: {{leverage: 3, position_mode: hedge}}
states:
  flat: {{position: none}}
  long: {{position: long}}
  both: {{position: any}}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{{enter: {{side: long, size: "0.02"}}}}, {{stop_loss: {{distance: 3%}}}}, {{goto: long}}]
  - name: hedge
    on: trade
    in: long
    when: price > 60050
    do: [{{enter: {{side: short, size: "0.01"}}}}{stop}, {{goto: both}}]
  - name: never
    on: trade
    in: both
    when: price < 0
    do: [exit, {{goto: flat}}]
"""


def stops(fp: FaultyPaper) -> dict[PositionSide, tuple[Side, Decimal | None, str]]:
    """The stop-markets working on the exchange, by the leg they close: side, trigger, our tag."""
    found: dict[PositionSide, tuple[Side, Decimal | None, str]] = {}
    for o in fp.sim.open_algo_orders(fp.symbol):
        record = fp.engine.state.oms.get(o.client_algo_id)
        purpose = record.purpose if record is not None else "?"
        if o.order_type is OrderType.STOP_MARKET and purpose != "daily_cap":
            assert o.position_side not in found, "two stops on one leg"
            found[o.position_side] = (o.side, o.trigger_price, purpose)
    return found


def legs(fp: FaultyPaper) -> dict[PositionSide, Decimal]:
    return {p.position_side: p.amount for p in fp.sim.positions(fp.symbol) if p.amount != 0}


@settings(max_examples=30, deadline=None)
@given(account_first=st.lists(st.booleans(), max_size=8))
def test_each_legs_stop_is_placed_on_that_leg_whatever_order_the_reports_arrive_in(account_first):
    fp = FaultyPaper(book())
    fp.start()
    fp.trade(60000)
    fp.stalled = True
    fp.trade(60060)  # the short leg's entry, its reports interleaved as drawn
    fp.release(account_first)
    assert legs(fp) == {PositionSide.LONG: D("0.02"), PositionSide.SHORT: D("-0.01")}
    assert stops(fp) == {
        PositionSide.LONG: (Side.SELL, D("58200.0"), "stop_loss"),  # 3% under the long's entry at 60000
        PositionSide.SHORT: (Side.BUY, D("61261.2"), "stop_loss"),  # 2% over the short's entry at 60060
    }


def test_a_short_leg_without_a_stop_of_its_own_gets_the_protective_stop_while_the_long_leg_has_one():
    fp = FaultyPaper(book(short_stop=False))
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    assert legs(fp) == {PositionSide.LONG: D("0.02"), PositionSide.SHORT: D("-0.01")}
    assert PositionSide.SHORT not in stops(fp)
    within = fp.engine.book.risk.protective_stop_within_ms
    fp.trade(60060, dt_ms=within + 1000)
    placed = stops(fp)
    assert placed[PositionSide.LONG] == (Side.SELL, D("58200.0"), "stop_loss")
    side, trigger, purpose = placed[PositionSide.SHORT]
    assert (side, purpose) == (Side.BUY, "protective")
    assert trigger is not None and trigger > D("60060")


MARGIN_HEAD = """\
rulebook: hedge-margin
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 10, position_mode: hedge}
risk: {max_margin_ratio: 30%}
states:
  flat: {position: none}
  long: {position: long}
  both: {position: any}
rules:
  - name: buy
    on: trade
    in: flat
    when: price >= 100
    do: [{enter: {side: long, size: "1"}}, {stop_loss: {distance: 30%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price >= 100
    do: [{enter: {side: short, size: "100"}}, {stop_loss: {distance: 30%}}, {goto: both}]
  - name: never
    on: trade
    in: both
    when: price > 1000000
    do: [exit]
"""


def test_the_margin_ratio_guard_watches_the_short_leg_of_a_hedge_too(usdm):
    """The mirror of test_risk_guards' long at 100 (10x, 30% limit): here a small long leg is safe
    while a 10x short leg of 100 nears its liquidation as the price rises. The guard read only the
    long leg (open first) and never reduced the short one."""
    prices = [100, 100, 100, 101, 103, 105, 107, 108, 108.7, 108.8, 108.8, 108.8]
    result, records = backtest(MARGIN_HEAD, trades(prices), usdm, balance=1_000_000)
    acted = verdicts(records, "max_margin_ratio")
    assert acted and kinds(acted[0], "max_margin_ratio") == ["act"]
    reduce = [f for f in result.fills if f.purpose == "deleverage"]
    assert reduce and reduce[0].quantity == Decimal(50) and reduce[0].side == "BUY"
    assert result.liquidations == 0


def closes(fp: FaultyPaper) -> list[tuple[int, str, PositionSide]]:
    """The market orders that closed a leg: when, which way, which leg."""
    return [(c.time, c.side.value, c.position_side) for c in fp.placed if c.order_type is OrderType.MARKET][2:]


def test_a_bare_exit_closes_both_legs_of_a_hedge_at_once():
    """The short leg's close waited for the long leg's outcome and the backoff of a refused exit
    (a second later): a leg held alone that the rule had closed."""
    fp = FaultyPaper(book().replace("when: price < 0", "when: price < 59000"))
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    fp.trade(58990)
    t = fp.time
    assert closes(fp) == [(t, "SELL", PositionSide.LONG), (t, "BUY", PositionSide.SHORT)]
    assert legs(fp) == {}
    assert fp.states()[-1][:2] == ("both", "flat")


def test_a_halt_flattens_both_legs_of_a_hedge_at_once():
    fp = FaultyPaper(
        book().replace("do: [exit, {goto: flat}]", "do: [{halt: test}]").replace("price < 0", "price < 59000")
    )
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    fp.trade(58990)
    t = fp.time
    assert sorted(closes(fp), key=str) == sorted(
        [(t, "SELL", PositionSide.LONG), (t, "BUY", PositionSide.SHORT)], key=str
    )
    assert legs(fp) == {}


def test_a_stop_named_with_a_refused_entry_leaves_the_held_legs_stop_alone():
    """Tried live: the short leg's entry was refused (below the minimum notional) and the rule's 2%
    stop, meant for that short, replaced the long leg's 3% stop with a SELL 2% under the long's entry."""
    fp = FaultyPaper(book().replace('size: "0.01"', 'size: "0.001"'))  # 60 USDT: under the 100 minimum
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    assert legs(fp) == {PositionSide.LONG: D("0.02")}
    assert stops(fp) == {PositionSide.LONG: (Side.SELL, D("58200.0"), "stop_loss")}


def test_in_one_way_mode_a_refused_addition_keeps_the_positions_stop():
    text = book().replace("position_mode: hedge", "position_mode: one_way").replace("side: short", "side: long")
    fp = FaultyPaper(text.replace('size: "0.01"', 'size: "0.001"'))
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    assert legs(fp) == {PositionSide.BOTH: D("0.02")}
    assert stops(fp) == {PositionSide.BOTH: (Side.SELL, D("58200.0"), "stop_loss")}


LIQUIDATION_HEDGE = """\
rulebook: hedge-liquidation
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3, position_mode: hedge}
risk: {min_liquidation_distance: 15%}
states:
  flat: {position: none}
  long: {position: long}
  both: {position: any}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.02"}}, {stop_loss: {distance: 3%}}, {goto: long}]
  - name: hedge
    on: trade
    in: long
    when: price > 60050
    do: [{set_leverage: {to: 10}}, {enter: {side: short, size: "0.02"}}, {stop_loss: {distance: 3%}}, {goto: both}]
  - name: never
    on: trade
    in: both
    when: price < 0
    do: [exit, {goto: flat}]
"""


def test_the_liquidation_distance_of_a_hedge_entry_is_its_own_legs_not_the_other_legs():
    """At 10x an isolated short is liquidated about 9.6% from its entry: the 15% guard refuses it.
    Computed on the long leg's holding instead (0.02 long, minus the 0.02 short: nothing left), the
    short looked like a close with no liquidation price at all, and went out whole."""
    fp = FaultyPaper(LIQUIDATION_HEDGE)
    fp.start()
    fp.trade(60000)
    assert legs(fp) == {PositionSide.LONG: D("0.02")}  # at 3x: liquidated about 33% away, allowed
    fp.trade(60060)
    refused = [r for r in verdicts(fp.records, "liquidation_distance") if "reject" in kinds(r, "liquidation_distance")]
    assert refused, "the short leg went out at 10x beside a 15% liquidation-distance guard"
    assert legs(fp) == {PositionSide.LONG: D("0.02")}
