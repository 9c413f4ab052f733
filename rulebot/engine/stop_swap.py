"""A working stop replaced with no moment unprotected: moved to a new price (a reload, or a restart
on a changed rulebook, that changes the stop a rule names), or replaced by one for a grown position
(an added entry that names its own stop, a trailing stop resized to the position). The new stop is
placed first, and the old one cancelled only once the exchange has the new one working. Refused,
the new stop is nothing and the old one stays (or goes with the position, when that is closed or
being closed: a new stop-loss refused because the price passed it closes it at market), and the
journal says so. Both are close-position (or reduce-only) stops: whichever triggers first closes the
position, and the other is cancelled with it as any leftover stop is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderStatus, PositionSide
from rulebot.engine import records as rec
from rulebot.engine.oms import OrderRecord
from rulebot.engine.risk import Verdict
from rulebot.engine.sizing import SizingError
from rulebot.engine.state import Step, Swap
from rulebot.rulebook import compiled as c

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine

_NEW = OrderStatus.NEW
_SWAPPED = frozenset({"stop_loss", "take_profit", "trailing_stop"})  # the purposes a stop is replaced new-first in


def swap(engine: Engine, old: OrderRecord, action: c.StopOrder, step: Step) -> None:
    """Place `action` (as `old`'s rule names it now) for the position `old` protects; `old` goes once
    the new stop works (`settle`). Nothing is placed when the new stop would be the very same."""
    st = engine.state
    symbol, rule = old.command.symbol, old.rule
    pos = st.portfolio.position(symbol, old.command.position_side)
    if pos.amount == 0:
        return
    try:
        intent = engine.protections.stop_intent(symbol, rule, action, pos)
    except (SizingError, ArithmeticError) as exc:
        _say(engine, old, f"it stays: the new {action.kind} has no valid price ({exc})", step)
        return
    if intent.trigger_price == old.command.trigger_price and intent.working_type is old.command.working_type:
        return
    cmd = st.oms.place_stop(intent, old.purpose)
    st.swaps[cmd.client_order_id] = Swap((old.client_order_id,))
    was = old.command.trigger_price
    step.records.append(
        rec.GuardRecord(
            st.time,
            symbol,
            rule,
            f"{old.purpose} {cmd.trigger_price}",
            (Verdict("allow", "reduce_only", f"replaces {old.client_order_id} at {was}: the rule names it anew"),),
            cmd.client_order_id,
        )
    )
    _say(
        engine,
        old,
        f"is replaced by {cmd.client_order_id} at {cmd.trigger_price}, as the rulebook names it now; "
        "cancelled once that one works",
        step,
    )
    engine.send(cmd, step)


def replaces(engine: Engine, new_id: str, olds: list[OrderRecord], why: str, kind: str = "replace-stop") -> None:
    """The stop `new_id`, just placed, replaces `olds` once it works (`settle`); `why` follows its id
    in their cancels' reason (": one stop_loss for the whole position"). A stop being replaced
    already is left to its replacement: it goes with that one (or with this one, if that one fails)."""
    st = engine.state
    going = replaced(engine)
    ids = tuple(o.client_order_id for o in olds if o.client_order_id not in going)
    if ids:
        st.swaps[new_id] = Swap(ids, why, kind)


def carry(engine: Engine, refused_id: str, new_id: str) -> None:
    """`new_id` is placed again for `refused_id` (a trailing stop whose activation price had passed):
    it replaces what that one was to replace."""
    swap = engine.state.swaps.pop(refused_id, None)
    if swap is not None:
        engine.state.swaps[new_id] = swap


def replaced(engine: Engine) -> set[str]:
    """The stops being replaced: cancelled once their replacements work."""
    return {old for swap in engine.state.swaps.values() for old in swap.olds}


def settle(engine: Engine, record: OrderRecord, step: Step) -> None:
    """`record`'s word from the exchange: if it replaces stops, they go once it works, and stay
    (said so) when it never came to work."""
    st = engine.state
    swap = st.swaps.get(record.client_order_id)
    if swap is None:
        return
    working = record.algo_status == "NEW" if record.algo_status is not None else record.status is _NEW
    if working:
        del st.swaps[record.client_order_id]
        why = f"replaced by {record.client_order_id}{swap.why}"
        gone = list(swap.olds)
        while gone:  # and what the replaced ones were themselves to replace (two replacements in a row)
            old_id = gone.pop(0)
            was = st.oms.get(old_id)
            if was is not None and was.is_open and was.untriggered:
                step.commands.append(st.oms.cancel(was, st.time, why))
            earlier = st.swaps.pop(old_id, None)
            if earlier is not None:
                gone.extend(earlier.olds)
    elif not record.is_open:
        del st.swaps[record.client_order_id]
        refused = record.client_order_id
        for later, other in list(st.swaps.items()):  # a stop that was to replace this one replaces its olds now
            if refused in other.olds:
                olds = tuple(o for o in other.olds if o != refused) + swap.olds
                st.swaps[later] = Swap(olds, other.why, other.kind)
        why = record.reject_reason or record.algo_status or (record.status.value if record.status else "")
        for old_id in swap.olds:
            old = st.oms.get(old_id)
            if old is not None and old.is_open:
                # A stop refused because the price passed it closes the position at market (exits.close_passed):
                # then the old stop does not stay, it is cancelled with the position.
                cmd = old.command
                fate = "goes with the position" if engine.exits.going(cmd.symbol, cmd.position_side) else "stays"
                what = f"{fate}: its replacement {refused} did not come to work ({why})"
                _say(engine, old, what, step, swap.kind)


def one_each(engine: Engine, step: Step) -> set[str]:
    """At a restart: of a position's stops of one purpose and tag on one leg (each covers the whole
    position, so they are one stop), the newest stays and the others are cancelled. Two work when
    the last run stopped in the middle of a replacement (its pending swaps are in memory only):
    after the new stop was placed and before the old one's cancel reached the exchange. The newest,
    the one placed last (adopted in the order the journal has them sent), is the one it was moving
    to; the position keeps it throughout. One that has triggered is closing the position: untouched.
    Returns the ids cancelled (still open until the exchange confirms: not to be moved meanwhile)."""
    st = engine.state
    cancelled: set[str] = set()
    for symbol in engine.symbol_names:
        same: dict[tuple[str, str | None, PositionSide], list[OrderRecord]] = {}
        for record in st.oms.open_orders(symbol):
            if record.purpose in _SWAPPED and record.untriggered:
                cmd = record.command
                same.setdefault((record.purpose, cmd.tag, cmd.position_side), []).append(record)
        for *older, kept in same.values():
            for old in older:
                why = f"one {old.purpose} for the position: {kept.client_order_id} (newer) is working"
                step.commands.append(st.oms.cancel(old, st.time, why))
                cancelled.add(old.client_order_id)
                said = (
                    f"is cancelled at the restart: {kept.client_order_id} {_where(kept.command)}, the newest of the "
                    "same purpose and tag on the position, works too (the last run stopped while replacing this one)"
                )
                _say(engine, old, said, step, "restart-stop")
    return cancelled


def _say(engine: Engine, old: OrderRecord, what: str, step: Step, kind: str = "reload-stop") -> None:
    cmd = old.command
    step.records.append(
        rec.EngineNotice(
            engine.state.time,
            cmd.symbol,
            kind,
            f"{old.purpose} {old.client_order_id} (rule {old.rule}) {_where(cmd)} {what}",
        )
    )


def _where(cmd: PlaceOrder) -> str:
    """A stop as the journal names it: at its trigger, or a trailing stop by its size and callback."""
    if cmd.trigger_price is not None:
        return f"at {cmd.trigger_price}"
    return f"for {cmd.quantity} trailing {cmd.callback_rate}%"
