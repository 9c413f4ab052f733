"""The session loop, and the one policy for refused commands that every way of running shares."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import CancelOrder, Command, PlaceOrder
from rulebot.core.enums import Market, OrderStatus, OrderType
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


# The entry's limit price crosses ADAUSDT's market (0.40: it fills as it is placed) and rests under
# SOLUSDT's (150): on one timer both symbols enter in one step, ADAUSDT's first.
HALT_ON_FILL = """
rulebook: halt-on-fill
market: usdm
symbols: [ADAUSDT, SOLUSDT]
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: buy
    on: every 1m
    in: flat
    do: [{enter: {side: long, size: "100 USDT", order: limit, price: "min(price * 1.01, 100)"}}, {goto: long}]
  - name: stop-on-fill
    on: fill
    do: [halt]
"""

# A market entry, then a market reduce whose step also moves the stop and adds a take-profit.
REDUCE_THEN_PROTECT = """
rulebook: reduce-then-protect
market: usdm
symbols: [ADAUSDT]
states:
  flat: {position: none}
  long: {position: long}
  trimmed: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "100 USDT"}}, {stop_loss: {distance: 5%%}}, {goto: long}]
  - name: trim
    on: trade
    in: long
    do: [{reduce: {by: 50%%}}, {stop_loss: {distance: 1%%}}, {take_profit: {distance: 2%%}}, {goto: trimmed}]
  - name: on-trimmed
    on: fill
    in: trimmed
    do: [%s]
"""

PRICES = {"ADAUSDT": "0.40", "SOLUSDT": "150"}


def run_book(text: str, seconds: int) -> tuple[Engine, SimExchange, list[object]]:
    """`text` on the paper venue, through a session, one trade a second on each of its symbols."""
    book = compile_text(text)
    symbols = list(book.symbols)
    instruments = {s: builtin_instruments(Market.USDM)[s] for s in symbols}
    brackets = {s: builtin_brackets(Market.USDM)[s] for s in symbols}
    balances = {"USDT": Decimal(10_000)}
    engine = Engine(book, instruments, balances, brackets=brackets)
    sim = SimExchange(instruments, brackets, market=Market.USDM, balances=balances)
    journal: list[object] = []
    session = Session(engine, PaperVenue(sim, Market.USDM), journal=journal.append)
    session.start(T0)
    for i in range(1, seconds + 1):
        for j, symbol in enumerate(symbols):
            session.market(Trade(symbol, Decimal(PRICES[symbol]), Decimal(1000), T0 + i * 1000 + j, False, i))
    return engine, sim, journal


def working(sim: SimExchange, symbol: str) -> list[str]:
    return [o.client_order_id for o in sim.open_orders(symbol)] + [
        o.client_algo_id for o in sim.open_algo_orders(symbol)
    ]


def test_a_halt_while_its_step_still_places_an_order_cancels_that_order_too() -> None:
    # ADAUSDT's fill (its reply, answered at once) halts the bot, which cancels everything, before
    # SOLUSDT's entry went out; live, that entry reaches the exchange first and the cancel-all takes it.
    engine, sim, journal = run_book(HALT_ON_FILL, 61)
    placed = [c for c in journal if isinstance(c, PlaceOrder) and c.symbol == "SOLUSDT"]
    assert len(placed) == 1 and engine.state.halted is not None
    assert working(sim, "SOLUSDT") == [] and engine.open_orders("SOLUSDT") == []
    assert working(sim, "ADAUSDT") == [] and sim.positions() == []


def test_a_rule_s_cancel_all_on_a_fill_takes_the_stop_and_take_profit_its_step_sends_after_that_fill() -> None:
    engine, sim, journal = run_book(REDUCE_THEN_PROTECT % "{cancel: all}", 3)
    assert engine.state.runs["ADAUSDT"].state == "trimmed"
    assert working(sim, "ADAUSDT") == [] and engine.open_orders("ADAUSDT") == []
    assert [r for r in journal if isinstance(r, rec.EngineNotice) and r.kind == "cancel-failed"] == []


def test_the_orders_a_cancel_all_s_own_step_places_after_it_stay() -> None:
    # `cancel: all` then a new stop-loss: the new stop is placed after the cancel-all and stays; the
    # stop-loss (replaced) and take-profit the reduce's step sent after the fill are canceled.
    engine, sim, journal = run_book(REDUCE_THEN_PROTECT % "{cancel: all}, {stop_loss: {distance: 3%}}", 3)
    (stop,) = [o for o in sim.open_algo_orders("ADAUSDT")]
    assert stop.trigger_price == Decimal("0.388")  # 3% under 0.40
    assert [o.client_order_id for o in engine.open_orders("ADAUSDT")] == [stop.client_algo_id]
    assert [r for r in journal if isinstance(r, rec.EngineNotice) and r.kind == "cancel-failed"] == []


def test_a_reply_s_later_reports_reach_the_engine_before_what_its_first_ones_asked_for() -> None:
    # The reduce's reply is its order's fill, then the account update (125 ADAUSDT left). The fill
    # halts the bot; its flatten closes the 125 on the venue. The reply's account update, if it reached
    # the engine after the flatten's own (0 left), put 125 back: the engine held a position the venue
    # did not have and sent reduce-only closes that were refused (-2022) every second.
    engine, sim, journal = run_book(REDUCE_THEN_PROTECT % "halt", 3)
    assert engine.state.halted is not None and sim.positions() == []
    assert engine.state.portfolio.net_amount("ADAUSDT") == 0
    # The flatten's own fill fires the `fill` rule again, before its account update: that second
    # halt cancels again but sends no second close, which the exchange refused (-2022): the first
    # one has filled, and its account update is on its way.
    refused = [r.message for r in journal if isinstance(r, rec.EngineNotice) and r.kind == "order-rejected"]
    assert refused == []
    closes = [c for c in journal if isinstance(c, PlaceOrder) and c.reduce_only and c.order_type is OrderType.MARKET]
    assert len(closes) == 2, closes  # the reduce's, then the flatten's
    assert working(sim, "ADAUSDT") == [] and engine.open_orders("ADAUSDT") == []
