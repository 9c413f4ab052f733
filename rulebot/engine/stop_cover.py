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

from rulebot.core.enums import OrderType, PositionSide
from rulebot.core.instruments import Instrument
from rulebot.engine.oms import OrderManager
from rulebot.engine.portfolio import PositionState

STOP_PURPOSES = frozenset({"stop_loss", "trailing_stop", "protective"})
ZERO = Decimal(0)
_STOP_MARKET, _MARKET = OrderType.STOP_MARKET, OrderType.MARKET  # slow Enum lookups on Python 3.11


def short_by(oms: OrderManager, inst: Instrument, pos: PositionState, leg: PositionSide | None) -> Decimal | None:
    """None when a stop working (or on its way) closes all of the open position `pos` (on the hedge
    leg `leg`, when given); else the most any one of its stops closes (0: it has none)."""
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
        if record.purpose in STOP_PURPOSES or (
            cmd.close_position
            and cmd.order_type is _STOP_MARKET
            and record.purpose != "daily_cap"  # it moves with the day's PnL: not the position's stop
        ):
            if cmd.close_position or cmd.quantity is None or cmd.quantity >= need:
                return None
            most = max(most, cmd.quantity)
    return most
