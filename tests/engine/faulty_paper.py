"""The engine over the real exchange simulator, with the faults a live account has: commands the
exchange refuses, and reports held back (a stalled user stream) then delivered in a burst.

It wires engine and simulator as the executor does (each step's commands in order, what the
venue reports handed back at once, a refusal to `on_reject`), so that a test controls exactly
when the engine learns what the exchange did.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import MarginType, Market
from rulebot.core.events import Trade
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.exchange_sim import SimExchange
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.venues.paper import PaperVenue

T0 = 1_795_000_000_000
Refusal = tuple[int, str]


class FaultyPaper:
    def __init__(self, text: str, balance: int = 10_000) -> None:
        book = compile_text(text)
        insts, brackets = builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)
        self.symbol = book.symbols[0]
        self.sim = SimExchange(
            {s: insts[s] for s in book.symbols},
            {s: brackets[s] for s in book.symbols},
            market=Market.USDM,
            balances={"USDT": Decimal(balance)},
            default_leverage=book.leverage,
            default_margin_type=MarginType.ISOLATED,
        )
        self.paper = PaperVenue(self.sim, Market.USDM)
        self.engine = Engine(book, insts, {"USDT": Decimal(balance)}, run_id="t", brackets=brackets)
        self.refuse: Callable[[PlaceOrder], Refusal | None] = lambda cmd: None
        self.stalled = False  # the user stream holds its reports back
        self.held: list[object] = []
        self.records: list[object] = []
        self.placed: list[PlaceOrder] = []  # every order the exchange accepted
        self.sent_ids: list[str] = []  # every client order id that left, accepted or not
        self.max_position = Decimal(0)
        self.time = T0

    # -- inputs ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.process(self.engine.start(self.time))

    def trade(self, price: float, dt_ms: int = 1000) -> None:
        self.time += dt_ms
        event = Trade(self.symbol, Decimal(str(price)), Decimal(1), self.time, True, self.time)
        self.report(self.paper.on_market(event))
        self.process(self.engine.on_event(event))

    def release(self) -> None:
        """The stalled stream comes back: everything it held arrives at once."""
        self.stalled = False
        held, self.held = self.held, []
        self.report(held)

    # -- wiring ----------------------------------------------------------------------------------

    def report(self, events: list[object]) -> None:
        for ev in events:
            if self.stalled:
                self.held.append(ev)
            else:
                self.process(self.engine.on_event(ev))

    def process(self, step: Step) -> None:
        self.records.extend(step.records)
        for cmd in step.commands:
            refusal = None
            if isinstance(cmd, PlaceOrder):
                self.sent_ids.append(cmd.client_order_id)
                refusal = self.refuse(cmd)
            if refusal is not None:
                self.process(self.engine.on_reject(cmd.client_order_id, refusal[0], refusal[1], self.time))
                continue
            res = self.paper.execute(cmd, self.time)
            if isinstance(cmd, PlaceOrder) and res.ok:
                self.placed.append(cmd)
            self.note_position()
            self.report(list(res.events))
            if not res.ok and isinstance(cmd, PlaceOrder):
                self.process(self.engine.on_reject(cmd.client_order_id, res.code, res.message or "", self.time))

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
