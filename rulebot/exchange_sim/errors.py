"""Binance's reject codes and messages for what the simulator refuses, raised as `Rejected`.

Codes and messages come from the one table, `rulebot.binance.codes.MESSAGES`.
"""

from __future__ import annotations

from rulebot.binance.codes import MESSAGES
from rulebot.core.order_filters import Violation

CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"


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
