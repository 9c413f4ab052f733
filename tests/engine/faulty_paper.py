"""The engine over the real exchange simulator, with the faults a live account has: commands the
exchange refuses, and reports held back (a stalled user stream) then delivered in a burst, in the
order the exchange sent them or with order and account reports interleaved otherwise (Binance
orders each event type on its own, not one type against the other).

It runs the one session loop (`rulebot.session.Session`, as backtest, dry-run and live do) on
the paper venue, wrapped to refuse what a test says and to hold reports back, so that a test
controls exactly when the engine learns what the exchange did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from decimal import Decimal

from rulebot.core.account_events import AccountEvent, AccountUpdate
from rulebot.core.commands import Command, PlaceOrder
from rulebot.core.enums import MarginType
from rulebot.core.events import CandleClosed, Trade
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.exchange_sim import SimExchange, SimResult
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.session import Session
from rulebot.testing.fake_binance import account_before_fill
from rulebot.venues.paper import PaperVenue

T0 = 1_795_000_000_000
Refusal = tuple[int, str]


class FaultyVenue:
    """The paper venue with a live account's faults: refusals chosen by the test, and a user
    stream that holds its reports back while `stalled`."""

    def __init__(self, owner: FaultyPaper, paper: PaperVenue) -> None:
        self.owner = owner
        self.paper = paper

    def on_market(self, event: object) -> list[AccountEvent]:
        return self.owner.stall(self.paper.on_market(event))

    def walk(self, candle: CandleClosed) -> Iterator[tuple[int, Decimal, list[AccountEvent]]]:
        for t, price, events in self.paper.walk(candle):
            yield t, price, self.owner.stall(events)

    def execute(self, command: Command, time: int) -> SimResult:
        owner = self.owner
        owner.sent.append(command)
        if isinstance(command, PlaceOrder):
            owner.sent_ids.append(command.client_order_id)
            refusal = owner.refuse(command)
            if refusal is not None:
                return SimResult(False, refusal[0], refusal[1])
        res = self.paper.execute(command, time)
        if isinstance(command, PlaceOrder) and res.ok:
            owner.placed.append(command)
        owner.note_position()
        events = list(res.events)
        if owner.account_before_fill:
            events = account_before_fill(events)
        return replace(res, events=tuple(owner.stall(events)))


class FaultyPaper:
    def __init__(self, text: str, balance: int = 10_000) -> None:
        book = compile_text(text)
        market = book.market_type
        insts, brackets = builtin_instruments(market), builtin_brackets(market)
        self.symbol = book.symbols[0]
        balances = {insts[self.symbol].margin_asset: Decimal(balance)}
        self.sim = SimExchange(
            {s: insts[s] for s in book.symbols},
            {s: brackets[s] for s in book.symbols},
            market=market,
            balances=balances,
            default_leverage=book.leverage,
            default_margin_type=MarginType.ISOLATED,
        )
        self.paper = PaperVenue(self.sim, market)
        self.engine = Engine(book, insts, balances, run_id="t", brackets=brackets)
        self.refuse: Callable[[PlaceOrder], Refusal | None] = lambda cmd: None
        self.stalled = False  # the user stream holds its reports back
        # Each fill's account update sent before its order report (the simulator sends it after;
        # Binance has been seen to do either, with the same transaction time on both).
        self.account_before_fill = False
        self.held: list[AccountEvent] = []
        self.records: list[object] = []  # what the session journaled
        self.placed: list[PlaceOrder] = []  # every order the exchange accepted
        self.sent_ids: list[str] = []  # every client order id that left, accepted or not
        self.sent: list[Command] = []  # every command that left, in order, accepted or not
        self.max_position = Decimal(0)
        self.time = T0
        self.session = Session(self.engine, FaultyVenue(self, self.paper), journal=self.records.append)

    # -- inputs ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.process(self.engine.start(self.time))

    def trade(self, price: float, dt_ms: int = 1000, qty: str = "1") -> None:
        self.time += dt_ms
        self.session.market(Trade(self.symbol, Decimal(str(price)), Decimal(qty), self.time, True, self.time))

    def release(self, account_first: Iterable[bool] | None = None) -> None:
        """The stalled stream comes back: everything it held arrives at once. With `account_first`,
        the account updates and the other reports arrive interleaved as it says (True: the next
        account update, False: the next other report), each kind in the order it was sent."""
        self.stalled = False
        held, self.held = self.held, []
        if account_first is not None:
            held = interleave(held, account_first)
        self.session.reports(held, self.time)

    # -- wiring ----------------------------------------------------------------------------------

    def report(self, events: list[AccountEvent]) -> None:
        """Reports reach the engine (or are kept while the stream is stalled)."""
        self.session.reports(self.stall(list(events)), self.time)

    def stall(self, events: list[AccountEvent]) -> list[AccountEvent]:
        """What reaches the engine now: nothing while the stream is stalled (it is kept)."""
        if self.stalled:
            self.held.extend(events)
            return []
        return events

    def process(self, step: Step) -> None:
        self.session.process(step, self.time)

    def note_position(self) -> None:
        for p in self.sim.positions(self.symbol):
            self.max_position = max(self.max_position, abs(p.amount))

    # -- views -----------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self.engine.symbol_state(self.symbol)

    @property
    def position(self) -> Decimal:
        return sum((p.amount for p in self.sim.positions(self.symbol)), Decimal(0))

    def entries(self) -> list[PlaceOrder]:
        return [c for c in self.placed if not c.reduce_only and not c.close_position and not c.is_conditional]

    def notices(self, kind: str) -> list[str]:
        return [r.message for r in self.records if isinstance(r, rec.EngineNotice) and r.kind == kind]

    def states(self) -> list[tuple[str, str, str]]:
        return [(r.from_state, r.to_state, r.why) for r in self.records if isinstance(r, rec.StateChange)]


def interleave(events: list[AccountEvent], account_first: Iterable[bool]) -> list[AccountEvent]:
    """The account updates and the other reports merged as `account_first` picks (the rest of
    either kind follows in order once the picks or the other kind run out)."""
    accounts = [e for e in events if isinstance(e, AccountUpdate)]
    others = [e for e in events if not isinstance(e, AccountUpdate)]
    merged: list[AccountEvent] = []
    for pick in account_first:
        source = accounts if pick else others
        if not source:
            break
        merged.append(source.pop(0))
    return merged + others + accounts
