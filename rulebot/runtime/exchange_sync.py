"""Take Binance's word for a live account: open orders, positions and balances, and what became
of each order the engine tracks that is no longer open (it ended while the user stream was
down, and Binance replays no user events). At start, after a user-stream reconnect, and after
an order whose fate was unknown."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from rulebot.binance.codes import UnknownOrder
from rulebot.binance.encode.requests import uses_algo
from rulebot.binance.payloads.orders import AlgoOrderView, OrderView, parse_algo_order, parse_order
from rulebot.core.account_events import OrderUpdate
from rulebot.core.commands import PlaceOrder
from rulebot.journal.encode import status_row
from rulebot.runtime import recovery
from rulebot.runtime.executor import Executor
from rulebot.runtime.run_config import ForeignPolicy
from rulebot.runtime.run_venues import LaneVenue
from rulebot.venues.binance.venue import BinanceVenue, Reconciliation

OrderState = OrderView | AlgoOrderView

# An order sent less than this long ago may still reach Binance (a request is refused only once
# it is older than its recvWindow, 5 s by default): not finding it yet proves nothing.
IN_FLIGHT_MS = 6_000
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ExchangeState:
    snap: Reconciliation
    # every order asked about, by client order id → its state now; None: Binance does not have it
    orders: dict[str, OrderState | None]


async def read_exchange(venue: BinanceVenue, symbols: Iterable[str], tracked: Iterable[PlaceOrder]) -> ExchangeState:
    """The account now, and the state of each `tracked` order (the open ones from the open-order
    lists, the others looked up one by one by client order id)."""
    snap = await venue.reconcile(symbols)
    orders: dict[str, OrderState | None] = {o.client_order_id: o for o in snap.orders}
    orders.update({a.client_algo_id: a for a in snap.algo_orders})
    for cmd in tracked:
        if cmd.client_order_id not in orders:
            orders[cmd.client_order_id] = await _look_up(venue, cmd)
    return ExchangeState(snap, orders)


async def _look_up(venue: BinanceVenue, cmd: PlaceOrder) -> OrderState | None:
    try:
        if uses_algo(cmd, venue.market):  # the algo service holds these
            return parse_algo_order(await venue.rest.query_algo_order(cmd.symbol, cmd.client_order_id))
        return parse_order(await venue.rest.query_order(cmd.symbol, cmd.client_order_id))
    except UnknownOrder:
        return None


async def reconcile(
    desk: Executor,
    lanes: LaneVenue,
    symbols: Iterable[str],
    state: recovery.JournalState,
    why: str,
    foreign: ForeignPolicy = "keep",
    at_start: bool = False,
) -> list[str]:
    """Bring the engine in line with the exchange (adopting the open orders `state`, the journal,
    knows); the ids of orders sent too recently to be found yet are returned: look again later."""
    engine, venue = desk.engine, lanes.binance
    now = await read_exchange(venue, symbols, [r.command for r in engine.open_orders()])
    snap, t = now.snap, now.snap.time
    await desk.process(recovery.adopt(engine, snap, state, foreign, at_start), t)
    await desk.process(engine.on_event(snap.account), t)

    def reached_early(cid: str) -> bool:
        """The order reached the exchange before the open orders were read: its answer came back
        before, or its fate is unknown but it left too long ago to have still been on its way."""
        sent = lanes.unknown_sent_at.get(cid)
        return cid not in lanes.in_flight and (sent is None or t - sent >= IN_FLIGHT_MS)

    open_ids = {o.client_order_id for o in snap.orders}
    settled, pending, filled, held = 0, [], False, True
    for record in engine.open_orders():
        cid = record.client_order_id
        view = now.orders.get(cid)
        if view is not None:
            event = recovery.order_event(record, view)
            if event is not None:
                settled += 1
                if isinstance(event, OrderUpdate) and event.last_filled_qty > 0:
                    filled = True
                    # Its fills are in the positions read (read after the open orders) if it was open
                    # then, or not open because it was done by then.
                    held = held and (cid in open_ids or reached_early(cid))
                await desk.account(event, t)
        elif cid in lanes.in_flight or t - lanes.unknown_sent_at.get(cid, record.command.time) < IN_FLIGHT_MS:
            pending.append(cid)  # still on its way (its answer not in, or it left too recently)
        else:
            settled += 1
            gone = "Binance does not have it: it never arrived (found when reconciling)"
            await desk.order_refused(record.command, -2013, gone, t)
    if filled and held:
        # The account as read holds those fills: said again after them, so that the engine does not
        # wait for an account update of theirs that the exchange will never send (reports.py: a
        # reconciliation vouches for the fills the engine had heard of). A fill of an order maybe
        # still on its way is left to its own account update, or to the next reconciliation.
        await desk.account(snap.account, t)
    if state.unsettled:
        await _settle_unsent(desk, venue, state.unsettled, now.orders, t)
    positions = sum(1 for p in snap.account.positions if p.amount)
    summary = f"{len(snap.orders) + len(snap.algo_orders)} open orders, {positions} positions"
    await desk.note(t, "reconciled", f"{why}: {summary}, {settled} orders brought up to date")
    return pending


async def _settle_unsent(
    desk: Executor,
    venue: BinanceVenue,
    unsettled: list[tuple[PlaceOrder, str]],
    known: dict[str, OrderState | None],
    t: int,
) -> None:
    """Orders an earlier run journaled and never heard of again (it stopped between the
    write-ahead row and the answer): journal what the exchange says of each, so none keeps an
    empty status forever. The open ones were adopted above."""
    never = found = 0
    for cmd, run in unsettled:
        if cmd.client_order_id in known:
            continue
        view = await _look_up(venue, cmd)
        if view is None:
            never += 1
            why = "it never reached the exchange (the bot stopped after journaling it; found at restart)"
            await desk.journal.write(status_row(cmd, "REJECTED", why, t, code=-2013, of_run=run))
        else:
            found += 1
            status = view.status if isinstance(view, AlgoOrderView) else view.status.value
            filled = view.filled_qty if isinstance(view, OrderView) else ZERO
            why = "settled at restart from the exchange (its updates were never received)"
            await desk.journal.write(status_row(cmd, status, why, t, filled=filled, of_run=run))
    if never or found:
        await desk.note(
            t,
            "orders-settled",
            f"{never + found} orders of an earlier run had no status: {never} never "
            f"reached the exchange, {found} settled from what the exchange says",
        )
