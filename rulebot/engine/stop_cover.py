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
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import OrderType, PositionSide
from rulebot.core.instruments import Instrument
from rulebot.engine.oms import OrderManager, OrderRecord
from rulebot.engine.portfolio import PositionState
from rulebot.engine.state import Step

if TYPE_CHECKING:
    from rulebot.engine.engine import Engine

STOP_PURPOSES = frozenset({"stop_loss", "trailing_stop", "protective"})
STOPS, OWN_STOPS = STOP_PURPOSES, frozenset({"stop_loss", "trailing_stop"})
ZERO = Decimal(0)
_NOT_OWN = {"daily_cap", "protective"}
_STOP_MARKET, _MARKET = OrderType.STOP_MARKET, OrderType.MARKET  # slow Enum lookups on Python 3.11


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
