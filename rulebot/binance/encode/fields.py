"""How Binance prints a field: decimals as plain strings, enums by their wire names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rulebot.core.enums import MarginType


def dec(value: Decimal | None, zero: str = "0") -> str:
    return zero if value is None else format(value, "f")


def tif(value: Any) -> str:
    return "GTC" if value is None else str(getattr(value, "value", value))


def wire_name(value: Any) -> str:
    return str(getattr(value, "value", value))


# positionRisk and ACCOUNT_UPDATE print the margin type in lower case ("isolated", "cross"), unlike
# the ISOLATED/CROSSED of the REST parameter.
MARGIN_TYPE_WORDS = {MarginType.ISOLATED: "isolated", MarginType.CROSSED: "cross"}
