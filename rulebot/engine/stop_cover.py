"""How much of a position its stops close, should they trigger: the protective-stop guard's question.

A close-position stop (a rule's stop-loss, the guard's own) closes all of the position; a trailing
stop closes the quantity it was placed with. Placed for a position that has grown since, it covers
less than the position until `Protections.cover` resizes it, and a resize the exchange refuses (-4045,
too many stop orders) leaves it short until the next account report, which a sitting position may
never bring. A stop that closes less than the position is therefore not the position's stop: the
guard's countdown runs, and its own close-position stop covers what the trailing stop does not.
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
    need = inst.round_qty(pos.size, _MARKET)  # what a stop for all of it is sized to (`cover`)
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
            if cmd.close_position or cmd.quantity is None or cmd.quantity >= need:
                return None
            most = max(most, cmd.quantity)
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
