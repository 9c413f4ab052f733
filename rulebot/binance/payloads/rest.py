"""Binance Futures REST responses (FACTS.md §5) parsed into values, USDⓈ-M and COIN-M alike.

Each `parse_*` takes the decoded JSON body (orjson / json output) and raises `PayloadError`
naming the field when the body does not have the documented shape. Error bodies are not
parsed here: pass every body through `check_error` first, which raises the `BinanceError`
subclass for `{"code": <0, "msg"}`. Where core already parses a payload (exchangeInfo,
leverageBracket, commissionRate) this module delegates and only converts the error type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from rulebot.binance.codes import BinanceError, PayloadError, is_error_body
from rulebot.binance.payloads.account import brackets_from_payload
from rulebot.binance.payloads.common import (
    INT,
    STR,
    Shape,
    each,
    json_name,
    one_of,
)
from rulebot.binance.payloads.exchange_info import InstrumentParseError, instruments_from_exchange_info
from rulebot.core.enums import (
    Market,
)
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable

__all__ = [
    "RateLimit",
    "check_error",
    "parse_exchange_info",
    "parse_leverage_brackets",
    "parse_rate_limits",
]

D = Decimal
T = TypeVar("T")


def check_error(payload: T, http_status: int | None = None) -> T:
    """Raise the `BinanceError` for an error body `{"code": <0, "msg"}`; else return `payload`.

    Success bodies in the same shape (`{"code": 200, "msg": "success"}`) pass through.
    """
    if is_error_body(payload):
        raise BinanceError.from_payload(payload, http_status)
    return payload


# -- exchange rules -------------------------------------------------------------------------------


def parse_exchange_info(payload: Mapping[str, Any], market: Market) -> dict[str, Instrument]:
    """exchangeInfo → instruments by symbol (core `instruments_from_exchange_info`)."""
    if not isinstance(payload, Mapping):
        raise PayloadError("exchangeInfo", "", f"expected an object, got {json_name(payload)}")
    symbols = payload.get("symbols")
    if type(symbols) is not list:
        raise PayloadError("exchangeInfo", "symbols", f"expected an array, got {symbols!r:.60}")
    try:
        return instruments_from_exchange_info(payload, market)
    except (
        InstrumentParseError,
        LookupError,
        TypeError,
        ValueError,
        ArithmeticError,
        AttributeError,
    ) as exc:
        raise PayloadError("exchangeInfo", "symbols", str(exc)) from exc


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One of exchangeInfo's `rateLimits`: `limit` per `interval_num` `interval`s."""

    kind: str  # REQUEST_WEIGHT or ORDERS
    interval: str  # SECOND, MINUTE, DAY
    interval_num: int
    limit: int

    @property
    def window_ms(self) -> int:
        """The window's length in milliseconds."""
        return self.interval_num * _INTERVAL_MS[self.interval]


_INTERVAL_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
_RATE_LIMIT = Shape("exchangeInfo", rateLimitType=STR, interval=one_of(_INTERVAL_MS), intervalNum=INT, limit=INT)


def parse_rate_limits(payload: Mapping[str, Any]) -> tuple[RateLimit, ...]:
    """exchangeInfo's `rateLimits` (read them at start-up: FACTS.md §4 shows the docs and the
    live values disagree) → `RateLimit`s."""
    raw = payload.get("rateLimits") if isinstance(payload, Mapping) else None
    return each(raw, "exchangeInfo", lambda r: RateLimit(*_RATE_LIMIT.values(r)), "rateLimits")


def parse_leverage_brackets(payload: Any, market: Market) -> dict[str, BracketTable]:
    """leverageBracket (USDⓈ-M v1; COIN-M v2 per symbol) → bracket tables by symbol (core
    `brackets_from_payload`; COIN-M bounds are in coin)."""
    if not isinstance(payload, Mapping | list):
        raise PayloadError("leverageBracket", "", f"expected an array, got {json_name(payload)}")
    try:
        return brackets_from_payload(payload, market)
    except (
        InstrumentParseError,
        LookupError,
        TypeError,
        ValueError,
        ArithmeticError,
        AttributeError,
    ) as exc:
        raise PayloadError("leverageBracket", "brackets", str(exc)) from exc
