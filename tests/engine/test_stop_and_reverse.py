"""Stop and reverse in one rule (issue 16, item 1): `do: [exit, {enter: {side: short}}, {goto: short}]`
in state `long`, one-way mode. The reduce-only exit goes first; the entry only once the exchange
reports the position flat, so a refused or late exit never makes the account hold more than the
rulebook's size, in either direction."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.commands import PlaceOrder
from rulebot.engine.engine import Step
from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError

from .faulty_paper import FaultyPaper
from .test_position_binding import TIMESTAMP, market_exit, refuse_exits

D = Decimal
SIZE = D("0.01")
BOOK = """\
rulebook: flipper
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: open-long
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: long-to-short
    on: trade
    in: long
    when: price > 60050
    do: [exit, {enter: {side: short, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: short}]
  - name: short-to-long
    on: trade
    in: short
    when: price < 60020
    do: [exit, {enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
"""


def entries(fp: FaultyPaper) -> list[PlaceOrder]:
    return fp.entries()


def test_a_stop_and_reverse_rule_validates_in_one_way_mode():
    book = compile_text(BOOK)
    assert [r.name for r in book.rules] == ["open-long", "long-to-short", "short-to-long"]


def test_an_entry_on_the_other_side_without_an_exit_first_is_still_refused():
    text = BOOK.replace("do: [exit, {enter: {side: short", "do: [{enter: {side: short")
    with pytest.raises(RulebookError) as err:
        compile_text(text)
    (diag,) = err.value.diagnostics
    assert diag.code == "state-contradiction" and "stop and reverse" in (diag.hint or "")


def test_stop_and_reverse_flips_long_to_short_and_back_within_one_event():
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.trade(60000)
    assert fp.state == "long" and fp.position == SIZE
    fp.trade(60060)  # exit the long, then sell short once flat
    assert fp.state == "short" and fp.position == -SIZE
    fp.trade(60000)
    assert fp.state == "long" and fp.position == SIZE
    assert fp.max_position == SIZE
    assert ("long", "flat", "rule long-to-short") in fp.states()
    assert ("flat", "short", "rule long-to-short") in fp.states()
    # The reversal's entry carries its own stop: the short is protected by a buy stop.
    stops = [c for c in fp.placed if c.close_position and c.side.value == "BUY"]
    assert stops


@pytest.mark.parametrize("account_first", [False, True])
def test_a_reversal_moves_the_state_twice_in_whichever_order_the_reports_come(account_first):
    """The entry's fill report came in the exit's millisecond, after the exit's account update:
    taken for the word on the entry, it bounced the state short -> flat ("position closed") ->
    short ("the exchange holds a short position") on every reversal of a backtest. With each fill's
    account update first (as Binance may send it), the reversal still completes in the event."""
    fp = FaultyPaper(BOOK)
    fp.account_before_fill = account_first
    fp.start()
    fp.trade(60000)
    assert fp.state == "long" and fp.position == SIZE
    before = len(fp.states())
    fp.trade(60060)
    assert fp.state == "short" and fp.position == -SIZE
    assert fp.states()[before:] == [("long", "flat", "rule long-to-short"), ("flat", "short", "rule long-to-short")]
    before = len(fp.states())
    fp.trade(60000)
    assert fp.state == "long" and fp.position == SIZE and fp.max_position == SIZE
    assert fp.states()[before:] == [("short", "flat", "rule short-to-long"), ("flat", "long", "rule short-to-long")]


def test_a_refused_exit_sends_no_entry_and_never_doubles_the_position():
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.trade(60000)
    fp.refuse = refuse_exits(2)
    fp.trade(60060)  # the exit is refused (-1021): no short entry may go out beside the long
    assert fp.state == "long" and fp.position == SIZE
    assert len(entries(fp)) == 1
    for _ in range(8):
        fp.trade(60060)
        assert fp.max_position == SIZE
    assert fp.state == "short" and fp.position == -SIZE  # the exit went through on a retry; then the entry
    assert len([c for c in fp.placed if market_exit(c)]) == 1
    assert len(fp.sent_ids) == len(set(fp.sent_ids))


def test_a_late_fill_holds_the_reversal_entry_until_the_position_is_reported_flat():
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.trade(60000)
    fp.stalled = True  # the user stream holds the exit's fill back
    fp.trade(60060)
    assert len(entries(fp)) == 1 and fp.state == "long"
    fp.trade(60060)
    assert len(entries(fp)) == 1  # still no word from the exchange: no entry
    fp.release()
    assert fp.state == "short" and fp.position == -SIZE and fp.max_position == SIZE


def test_a_halt_while_the_reversal_waits_sends_no_entry_after_the_flatten():
    fp = FaultyPaper(BOOK)
    fp.start()
    fp.trade(60000)
    fp.refuse = refuse_exits(1)
    fp.trade(60060)
    halt = Step()
    fp.engine.halt("operator", halt)  # the kill switch while the reversal waits for its exit
    fp.process(halt)
    for _ in range(6):
        fp.trade(60060)
    assert fp.position == 0 and len(entries(fp)) == 1


step = st.one_of(
    st.tuples(st.just("trade"), st.sampled_from((60000, 60030, 60060)), st.sampled_from((3, 200, 1000, 2500))),
    st.tuples(st.just("refuse"), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("stall"), st.just(0), st.just(0)),
    st.tuples(st.just("release"), st.integers(0, 4), st.just(0)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=5, max_size=60))
def test_no_fault_schedule_makes_a_reversal_hold_both_sides_or_more_than_the_rulebook_size(schedule):
    fp = FaultyPaper(BOOK)
    refusals = [0]

    def refuse(cmd):
        if not (cmd.reduce_only or cmd.close_position or cmd.is_conditional):
            # An entry leaves only while the account is flat: never beside the position it reverses.
            assert fp.position == 0, f"entry {cmd.side.value} sent while holding {fp.position}"
        if refusals[0] > 0:
            refusals[0] -= 1
            return TIMESTAMP
        return None

    fp.refuse = refuse
    fp.start()
    for kind, a, b in schedule:
        if kind == "trade":
            fp.trade(a, dt_ms=b)
        elif kind == "refuse":
            refusals[0] = a
        elif kind == "stall":
            fp.stalled = True
        elif a == 0:
            fp.release()
        else:
            held, fp.held = fp.held[:a], fp.held[a:]
            stalled, fp.stalled = fp.stalled, False
            fp.report(held)
            fp.stalled = stalled
        assert fp.max_position <= SIZE
    refusals[0] = 0
    fp.release()
    for _ in range(80):  # quiet: pending exits are sent again and reversals complete
        fp.trade(60030, dt_ms=1000)
    assert fp.max_position <= SIZE
    assert len(fp.sent_ids) == len(set(fp.sent_ids))
    held = fp.position
    expected = {"long": SIZE, "short": -SIZE, "flat": D(0)}[fp.state]
    assert held == expected, (fp.state, held, fp.states()[-4:])


prices = st.lists(
    st.tuples(st.sampled_from((60000, 60030, 60060, 57000, 63000)), st.sampled_from((3, 200, 1000))),
    min_size=3,
    max_size=40,
)


def run_both_ways(path: list[tuple[int, int]], account_first: bool) -> FaultyPaper:
    fp = FaultyPaper(BOOK)
    fp.account_before_fill = account_first
    fp.start()
    for price, dt in path:
        fp.trade(price, dt_ms=dt)
    return fp


@settings(max_examples=120, deadline=None)
@given(prices)
def test_the_order_of_a_fills_two_reports_changes_nothing_the_bot_does(path):
    """Binance may send a fill's ACCOUNT_UPDATE before or after its ORDER_TRADE_UPDATE (same T and
    E): the orders sent, the position held and every state change must not depend on which."""
    after, before = run_both_ways(path, False), run_both_ways(path, True)
    sent = [(c.client_order_id, c.side, c.quantity, c.order_type, c.reduce_only) for c in after.placed]
    assert sent == [(c.client_order_id, c.side, c.quantity, c.order_type, c.reduce_only) for c in before.placed]
    assert (after.position, after.state, after.max_position) == (before.position, before.state, before.max_position)
    assert after.states() == before.states()
    assert after.max_position <= SIZE
