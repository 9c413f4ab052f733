"""Binance's reject codes and the message it sends for each: the one table.

Every code rulebot predicts (the order filters of `order_filters.check_order`), simulates
(`exchange_sim`, the fake exchange) or explains is here with Binance's wording: FACTS.md §8,
Binance's error-code page for -4001/-4002/-4006/-4007 (which §8 leaves out), and the text of the
captured payloads (rest_error_-4003.json, rest_error_-4120.json). It lives in `core` because the
engine's exchange-filter guard quotes these messages; `binance.codes` maps the codes to the
exception families a venue branches on.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

REJECT_MESSAGES: Mapping[int, str] = MappingProxyType(
    {
        -1020: "This operation is not supported.",
        -1100: "Illegal characters found in a parameter.",
        -1102: "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
        -1106: "Parameter '%s' sent when not required.",
        -1111: "Precision is over the maximum defined for this asset.",
        -1115: "Invalid timeInForce.",
        -1116: "Invalid orderType.",
        -1121: "Invalid symbol.",
        -1130: "Data sent for parameter '%s' is not valid.",
        -2011: "Unknown order sent.",
        -2013: "Order does not exist.",
        -2019: "Margin is insufficient.",
        -2021: "Order would immediately trigger.",
        -2022: "ReduceOnly Order is rejected.",
        -2025: "Reach max open order limit.",
        -2027: "Exceeded the maximum allowable position at current leverage.",
        -2028: "Leverage is smaller than permitted: insufficient margin balance.",
        -4001: "Price less than 0.",
        -4002: "Price greater than max price.",
        -4003: "Quantity less than or equal to zero.",  # live wording (rest_error_-4003.json)
        -4004: "Quantity less than min quantity.",
        -4005: "Quantity greater than max quantity.",
        -4006: "Stop price less than zero.",
        -4007: "Stop price greater than max price.",
        -4013: "Price less than min price.",
        -4014: "Price not increased by tick size.",
        -4015: "Client order id length should not be more than 36 chars",
        -4016: "Price is higher than mark price multiplier cap.",
        -4023: "Qty not increased by step size.",
        -4024: "Price is lower than mark price multiplier floor.",
        -4028: "Leverage %s is not valid",
        -4045: "Reach max stop order limit.",
        -4046: "No need to change margin type.",
        -4047: "Margin type cannot be changed if there exists open orders.",
        -4048: "Margin type cannot be changed if there exists position.",
        -4059: "No need to change position side.",
        -4061: "Order's position side does not match user's setting.",
        -4067: "Position side cannot be changed if there exists open orders.",
        -4068: "Position side cannot be changed if there exists position.",
        -4116: "clientOrderId is duplicated",
        -4120: "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
        # Live wording ends with a period (ccxt/ccxt#21792, sammchardy/python-binance#1031); FACTS §8
        # lists it without.
        -4131: "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
        -4137: "Quantity must be zero with closePosition equals true",
        -4161: "Leverage reduction is not supported in Isolated Margin Mode with open positions",
        -4164: "Order's notional must be no smaller than %s (unless you choose reduce only).",
        -5021: "Due to the order could not be filled immediately, the FOK order has been rejected.",
        -5022: "Due to the order could not be executed as maker, the Post Only order will be rejected.",
    }
)
