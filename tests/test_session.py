"""The session loop, and the one policy for refused commands that every way of running shares."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import CancelOrder, Command
from rulebot.core.enums import Market, OrderStatus
from rulebot.core.events import Trade
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.exchange_sim import SimExchange, SimResult
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.session import Session
from rulebot.venues.paper import PaperVenue

T0 = 1_717_200_000_000

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


class RefusesCancels:
    """The paper venue, except that Binance answers every cancel with -2011 (the order is gone)."""

    def __init__(self, paper: PaperVenue) -> None:
        self.paper = paper
        self.on_market = paper.on_market
        self.walk = paper.walk

    def execute(self, command: Command, time: int) -> SimResult:
        if isinstance(command, CancelOrder):
            return SimResult(False, -2011, "Unknown order sent.")
        return self.paper.execute(command, time)


def session_on(venue_wrapper=None):
    book = compile_text(RESTING)
    instruments = {"ADAUSDT": builtin_instruments(Market.USDM)["ADAUSDT"]}
    brackets = {"ADAUSDT": builtin_brackets(Market.USDM)["ADAUSDT"]}
    balances = {"USDT": Decimal(10_000)}
    engine = Engine(book, instruments, balances, brackets=brackets)
    paper = PaperVenue(SimExchange(instruments, brackets, market=Market.USDM, balances=balances), Market.USDM)
    journal: list[object] = []
    venue = venue_wrapper(paper) if venue_wrapper else paper
    return Session(engine, venue, journal=journal.append), engine, journal


def trade(price: str, i: int) -> Trade:
    return Trade("ADAUSDT", Decimal(price), Decimal(1000), T0 + i * 1000, False, i)


def test_a_refused_cancel_leaves_the_order_as_the_engine_knows_it() -> None:
    session, engine, journal = session_on(RefusesCancels)
    session.start(T0)
    session.market(trade("0.40", 1))
    (working,) = engine.open_orders("ADAUSDT")
    session.process(_cancel_step(engine, working.client_order_id), T0 + 2000)
    after = engine.order(working.client_order_id)
    assert after is not None and after.is_open and after.status is OrderStatus.NEW  # not REJECTED: it may fill
    notices = [r for r in journal if isinstance(r, rec.EngineNotice) and r.kind == "cancel-failed"]
    assert len(notices) == 1 and "-2011" in notices[0].message


def test_commands_are_journaled_before_the_venue_answers_and_reports_after() -> None:
    session, engine, journal = session_on()
    session.start(T0)
    session.market(trade("0.40", 1))
    kinds = [type(x).__name__ for x in journal]
    first_order = next(i for i, x in enumerate(journal) if type(x).__name__ == "PlaceOrder")
    first_update = next(i for i, x in enumerate(journal) if type(x).__name__ == "OrderUpdate")
    assert first_order < first_update, kinds
    assert engine.open_orders("ADAUSDT")[0].status is OrderStatus.NEW


def _cancel_step(engine: Engine, cid: str):
    from rulebot.engine.engine import Step

    step = Step()
    step.commands.append(CancelOrder("ADAUSDT", cid, T0 + 2000))
    return step
