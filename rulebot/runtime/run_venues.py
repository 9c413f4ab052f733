"""The two venues a running bot trades on, behind one protocol: the session loop (`session.py`)
does not know which it has.

* `PaperRunVenue` (dry-run): the exchange simulator answers each command at once, as in a
  backtest; what it changed in the paper account is saved (`paper_account.py`) on `release`,
  after the journal step that holds the commands is on disk: the saved account never holds an
  order the journal does not know.
* `LaneVenue` (live): `execute` holds the command and answers "sent"; `release`, called once
  the journal step is on disk (write-ahead), sends what was held. A command's answer can take
  seconds (a slow or held REST answer), and the engine's task must not wait for it: while it
  waits, no market event, no fill, no exit and no kill is processed, on any symbol. So commands
  go out in the background, one lane per symbol: a lane sends its commands one at a time, in
  the order the engine gave them (a stop never overtakes its entry, a cancel never overtakes its
  order), and hands each answer back as an `Outcome`, which the runner settles on the engine's
  task like any other event. Commands of no symbol (the position mode) are account setup and go
  out inline, before anything held after them.
  A cancel of an order still waiting in its lane (behind a slow answer, or held by a 429/418
  ban) withdraws it instead: it never leaves, and the cancel is answered at once with the
  CANCELED report Binance would have sent. An order already on the wire is canceled on Binance.
  A cancel of all the symbol's orders withdraws those waiting, and still goes to Binance.

A journal write that fails drops what was held (`forget`): nothing unjournaled is ever sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import CancelAllOrders, CancelOrder, Command, PlaceOrder
from rulebot.core.events import CandleClosed
from rulebot.runtime import paper_account
from rulebot.session import Reply, Venue
from rulebot.venues.binance.transport import Placement
from rulebot.venues.binance.venue import BinanceVenue, VenueResult
from rulebot.venues.paper import PaperVenue


@dataclass(frozen=True, slots=True)
class Outcome:
    """A venue's answer to a command sent in the background, to be settled on the engine's task."""

    command: Command
    result: VenueResult
    time: int  # the engine time of the step that sent it
    sent_at: int = 0  # when it left, on the exchange's clock (ms)
    # The venue's word in the exchange's place: the CANCELED of an order withdrawn before it left
    # (a cancel answered locally), which no user stream will ever send.
    report: AccountEvent | None = None


Settle = Callable[[Outcome], Awaitable[None]]


class RunVenue(Venue, Protocol):
    """A session's venue in a running bot: commands leave (or their effects are kept) only on
    `release`, after the journal step that holds them was written."""

    async def release(self, settle: Settle) -> None:
        """The journal step is written: send what was held (answers given inline go to `settle`)."""
        ...

    def forget(self) -> None:
        """The journal step could not be written: what it held must never leave."""
        ...

    def answered(self, outcome: Outcome) -> None:
        """An answer is being settled on the engine's task (it is no longer in flight)."""
        ...

    async def send_unjournaled(self, command: CancelOrder, time: int) -> bool:
        """A cancel with no journal row (the journal broke; a cancel cannot add to a position)."""
        ...

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every command sent has its answer (False if `timeout_s` passed first)."""
        ...

    async def close(self) -> None:
        """The run ends (after `drain`: what is still unanswered is abandoned)."""
        ...


@dataclass(frozen=True, slots=True)
class Held:
    """`LaneVenue.execute`'s answer: the command is held for `release`; its real answer comes later."""

    ok: bool = True
    code: int | None = None
    message: str | None = None
    events: Sequence[AccountEvent] = ()


_HELD = Held()


class PaperRunVenue:
    """The paper account of a dry-run: the simulator, and its file in the run directory."""

    def __init__(self, paper: PaperVenue, file: Path | None, symbols: Sequence[str]) -> None:
        self.paper = paper
        self.file = file  # None: kept in memory only
        self._symbols = tuple(symbols)
        self._dirty = False  # changed since it was last saved
        self._events = 0  # market events seen: trailing stops follow the market without a report
        self._frozen = False  # a journal write failed and the account could not be read back

    def on_market(self, event: object) -> Sequence[AccountEvent]:
        reports = self.paper.on_market(event)
        self._seen(bool(reports))
        return reports

    def walk(
        self, candle: CandleClosed, before: Callable[[int], None] | None = None
    ) -> Iterator[tuple[int, Decimal, Sequence[AccountEvent]]]:
        self._seen(False)
        for t, price, reports in self.paper.walk(candle, before):
            if reports:
                self._dirty = True
            yield t, price, reports

    def _seen(self, reported: bool) -> None:
        self._events += 1
        if reported or self._events % paper_account.SAVE_EVERY_EVENTS == 0:
            self._dirty = True  # fills, funding, liquidations; trailing stops follow the market

    def execute(self, command: Command, time: int) -> Reply:
        self._dirty = True
        return self.paper.execute(command, time)

    async def release(self, settle: Settle) -> None:
        if self._dirty:
            self.save()

    def save(self) -> None:
        """Keep the paper account in the run directory (atomically; see paper_account.py)."""
        self._dirty = False
        if self.file is not None and not self._frozen:
            paper_account.save(self.paper.sim, self.file)

    def forget(self) -> None:
        """The simulator ran commands the journal never got: go back to the account last saved,
        which the journal knows (or, if it cannot be read, never save again)."""
        self._dirty = False
        try:
            kept = paper_account.load(self.file, self._symbols) if self.file is not None else None
        except (OSError, paper_account.PaperAccountError):
            kept = None
        if kept is None:
            self._frozen = True
            return
        self.paper = PaperVenue(kept, kept.market)

    def answered(self, outcome: Outcome) -> None:
        return None  # the simulator answers at once: nothing is ever in flight

    async def send_unjournaled(self, command: CancelOrder, time: int) -> bool:
        return self.paper.execute(command, time).ok

    async def drain(self, timeout_s: float) -> bool:
        return True

    async def close(self) -> None:
        self.save()


class OrderLane:
    """One symbol's commands, sent one at a time in order; each answer goes to `deliver`. An order
    that has not left yet (queued, or waiting inside `execute` for a ban to end) can be withdrawn
    (`withdraw`): it is then never sent, and its answer is not delivered."""

    def __init__(self, venue: BinanceVenue, deliver: Callable[[Outcome], None]) -> None:
        self._venue = venue
        self._deliver = deliver
        self.queue: asyncio.Queue[tuple[Command, int]] = asyncio.Queue()
        self.placements: dict[str, tuple[PlaceOrder, Placement]] = {}  # the orders queued or being sent
        self._sending: tuple[str, asyncio.Task[VenueResult]] | None = None  # the order being sent now
        self.task = asyncio.create_task(self._run(), name="order-lane")

    def put(self, cmd: Command, t: int) -> None:
        if isinstance(cmd, PlaceOrder):
            self.placements[cmd.client_order_id] = (cmd, Placement())
        self.queue.put_nowait((cmd, t))

    def withdraw(self, client_order_id: str) -> PlaceOrder | None:
        """Keep the order from leaving, if it has not: the order withdrawn, or None (not here, or
        already on the wire: only Binance can cancel it now)."""
        held = self.placements.get(client_order_id)
        if held is None or held[1].withdrawn or not held[1].withdraw():
            return None
        if self._sending is not None and self._sending[0] == client_order_id:
            # It waits (a ban, a backoff), off the wire: stop the wait, so that what follows it
            # in the lane, and a shutdown's drain, do not wait for a request that will not go.
            self._sending[1].cancel()
        return held[0]

    def withdraw_all(self) -> list[PlaceOrder]:
        """`withdraw` every order here that has not left (a cancel of all the symbol's orders)."""
        return [order for order in map(self.withdraw, list(self.placements)) if order is not None]

    async def _run(self) -> None:
        venue = self._venue
        while True:
            cmd, t = await self.queue.get()
            try:
                cid = cmd.client_order_id if isinstance(cmd, PlaceOrder) else ""
                held = self.placements.get(cid) if cid else None
                placement = held[1] if held is not None else None
                if placement is not None and placement.withdrawn:
                    del self.placements[cid]
                    continue  # withdrawn while queued: it never leaves
                sent_at = venue.rest.now_ms()
                try:
                    job = asyncio.create_task(venue.execute(cmd, placement))
                    self._sending = (cid, job)
                    result = await job
                except asyncio.CancelledError:
                    if job.cancelled() and placement is not None and placement.withdrawn and not _cancelling():
                        continue  # withdrawn while it waited: answered when it was withdrawn
                    raise  # the lane itself is stopped
                except Exception as exc:  # execute() never raises for Binance or the network: a bug
                    result = VenueResult(False, None, f"{type(exc).__name__}: {exc}", unknown=True)
                finally:
                    self._sending = None
                    if placement is not None:
                        self.placements.pop(cid, None)
                if placement is not None and placement.withdrawn:
                    continue  # withdrawn while it waited (off the wire): answered when it was withdrawn
                self._deliver(Outcome(cmd, result, t, sent_at))
            finally:
                self.queue.task_done()


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class LaneVenue:
    """Binance, live: commands held until their journal step is written, then sent on the lanes."""

    def __init__(
        self,
        binance: BinanceVenue,
        on_outcome: Callable[[Outcome], None] | None = None,
        on_accepted: Callable[[PlaceOrder], None] | None = None,
    ) -> None:
        self.binance = binance
        self._on_accepted = on_accepted  # Binance took an order: the runner awaits its user-stream word
        # Answers that need the engine (a refusal, an unknown fate) go through the runner's queue;
        # None: every command is sent inline and settled at once.
        self._on_outcome = on_outcome
        self._held: list[tuple[Command, int]] = []
        self._lanes: dict[str, OrderLane] = {}
        # Client order ids sent in the background whose answer the engine has not settled yet,
        # and when an order of unknown fate left: a reconciliation must not take either for lost.
        self.in_flight: dict[str, int] = {}
        self.unknown_sent_at: dict[str, int] = {}

    def on_market(self, event: object) -> Sequence[AccountEvent]:
        return ()  # the exchange fills on its own; its reports come on the user stream

    def walk(
        self, candle: CandleClosed, before: Callable[[int], None] | None = None
    ) -> Iterator[tuple[int, Decimal, Sequence[AccountEvent]]]:
        return iter(())

    def execute(self, command: Command, time: int) -> Reply:
        self._held.append((command, time))
        return _HELD

    def forget(self) -> None:
        self._held.clear()

    async def release(self, settle: Settle) -> None:
        if not self._held:
            return
        held, self._held = self._held, []
        venue, queued = self.binance, False
        for cmd, t in held:
            symbol = getattr(cmd, "symbol", "")
            if self._on_outcome is None or not symbol:
                sent_at = venue.rest.now_ms()
                await settle(Outcome(cmd, await venue.execute(cmd), t, sent_at))
                continue
            lane = self._lanes.get(symbol)
            if lane is None:
                lane = self._lanes[symbol] = OrderLane(venue, self._answer)
            cid = getattr(cmd, "client_order_id", "")
            if isinstance(cmd, CancelOrder):
                withdrawn = lane.withdraw(cid)
                if withdrawn is not None:
                    self._answer_withdrawn(cmd, withdrawn, t)
                    continue  # Binance never had it: nothing to ask
            elif isinstance(cmd, CancelAllOrders):
                for order in lane.withdraw_all():  # and Binance cancels the orders it has, as before
                    self._answer_withdrawn(CancelOrder(symbol, order.client_order_id, t), order, t)
            if cid:
                self.in_flight[cid] = self.in_flight.get(cid, 0) + 1
            lane.put(cmd, t)
            queued = True
        if queued:
            await asyncio.sleep(0)  # the lanes start their requests now, not after the next event

    def _answer_withdrawn(self, cancel: CancelOrder, order: PlaceOrder, t: int) -> None:
        """Answered here, as Binance would have: the order's CANCELED, settled on the engine's task.
        The order stays in flight until then (its count is this cancel's to take)."""
        assert self._on_outcome is not None, "only lanes withdraw"
        now = self.binance.rest.now_ms()
        self._on_outcome(Outcome(cancel, VenueResult(True), t, now, self.binance.withdrawn_report(order, now)))

    def _answer(self, outcome: Outcome) -> None:
        """A lane's answer. Accepted (the common case): nothing for the engine to do, so it does not
        go through the runner's queue; a refusal or an unknown fate does, to be settled there."""
        if outcome.result.ok:
            self._landed(outcome.command)
            if self._on_accepted is not None and isinstance(outcome.command, PlaceOrder):
                self._on_accepted(outcome.command)
        elif self._on_outcome is not None:
            self._on_outcome(outcome)

    def _landed(self, cmd: Command) -> None:
        cid = getattr(cmd, "client_order_id", "")
        if cid in self.in_flight:
            self.in_flight[cid] -= 1
            if self.in_flight[cid] <= 0:
                del self.in_flight[cid]

    def answered(self, outcome: Outcome) -> None:
        self._landed(outcome.command)
        cid = getattr(outcome.command, "client_order_id", "")
        if outcome.result.unknown and cid:
            self.unknown_sent_at[cid] = outcome.sent_at

    async def send_unjournaled(self, command: CancelOrder, time: int) -> bool:
        lane = self._lanes.get(command.symbol)
        if lane is not None and lane.withdraw(command.client_order_id) is not None:
            self._landed(command)
            return True  # it never left: there is nothing on Binance to cancel
        return (await self.binance.execute(command)).ok

    async def drain(self, timeout_s: float) -> bool:
        joins = [asyncio.create_task(lane.queue.join()) for lane in self._lanes.values()]
        if not joins:
            return True
        _, pending = await asyncio.wait(joins, timeout=timeout_s)
        for task in pending:
            task.cancel()
        return not pending

    async def close(self) -> None:
        for lane in self._lanes.values():
            lane.task.cancel()
        for lane in self._lanes.values():
            with contextlib.suppress(asyncio.CancelledError):
                await lane.task
        self._lanes.clear()
