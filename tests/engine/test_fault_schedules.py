"""Random fault schedules on the simulator: whatever the exchange refuses and however late the
user stream reports, the account never holds more than the rulebook's size and no client order
id is used twice (the same invariants `tests/runtime/test_fault_schedules.py` checks live)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from .faulty_paper import FaultyPaper
from .test_position_binding import BOOK, TIMESTAMP

SIZE = Decimal("0.01")
PRICES = (60000, 60030, 60060)  # buy below 60020, sell above 60050, nothing between

step = st.one_of(
    st.tuples(st.just("trade"), st.sampled_from(PRICES), st.sampled_from((3, 200, 1000, 2500))),
    st.tuples(st.just("refuse"), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("stall"), st.just(0), st.just(0)),
    st.tuples(st.just("release"), st.integers(0, 4), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=5, max_size=60))
def test_no_fault_schedule_makes_the_account_hold_more_than_the_rulebook_size(schedule):
    fp = FaultyPaper(BOOK)
    refusals = [0]

    def refuse(cmd):
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
        else:  # part of what was held: a burst cut anywhere (an order update before its account update)
            held, fp.held = fp.held[:a], fp.held[a:]
            stalled, fp.stalled = fp.stalled, False
            fp.report(held)
            fp.stalled = stalled
        assert fp.max_position <= SIZE
    refusals[0] = 0
    fp.release()
    for _ in range(80):  # quiet: the engine settles what it owes (exits sent again within their backoff)
        fp.trade(60030, dt_ms=1000)
    assert fp.max_position <= SIZE
    assert len(fp.sent_ids) == len(set(fp.sent_ids))
    held = fp.position
    assert (fp.state == "long") == (held != 0), (fp.state, held, fp.states()[-3:])
