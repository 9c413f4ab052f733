"""How much of a position its stops close, should they trigger: the protective-stop guard's question.

A close-position stop (a rule's stop-loss, the guard's own) closes all of the position; a trailing
stop closes the quantity it was placed with. Placed for a position that has grown since, it covers
less than the position until `Protections.cover` resizes it, and a resize the exchange refuses (-1008,
overloaded) leaves it short until the next account report, which a sitting position may never
bring. A stop that closes less than the position is therefore not the position's stop: the guard's
countdown runs, and its own close-position stop covers what the trailing stop does not (`stand_down`
cancels it once the rule's own stops cover all again). A resize refused for want of room (-4045,
too many stop orders) would leave the guard's stop no room either: the small trailing stop makes room
for it (`make_room`).

A stop that stops working while the position is open (a rule's `cancel`, the exchange cancelling,
expiring or rejecting it on its own, its triggered order expiring unfilled) starts the countdown
again: `how_ended` says how, for the journal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import OrderStatus, OrderType, PositionSide
from rulebot.core.instruments import Instrument
from rulebot.engine import records as rec
from rulebot.engine.binding import retry_delay_ms
from rulebot.engine.oms import OrderManager, OrderRecord
from rulebot.engine.portfolio import PositionState
from rulebot.engine.state import Step

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine
    from rulebot.engine.state import SymbolRun

STOP_PURPOSES = frozenset({"stop_loss", "trailing_stop", "protective"})
STOPS, OWN_STOPS = STOP_PURPOSES, frozenset({"stop_loss", "trailing_stop"})
ZERO = Decimal(0)
_NOT_OWN = {"daily_cap", "protective"}
_STOP_MARKET, _MARKET = OrderType.STOP_MARKET, OrderType.MARKET  # slow Enum lookups on Python 3.11
_FILLED = OrderStatus.FILLED
# A stop's own status (a plain order's, or the order its algo order placed once triggered) while it
# still closes the position: working, or filled (the account update closing the position follows).
# Past them (its triggered order expired, cancelled, rejected) it closes nothing, though its algo
# order is TRIGGERED until the exchange says FINISHED.
COVERING = frozenset({None, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, _FILLED})
_PAST = {"CANCELED": "cancelled", "EXPIRED": "expired", "EXPIRED_IN_MATCH": "expired", "REJECTED": "rejected"}


def short_by(
    oms: OrderManager, inst: Instrument, pos: PositionState, leg: PositionSide | None, purposes: frozenset[str] = STOPS
) -> Decimal | None:
    """None when a stop working (or on its way) closes all of the open position `pos` (on the hedge
    leg `leg`, when given); else the most any one of its stops closes (0: it has none). `purposes`:
    the stops that count (the rule's own, without the guard's: `OWN_STOPS`)."""
    direction = pos.direction
    if direction is None:
        return None
    exit_side = direction.exit_side
    need: Decimal | None = None  # what a stop for all of it is sized to (`cover`), once one has a quantity
    most = ZERO
    for record in oms.open_orders(pos.symbol):
        cmd = record.command
        if leg is not None and cmd.position_side is not leg:
            continue
        if cmd.side is not exit_side:
            continue  # left from a position turned since: it would open, not close
        if record.status not in COVERING:
            continue  # triggered, its order ended unfilled: it closes nothing now
        if record.purpose in purposes or (
            cmd.close_position
            and cmd.order_type is _STOP_MARKET
            and record.purpose not in _NOT_OWN  # the cap's moves with the day's PnL: not the position's stop
        ):
            qty = cmd.quantity
            if cmd.close_position or qty is None:
                return None
            if need is None:
                need = inst.round_qty(pos.size, _MARKET)
            if qty >= need:
                return None
            most = max(most, qty)
    return most


def bare(engine: Engine, symbol: str, leg: PositionSide | None = None) -> tuple[PositionState, ...]:
    """The symbol's open positions with no stop working on all of it (a trailing stop sized before it grew
    covers part): one-way, the one; in hedge mode each leg needs its own (a long leg's stop leaves the
    short one bare), and each counts down on its own (`leg`: that leg only)."""
    st = engine.state
    inst = engine.instruments[symbol]
    if not engine.hedge:
        pos = st.portfolio.net_position(symbol)
        return () if pos.amount == 0 or short_by(st.oms, inst, pos, None) is None else (pos,)
    if leg is not None:
        pos = st.portfolio.position(symbol, leg)
        return () if pos.amount == 0 or short_by(st.oms, inst, pos, leg) is None else (pos,)
    return tuple(
        pos
        for (s, side), pos in st.portfolio.positions.items()
        if s == symbol and pos.amount != 0 and short_by(st.oms, inst, pos, side) is not None
    )


def countdown_ends(run: SymbolRun, leg: PositionSide) -> None:
    """A stop for all of the position (hedge mode: the leg `leg`) is on its way: its countdown ends."""
    guard = run.guard
    if guard.protect_due.pop(leg, None) is not None:
        guard.due_again()


def guard_refused(engine: Engine, record: OrderRecord, code: int | None) -> None:
    """`record`, the guard's own stop, was refused by the exchange (overloaded, say): the position has
    waited its countdown already, so the stop is tried again after a short wait that grows with each
    refusal in a row (`retry_delay_ms`: 1 s, 2 s, 4 s ... a minute), not a whole countdown later."""
    st = engine.state
    cmd = record.command
    symbol, leg = cmd.symbol, cmd.position_side
    run = st.runs.get(symbol)
    if run is None or st.portfolio.position(symbol, leg).amount == 0:
        return
    guard = run.guard
    tries = guard.protect_refused[leg] = guard.protect_refused.get(leg, 0) + 1
    wait = retry_delay_ms(tries)
    guard.protect_due[leg] = (
        st.time + wait,
        f"its protective stop {record.client_order_id} was refused ({code})",
        wait,
    )
    guard.due_again()
    engine.clock.update_next_protect()


def guard_accepted(engine: Engine, record: OrderRecord) -> None:
    """`record`, the guard's own stop, works: the next refusal waits the shortest again."""
    run = engine.state.runs.get(record.command.symbol)
    if run is not None:
        run.guard.protect_refused.pop(record.command.position_side, None)


def is_stop(record: OrderRecord) -> bool:
    """Whether `short_by` counts `record` as a stop of its position (the cap's is not)."""
    cmd = record.command
    return record.purpose in STOPS or (
        cmd.close_position and cmd.order_type is _STOP_MARKET and record.purpose not in _NOT_OWN
    )


def how_ended(record: OrderRecord, status: str, reason: str | None) -> str | None:
    """How `record`, a stop that ended with `status` (its algo order's, or its own order's), stopped
    working, for the journal; None when it filled (it closed what it was for: the account update says
    how much is left)."""
    if status == "FINISHED" or record.algo_status == "TRIGGERED":  # the order it placed ended
        child = record.status
        if child is None or child is _FILLED:
            return None
        return f"triggered but its order {_PAST.get(child.value, child.value.lower())}"
    if status == "CANCELED" and record.cancel_reason:
        return f"was cancelled ({record.cancel_reason})"
    past = _PAST.get(status, status.lower())
    return f"was {past} by the exchange" + (f" ({reason})" if reason else "")


def lost(engine: Engine, record: OrderRecord, how: str, step: Step) -> None:
    """`record`, a stop of the position, stopped working (`how`: "was cancelled (rule tidy: cancel)"):
    with no other stop for all of the position, the guard's countdown starts now, and the journal
    says why. Reports of a stop's end are few: this runs on them only."""
    st = engine.state
    cmd = record.command
    symbol, leg = cmd.symbol, cmd.position_side
    run = st.runs.get(symbol)
    # The position it closed: in hedge mode its leg, whatever the other leg holds or counts down.
    if run is None or leg in run.guard.protect_due or st.portfolio.position(symbol, leg).amount == 0:
        return  # not ours, counting down already, or it went with the position
    why = f"its stop {record.client_order_id} {how}"
    engine.protections.refresh(symbol, why)
    if leg in run.guard.protect_due and run.exiting is None:  # not while it is being closed
        within = engine.book.risk.protective_stop_within_ms / 1000
        step.records.append(
            rec.EngineNotice(
                st.time,
                symbol,
                "stop-lost",
                f"{why}: the position has no stop for all of it; the protective stop goes out in "
                f"{within:g}s unless one works by then",
            )
        )


def stand_down(engine: Engine, record: OrderRecord, step: Step) -> None:
    """`record`, a trailing stop, works now: if it was a resize, the guard's stop placed while the
    trailing stop covered part of the position goes once the rule's own stops cover all of it again.
    Kept, it would close the position where the rule did not ask (a trail wider than its distance),
    and hold one of the symbol's few stop orders (-4045 at the next resize)."""
    st = engine.state
    cmd = record.command
    pos = st.portfolio.position(cmd.symbol, cmd.position_side)
    guards = [o for o in st.oms.open_orders(cmd.symbol) if o.purpose == "protective" and o.untriggered]
    if not guards or pos.amount == 0:
        return
    leg = cmd.position_side if engine.hedge else None
    if short_by(st.oms, engine.instruments[cmd.symbol], pos, leg, OWN_STOPS) is not None:
        return
    why = f"{record.purpose} {record.client_order_id} covers all {pos.size} of the position again"
    for guard in guards:
        if leg is None or guard.command.position_side is leg:
            step.commands.append(st.oms.cancel(guard, st.time, why))


def make_room(engine: Engine, refused: OrderRecord, code: int | None, step: Step) -> bool:
    """`refused`, a trailing stop for a grown position, was refused because the symbol holds as many
    stop orders as the exchange allows (-4045): while the small trailing stop it was to replace holds
    its place, neither it nor the guard's own stop can go out, and the grown part stays bare for good.
    So the small one is cancelled first and the resized one placed again after it (the session sends
    a symbol's commands one at a time, each once the last is answered): the position is bare for that
    round trip. True when it did; False when `refused` replaced no small trailing stop still waiting."""
    st = engine.state
    swap = st.swaps.get(refused.client_order_id)
    was = refused.command
    pos = st.portfolio.position(was.symbol, was.position_side)
    direction = pos.direction
    if swap is None or direction is None or was.side is not direction.exit_side:
        return False
    olds = [st.oms.get(old_id) for old_id in swap.olds]
    small = [o for o in olds if o is not None and o.purpose == "trailing_stop" and o.is_open and o.untriggered]
    if not small:
        return False
    del st.swaps[refused.client_order_id]  # they go now, not once it works: nothing stays
    ids = ", ".join(o.client_order_id for o in small)
    why = f"cancelled before its resize {refused.client_order_id} goes out again: no room for another stop ({code})"
    for old in small:
        step.commands.append(st.oms.cancel(old, st.time, why))
    qty = engine.instruments[was.symbol].round_qty(pos.size, _MARKET)
    again = f"trailing_stop {qty}: placed again once {ids} makes room ({code})"
    engine.protections.trail_again(refused, direction, was.activation_price, qty, again, step)
    return True
