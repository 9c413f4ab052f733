"""The order parameters the venue sends: per market (the algo service on USDⓈ-M, the plain
endpoint on COIN-M), per position mode, and priceProtect only when on."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from rulebot.binance.encode.requests import order_params
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import Market, OrderType, PositionSide, Side, WorkingType

D = Decimal


def stop(cid: str) -> PlaceOrder:
    return PlaceOrder(
        cid,
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        None,
        trigger_price=D(57000),
        close_position=True,
        working_type=WorkingType.MARK_PRICE,
    )


def test_order_params_per_market_and_mode():
    trail = PlaceOrder(
        "t1",
        "BTCUSDT",
        Side.SELL,
        OrderType.TRAILING_STOP_MARKET,
        D("0.01"),
        reduce_only=True,
        callback_rate=D("1.5"),
        activation_price=D(61000),
    )
    p, algo = order_params(trail, Market.USDM, hedge=False)
    assert algo and p["clientAlgoId"] == "t1" and p["activatePrice"] == D(61000) and p["reduceOnly"] is True
    p, algo = order_params(trail, Market.COINM, hedge=False)  # COIN-M: a plain order, its own names
    assert not algo and p["newClientOrderId"] == "t1" and p["activationPrice"] == D(61000)
    p, _ = order_params(stop("s1"), Market.USDM, hedge=False)
    assert p["triggerPrice"] == D(57000) and "stopPrice" not in p and "quantity" not in p
    p, _ = order_params(stop("s1"), Market.COINM, hedge=False)
    assert p["stopPrice"] == D(57000) and "triggerPrice" not in p
    hedged = PlaceOrder(
        "h1", "BTCUSDT", Side.SELL, OrderType.MARKET, D("0.01"), reduce_only=True, position_side=PositionSide.LONG
    )
    p, _ = order_params(hedged, Market.USDM, hedge=True)  # hedge mode refuses reduceOnly
    assert "reduceOnly" not in p and p["positionSide"] == "LONG"


def test_price_protect_is_sent_only_when_on():
    p, _ = order_params(stop("s1"), Market.USDM, hedge=False)
    assert "priceProtect" not in p
    p, _ = order_params(replace(stop("s1"), price_protect=True), Market.USDM, hedge=False)
    assert p["priceProtect"] is True
