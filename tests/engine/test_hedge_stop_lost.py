"""Hedge mode: a leg whose stop stops working gets the protective-stop guard's stop, whatever the other leg holds.

The guard's countdown was the symbol's: when both legs lost their stops (a rule's `cancel: all`, legs of
one size: the position nets to 0), the guard's stop went on the first bare leg only (long first) and the
short leg sat without a stop for good (60+ s of trades and no report: never covered); now each leg counts
down on its own and gets its own stop, 10 s after it lost its own.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.enums import OrderType, PositionSide, Side

from .faulty_paper import FaultyPaper
from .test_stop_lost import sim_end

D = Decimal

BOOK = """\
rulebook: hedge-lost
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3, position_mode: hedge}
states:
  flat: {position: none}
  long: {position: long}
  both: {position: any}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 3%}}, {goto: long}]
  - name: hedge
    on: trade
    in: long
    when: price > 60050
    do: [{enter: {side: short, size: "0.01"}}, {stop_loss: {distance: 2%}}, {goto: both}]
"""


def stops(fp: FaultyPaper) -> dict[PositionSide, tuple[Side, str]]:
    found: dict[PositionSide, tuple[Side, str]] = {}
    for o in fp.sim.open_algo_orders(fp.symbol):
        record = fp.engine.state.oms.get(o.client_algo_id)
        purpose = record.purpose if record is not None else "?"
        if o.order_type is OrderType.STOP_MARKET and o.status == "NEW" and purpose != "daily_cap":
            found[o.position_side] = (o.side, purpose)
    return found


def both_legs() -> tuple[FaultyPaper, dict[PositionSide, str]]:
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    legs = {p.position_side: p.amount for p in fp.sim.positions(fp.symbol) if p.amount != 0}
    assert legs == {PositionSide.LONG: D("0.01"), PositionSide.SHORT: D("-0.01")}
    oms = fp.engine.state.oms
    ids = {
        o.position_side: o.client_algo_id
        for o in fp.sim.open_algo_orders(fp.symbol)
        if getattr(oms.get(o.client_algo_id), "purpose", None) == "stop_loss"
    }
    assert stops(fp) == {PositionSide.LONG: (Side.SELL, "stop_loss"), PositionSide.SHORT: (Side.BUY, "stop_loss")}
    return fp, ids


def bare_for(fp: FaultyPaper, leg: PositionSide, limit: int = 60) -> int:
    for s in range(1, limit + 1):
        fp.trade(60030)
        if leg in stops(fp):
            return s
    return limit


def test_each_leg_losing_its_stop_gets_the_guards_stop_in_10s():
    for leg, side in ((PositionSide.LONG, Side.SELL), (PositionSide.SHORT, Side.BUY)):
        fp, ids = both_legs()
        fp.report(sim_end(fp, ids[leg], "EXPIRED", "maintenance"))
        assert leg not in stops(fp)
        assert bare_for(fp, leg) == 10, leg
        assert stops(fp)[leg] == (side, "protective")


TIDY = """\
  - name: tidy
    on: trade
    in: both
    when: price > 60070
    do: [{cancel: all}, {goto: bare}]
"""


def test_a_cancel_of_every_order_gets_both_legs_the_guards_stop_in_10s():
    text = BOOK.replace("  both: {position: any}\n", "  both: {position: any}\n  bare: {position: any}\n") + TIDY
    fp = FaultyPaper(text)
    fp.start()
    fp.trade(60000)
    fp.trade(60060)
    fp.trade(60080)
    assert stops(fp) == {}
    bare = {}
    for s in range(1, 61):
        fp.trade(60030)
        for leg in stops(fp):
            bare.setdefault(leg, s)
    assert bare == {PositionSide.LONG: 10, PositionSide.SHORT: 10}
    assert stops(fp) == {PositionSide.LONG: (Side.SELL, "protective"), PositionSide.SHORT: (Side.BUY, "protective")}


NO_LONG_STOP = BOOK.replace(", {stop_loss: {distance: 3%}}, {goto: long}", ", {goto: long}")


def test_a_stop_placed_on_one_leg_leaves_the_other_legs_countdown_running():
    """The long leg opens without a stop (its countdown starts); 5 s later the short leg opens with its
    own stop. That stop ended the symbol's countdown, and the long leg's began again from its
    report: the long leg sat 15 s without a stop, not 10."""
    fp = FaultyPaper(NO_LONG_STOP)
    fp.start()
    fp.trade(60000)  # the long leg, no stop
    for _ in range(4):
        fp.trade(60030)
    fp.trade(60060)  # 5 s later: the short leg and its stop
    assert stops(fp) == {PositionSide.SHORT: (Side.BUY, "stop_loss")}
    bare = next(s for s in range(6, 61) if fp.trade(60030) or PositionSide.LONG in stops(fp))
    assert bare == 10
    assert stops(fp)[PositionSide.LONG] == (Side.SELL, "protective")
