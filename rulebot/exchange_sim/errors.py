"""Binance's reject codes and messages for what the simulator refuses, raised as `Rejected`.

Filter messages come from `rulebot.core.instruments.MESSAGES` (what `check_order` predicts);
the others are FACTS.md §8's wording, and -4120 is the text of payloads/rest_error_-4120.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from rulebot.core.instruments import MESSAGES as FILTER_MESSAGES
from rulebot.core.instruments import Violation

CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"

_OWN: dict[int, str] = {
    -1020: "This operation is not supported.",
    -1100: "Illegal characters found in a parameter.",
    -1106: "Parameter '%s' sent when not required.",
    -1121: "Invalid symbol.",
    -1130: "Data sent for parameter '%s' is not valid.",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2019: "Margin is insufficient.",
    -2021: "Order would immediately trigger.",
    -2022: "ReduceOnly Order is rejected.",
    -2027: "Exceeded the maximum allowable position at current leverage.",
    -2028: "Leverage is smaller than permitted: insufficient margin balance.",
    -4015: "Client order id length should not be more than 36 chars",
    -4028: "Leverage %s is not valid",
    -4046: "No need to change margin type.",
    -4047: "Margin type cannot be changed if there exists open orders.",
    -4048: "Margin type cannot be changed if there exists position.",
    -4059: "No need to change position side.",
    -4061: "Order's position side does not match user's setting.",
    -4067: "Position side cannot be changed if there exists open orders.",
    -4068: "Position side cannot be changed if there exists position.",
    -4116: "clientOrderId is duplicated",
    -4120: (
        "Order type not supported for this endpoint. "
        "Please use the Algo Order API endpoints instead."
    ),
    -4137: "Quantity must be zero with closePosition equals true",
    -4161: "Leverage reduction is not supported in Isolated Margin Mode with open positions",
    -5021: ("Due to the order could not be filled immediately, the FOK order has been rejected."),
    -5022: (
        "Due to the order could not be executed as maker, the Post Only order will be rejected."
    ),
}

MESSAGES: Mapping[int, str] = MappingProxyType({**FILTER_MESSAGES, **_OWN})
"""Every code the simulator answers with, and Binance's message template for it."""


class Rejected(Exception):
    """A command Binance would refuse: `code` and `message` are what its REST reply carries."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def rejected(code: int, *args: object) -> Rejected:
    """The `Rejected` for `code`, its message's `%s` filled with `args`."""
    template = MESSAGES[code]
    return Rejected(code, template % args if args else template)


def from_violation(violation: Violation) -> Rejected:
    """A filter violation from `check_order`, as the reject Binance sends for it."""
    return Rejected(violation.code, violation.message)
