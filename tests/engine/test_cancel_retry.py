"""A cancel the exchange refused without executing it (-1021 after the resync, 503 on every try,
a rate limit) is sent again with back-off while the order works; one refused because the order is
gone (-2011, -2013) is not: the order's own updates tell what became of it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rulebot.core.commands import CancelAllOrders, CancelOrder, Command
from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.core.fees import DEFAULT_FEE_RATES
from rulebot.engine import cancel_retry
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.exchange_sim import SimResult
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.session import Session, paper_venue
from rulebot.venues.paper import PaperVenue

T0 = 1_717_200_000_000
D = Decimal

# A buy limit far under the market: it rests, so there is a working order to cancel.
RESTING = """
rulebook: resting
market: usdm
symbols: [ADAUSDT]
rules:
  - name: bid
    on: trade
    in: flat
    do: [{enter: {side: long, size: "100 USDT", order: limit, price: "price * 0.5"}}]
"""


class RefusesCancels(PaperVenue):
    """The paper venue, except that the first `refusals` cancels are answered `code`."""

    def __init__(self, paper: PaperVenue, code: int, refusals: int) -> None:
        super().__init__(paper.sim, Market.USDM)
        self.code, self.refusals = code, refusals
        self.cancels: list[int] = []  # when each cancel was sent

    def execute(self, command: Command, time: int) -> SimResult:
        if isinstance(command, CancelOrder):
            self.cancels.append(time)
            if len(self.cancels) <= self.refusals:
                return SimResult(False, self.code, "refused")
        return super().execute(command, time)


def run(code: int, refusals: int) -> tuple[Engine, RefusesCancels, list[str], str]:
    book = compile_text(RESTING)
    instruments = {"ADAUSDT": builtin_instruments(Market.USDM)["ADAUSDT"]}
    brackets = {"ADAUSDT": builtin_brackets(Market.USDM)["ADAUSDT"]}
    balances = {"USDT": D(10_000)}
    paper = paper_venue(book, instruments, brackets, balances, fee_rates=DEFAULT_FEE_RATES)
    venue = RefusesCancels(paper, code, refusals)
    engine = Engine(book, instruments, balances, brackets=brackets)
    journal: list[object] = []
    session = Session(engine, venue, journal=journal.append)
    session.start(T0)
    session.market(Trade("ADAUSDT", D("0.40"), D(1000), T0 + 1000, False, 1))
    (working,) = engine.open_orders("ADAUSDT")
    step = Step()
    step.commands.append(CancelOrder("ADAUSDT", working.client_order_id, T0 + 2000))
    session.process(step, T0 + 2000)
    for i in range(1, 21):  # 10 s of trades, every half second
        session.market(Trade("ADAUSDT", D("0.40"), D(1000), T0 + 2000 + 500 * i, False, 1 + i))
    notices = [r.message for r in journal if isinstance(r, rec.EngineNotice) and r.kind == "cancel-failed"]
    return engine, venue, notices, working.client_order_id


@pytest.mark.parametrize("code", [-1021, -1003, -1001, None])
def test_a_cancel_refused_without_being_executed_is_sent_again_with_back_off(code):
    engine, venue, notices, cid = run(code, refusals=2)
    # refused at +2 s, sent again 1 s later (refused), then 2 s after that: cancelled
    assert [t - T0 for t in venue.cancels] == [2000, 3000, 5000]
    assert engine.order(cid).status.value == "CANCELED"  # (the rule then bids again: a new order)
    assert len(notices) == 2 and "sent again in 1 s" in notices[0] and "sent again in 2 s" in notices[1]
    assert not engine.state.cancel_retries


@pytest.mark.parametrize("code", [-2011, -2013])
def test_a_cancel_refused_because_the_order_is_gone_is_not_sent_again(code):
    engine, venue, notices, cid = run(code, refusals=1)
    assert [t - T0 for t in venue.cancels] == [2000]
    assert len(notices) == 1 and "sent again" not in notices[0]
    assert engine.order(cid).is_open  # as the engine knows it: its own updates will tell


# A resting entry (the states hold `long`: a `goto` to a flat state would cancel it on its own), then
# once, on the next trade, `cancel: all`.
SWEEP_ONCE = """
rulebook: sweep-once
market: usdm
symbols: [ADAUSDT]
states:
  flat: {position: none}
  resting: {position: long}
  swept: {position: long}
rules:
  - name: bid
    on: trade
    in: flat
    do: [{enter: {side: long, size: "100 USDT", order: limit, price: "price * 0.5"}}, {stop_loss: {distance: 5%}},
         {goto: resting}]
  - name: sweep
    on: trade
    in: resting
    do: [{cancel: all}, {goto: swept}]
  - name: never
    on: trade
    in: [resting, swept]
    when: price > 100
    do: [exit]
"""
# Long with a stop; then, once, `cancel: all` and a new stop (sent first, the old one then cancelled
# on its own: stop_swap.py). A cancel-all sent again would take the new stop too.
RESTOP_ONCE = """
rulebook: restop-once
market: usdm
symbols: [ADAUSDT]
states:
  flat: {position: none}
  long: {position: long}
  swept: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "100 USDT"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sweep
    on: trade
    in: long
    do: [{cancel: all}, {stop_loss: {distance: 3%}}, {goto: swept}]
  - name: never
    on: trade
    in: [long, swept]
    when: price > 100
    do: [exit]
"""


class RefusesCancelAll(PaperVenue):
    """The paper venue, except that the first `refusals` cancels (one or all) are answered `code`."""

    def __init__(self, paper: PaperVenue, code: int | None, refusals: int) -> None:
        super().__init__(paper.sim, Market.USDM)
        self.code, self.refusals = code, refusals
        self.cancels: list[tuple[str, int]] = []  # what each cancel named (an id, or "all"), and when

    def execute(self, command: Command, time: int) -> SimResult:
        if isinstance(command, CancelOrder | CancelAllOrders):
            self.cancels.append((getattr(command, "client_order_id", "all"), time - T0))
            if len(self.cancels) <= self.refusals:
                return SimResult(False, self.code, "refused")
        return super().execute(command, time)


def sweep(text: str, code: int | None, refusals: int) -> tuple[Engine, RefusesCancelAll, list[str]]:
    """10 s of trades, every half second, on `text`; the notices of refused cancels."""
    book = compile_text(text)
    instruments = {"ADAUSDT": builtin_instruments(Market.USDM)["ADAUSDT"]}
    brackets = {"ADAUSDT": builtin_brackets(Market.USDM)["ADAUSDT"]}
    balances = {"USDT": D(10_000)}
    paper = paper_venue(book, instruments, brackets, balances, fee_rates=DEFAULT_FEE_RATES)
    venue = RefusesCancelAll(paper, code, refusals)
    engine = Engine(book, instruments, balances, brackets=brackets)
    journal: list[object] = []
    session = Session(engine, venue, journal=journal.append)
    session.start(T0)
    for i in range(1, 21):
        session.market(Trade("ADAUSDT", D("0.40"), D(1000), T0 + 500 * i, False, i))
    return engine, venue, [r.message for r in journal if isinstance(r, rec.EngineNotice) and r.kind == "cancel-failed"]


@pytest.mark.parametrize("code", [-1021, -1003, -1001, None])
def test_a_cancel_all_refused_is_sent_again_as_cancels_of_the_orders_it_was_asked_for(code):
    """The rule's `cancel: all` was refused: a `command-rejected` notice, nothing more, and the entry
    it gave up rested on the exchange for good. Each order it was asked for is now cancelled on its
    own, with the back-off of a refused cancel."""
    engine, venue, said = sweep(SWEEP_ONCE, code, refusals=2)
    entry = next(iter(engine.state.oms.orders))  # (once it is cancelled, the bot bids again)
    # swept at +1 s (refused), the entry's own cancel 1 s later (refused), then 2 s after that: cancelled
    assert venue.cancels[:3] == [("all", 1000), (entry, 2000), (entry, 4000)]
    assert (entry, 8000) not in venue.cancels  # cancelled, it is not sent again
    assert engine.order(entry).status.value == "CANCELED"
    assert venue.sim.order("ADAUSDT", entry).status.value == "CANCELED"
    assert engine.order(entry).cancel_reason == "rule sweep: cancel (sent again)"
    assert len(said) == 2 and said[0].startswith(f"cancel-all of ADAUSDT refused ({code}: refused)"), said
    assert f"1 order still works ({entry}): cancelled on its own in 1 s" in said[0], said
    assert "sent again in 2 s" in said[1]
    assert entry not in engine.state.cancel_retries


def test_a_cancel_all_sent_again_leaves_the_orders_placed_after_it():
    engine, venue, said = sweep(RESTOP_ONCE, -1001, refusals=1)
    _, old, new = engine.state.oms.orders  # the entry, its first stop, the stop placed after the cancel-all
    assert venue.cancels[0] == ("all", 1000) and ("all", 2000) not in venue.cancels
    assert {cid for cid, _ in venue.cancels[1:]} == {old}, venue.cancels
    assert engine.order(old).algo_status == "CANCELED"
    assert engine.order(new).is_open and venue.sim.algo_order("ADAUSDT", new).status == "NEW"
    assert said and said[0].startswith("cancel-all of ADAUSDT refused"), said


def test_a_refusal_heard_after_the_transports_tries_waits_its_back_off_from_then():
    """Live, the refusal comes after the transport's tries (5 of them for a 503, seconds): counted from
    when the cancel was decided, its "sent again in 1 s" was due at once."""
    engine, _, _, cid = run(-1001, refusals=100)  # refused every time: the order still works
    engine.state.cancel_retries.clear()
    now = engine.state.time
    assert cancel_retry.refused(engine.state, CancelOrder("ADAUSDT", cid, now - 3000), -1001, now - 3000) == 1000
    assert engine.state.cancel_retries[cid] == (1, now + 1000)
