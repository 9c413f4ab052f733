"""Engine commands as the request parameters Binance takes: the order endpoints' fields.

USDⓈ-M conditional orders go to the algo service (`POST /fapi/v1/algoOrder`: `clientAlgoId`,
`triggerPrice`, `activatePrice`, FACTS §0); COIN-M keeps them on the plain order endpoint
(`newClientOrderId`, `stopPrice`, `activationPrice`). Values stay Decimals: the transport prints
them when it signs the query.
"""

from __future__ import annotations

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import Market


def uses_algo(cmd: PlaceOrder, market: Market) -> bool:
    """Whether Binance holds the order in its algo service: a USD-M conditional one (FACTS §0)."""
    return cmd.is_conditional and market is Market.USDM


def order_params(cmd: PlaceOrder, market: Market, hedge: bool) -> tuple[dict[str, object], bool]:
    """REST parameters for a PlaceOrder, and whether it goes to the algo service."""
    algo = uses_algo(cmd, market)
    p: dict[str, object] = {
        "symbol": cmd.symbol,
        "side": cmd.side.value,
        "positionSide": cmd.position_side.value,
        "type": cmd.order_type.value,
    }
    if cmd.close_position:
        p["closePosition"] = True
    elif cmd.quantity is not None:
        p["quantity"] = cmd.quantity
    if cmd.reduce_only and not hedge and not cmd.close_position:
        p["reduceOnly"] = True  # hedge mode refuses reduceOnly: the side and positionSide say it
    if cmd.price is not None:
        p["price"] = cmd.price
    if cmd.time_in_force is not None:
        p["timeInForce"] = cmd.time_in_force.value
    if cmd.is_conditional:
        p["workingType"] = cmd.working_type.value
        if cmd.trigger_price is not None:
            p["triggerPrice" if algo else "stopPrice"] = cmd.trigger_price
        if cmd.callback_rate is not None:
            p["callbackRate"] = cmd.callback_rate
        if cmd.activation_price is not None:
            p["activatePrice" if algo else "activationPrice"] = cmd.activation_price
        if cmd.price_protect:
            p["priceProtect"] = True  # sent only when on: FALSE is Binance's default
    p["clientAlgoId" if algo else "newClientOrderId"] = cmd.client_order_id
    return p, algo
