"""A working stop moved to a new price with no moment unprotected (a reload, or a restart on a
changed rulebook, that changes the stop a rule names): the new stop is placed first, and the old
one cancelled only once the exchange has the new one working. Refused, the new stop is nothing and
the old one stays, and the journal says so. Both are close-position stops: whichever triggers first
closes the position, and the other is cancelled with it as any leftover stop is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rulebot.core.enums import OrderStatus
from rulebot.engine import records as rec
from rulebot.engine.oms import OrderRecord
from rulebot.engine.risk import Verdict
from rulebot.engine.sizing import SizingError
from rulebot.engine.state import Step
from rulebot.rulebook import compiled as c

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine

_NEW = OrderStatus.NEW


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
    st.swaps[cmd.client_order_id] = old.client_order_id
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


def settle(engine: Engine, record: OrderRecord, step: Step) -> None:
    """`record`'s word from the exchange: if it replaces a stop, the old one goes once it works, and
    stays (said so) when it never came to work."""
    st = engine.state
    old_id = st.swaps.get(record.client_order_id)
    if old_id is None:
        return
    old = st.oms.get(old_id)
    working = record.algo_status == "NEW" if record.algo_status is not None else record.status is _NEW
    if working:
        del st.swaps[record.client_order_id]
        gone: str | None = old_id
        while gone is not None:  # and what the replaced one was itself to replace (two reloads in a row)
            was = st.oms.get(gone)
            if was is not None and was.is_open and was.algo_status in (None, "NEW") and was.status in (None, _NEW):
                why = f"replaced by {record.client_order_id}, as the rulebook names it now"
                step.commands.append(st.oms.cancel(was, st.time, why))
            gone = st.swaps.pop(gone, None)
    elif not record.is_open:
        del st.swaps[record.client_order_id]
        for later, replaced in st.swaps.items():  # a stop that was to replace this one replaces `old` now
            if replaced == record.client_order_id:
                st.swaps[later] = old_id
        if old is not None and old.is_open:
            why = record.reject_reason or record.algo_status or (record.status.value if record.status else "")
            _say(engine, old, f"stays: its replacement {record.client_order_id} did not come to work ({why})", step)


def _say(engine: Engine, old: OrderRecord, what: str, step: Step) -> None:
    cmd = old.command
    step.records.append(
        rec.EngineNotice(
            engine.state.time,
            cmd.symbol,
            "reload-stop",
            f"{old.purpose} {old.client_order_id} (rule {old.rule}) at {cmd.trigger_price} {what}",
        )
    )
