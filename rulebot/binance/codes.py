"""Errors from Binance: error bodies `{"code", "msg"}` as typed exceptions, and `PayloadError`
for payloads that do not have the shape Binance documents.

`BinanceError.from_payload` picks the subclass registered for the code (FACTS.md §8); a code
with no subclass gives a plain `BinanceError`, so a new code never goes unreported. Families
(`OrderRejected`, `RateLimited`, `NoChangeNeeded`, ...) tell the venue what to do without
listing codes: an `OrderRejected` order never reached the book; an `ExecutionUnknown` one may
have, and must be reconciled before anything is resent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rulebot.core.reject_codes import REJECT_MESSAGES

__all__ = [
    "MESSAGES",
    "AccountSettingRejected",
    "AuthError",
    "BadSymbol",
    "BestPriceOutsideBand",
    "BinanceError",
    "DuplicateClientOrderId",
    "ExecutionUnknown",
    "FilterViolation",
    "FokRejected",
    "InvalidLeverage",
    "InvalidListenKey",
    "InvalidRequest",
    "MarginInsufficient",
    "MaxOpenOrders",
    "MinNotional",
    "NoChangeNeeded",
    "OrderRejected",
    "PayloadError",
    "PositionLimitExceeded",
    "PostOnlyRejected",
    "RateLimited",
    "ReduceOnlyRejected",
    "ServerBusy",
    "TimestampOutsideRecvWindow",
    "TooManyOrders",
    "TooManyRequests",
    "TradingRuleViolated",
    "UnknownOrder",
    "UseAlgoService",
    "UserInLiquidation",
    "WouldImmediatelyTrigger",
    "error_class",
    "is_error_body",
]


# Binance's message for every code rulebot predicts, simulates or explains: the one table, kept in
# `core.reject_codes` because the engine's filter guard quotes it too. The simulator and the fake
# exchange answer with these; the classes below say what each family of codes means to the venue.
MESSAGES: Mapping[int, str] = REJECT_MESSAGES


class PayloadError(ValueError):
    """A Binance payload lacks a field, holds a field of the wrong JSON type, or is not JSON.

    `kind` names the payload (`aggTrade`, `ORDER_TRADE_UPDATE`, `positionRisk`, ...), `field`
    the dotted path of the culprit (`o.n`, `[2].entryPrice`; "" for the whole message).
    """

    def __init__(self, kind: str, field: str, reason: str) -> None:
        where = f"field {field!r}" if field else "message"
        super().__init__(f"Binance {kind} payload, {where}: {reason}")
        self.kind = kind
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[PayloadError], tuple[str, str, str]]:
        # Rebuild from the parts, not from the formatted message (pickling, copying).
        return (type(self), (self.kind, self.field, self.reason))

    def within(self, prefix: str) -> PayloadError:
        """The same error seen from an enclosing payload: `prefix` (`o`, `[3]`) goes in front."""
        if not self.field:
            field = prefix
        elif self.field.startswith("["):
            field = prefix + self.field
        else:
            field = f"{prefix}.{self.field}"
        return PayloadError(self.kind, field, self.reason)


class BinanceError(Exception):
    """Binance refused a request: `code` and `msg` as the error body carries them.

    `http_status` is set when the caller knows it. `hint` says what a user can do about it.
    """

    codes: ClassVar[tuple[int, ...]] = ()
    hint: ClassVar[str] = ""
    _by_code: ClassVar[dict[int, type[BinanceError]]] = {}

    def __init__(self, code: int, msg: str, http_status: int | None = None) -> None:
        text = f"Binance {code}: {msg}"
        if self.hint:
            text = f"{text} ({self.hint})"
        super().__init__(text)
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def __reduce__(self) -> tuple[type[BinanceError], tuple[int, str, int | None]]:
        return (type(self), (self.code, self.msg, self.http_status))

    def __init_subclass__(cls, codes: tuple[int, ...] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only the codes a class names register it: a family inherits none from its parent.
        cls.codes = codes
        for code in codes:
            if code in BinanceError._by_code:
                other = BinanceError._by_code[code].__name__
                raise TypeError(f"Binance code {code} registered twice ({other}, {cls.__name__})")
            BinanceError._by_code[code] = cls

    @classmethod
    def from_code(cls, code: int, msg: str, http_status: int | None = None) -> BinanceError:
        """The exception for `code`: its registered subclass, else a plain `BinanceError`."""
        return error_class(code)(code, msg, http_status)

    @classmethod
    def from_payload(cls, payload: Any, http_status: int | None = None) -> BinanceError:
        """Parse an error body `{"code": <negative int>, "msg": "..."}` into its exception.

        Raises `PayloadError` for anything else, including the success bodies some endpoints
        send in the same shape (`{"code": 200, "msg": "success"}` from `marginType`).
        """
        if not isinstance(payload, Mapping):
            raise PayloadError("error", "", f"expected a JSON object, got {type(payload).__name__}")
        code, msg = payload.get("code"), payload.get("msg")
        if type(code) is not int:
            raise PayloadError("error", "code", f"expected an integer, got {code!r}")
        if code >= 0:
            raise PayloadError("error", "code", f"{code} is not an error code (errors are < 0)")
        if not isinstance(msg, str):
            raise PayloadError("error", "msg", f"expected a string, got {msg!r}")
        return cls.from_code(code, msg, http_status)


def error_class(code: int) -> type[BinanceError]:
    """The exception class registered for `code` (`BinanceError` when none is)."""
    return BinanceError._by_code.get(code, BinanceError)


def is_error_body(payload: Any) -> bool:
    """True for `{"code": <negative int>, "msg": str}`: a REST error, also as a batch item."""
    return (
        isinstance(payload, Mapping)
        and type(payload.get("code")) is int
        and payload["code"] < 0
        and isinstance(payload.get("msg"), str)
    )


# -- families ----------------------------------------------------------------------------------


class RateLimited(BinanceError):
    """A rate limit was broken (HTTP 429; 418 once the IP is banned): back off."""

    hint = "back off until the limit window passes; continuing after a 429 gets the IP banned"
    retry_after: float | None = None  # seconds, from the Retry-After header when Binance sent one


class ServerBusy(BinanceError, codes=(-1001, -1008, -1016)):
    """Binance failed the request on its side; it was not executed and may be retried."""

    hint = "retry later with backoff; reduce-only and close-position orders are exempt"


class ExecutionUnknown(BinanceError, codes=(-1006, -1007)):
    """Binance does not know whether the request executed (-1006, -1007)."""

    hint = "the order may exist: reconcile by client order id before resending"


class AuthError(BinanceError, codes=(-1002, -1022, -2014, -2015)):
    """The API key, its permissions, its IP whitelist or the signature were refused."""

    hint = "check the API key, secret, key permissions and IP whitelist"


_MALFORMED = (
    -1013,
    -1014,
    -1020,
    -1023,
    -1100,
    -1101,
    -1102,
    -1103,
    -1104,
    -1106,
    -1111,
    -1115,
    -1116,
    -1117,
    -1130,
    -4015,
)


class InvalidRequest(BinanceError, codes=_MALFORMED):
    """A parameter is missing, unknown or malformed (the -11xx codes): a bug to fix, not retry."""

    hint = "the request is malformed; retrying the same request fails the same way"


class OrderRejected(BinanceError, codes=(-2010, -2020, -2024)):
    """The order was refused before it reached the book: nothing was placed."""

    hint = "no order was placed"


class NoChangeNeeded(BinanceError, codes=(-4046, -4059, -5027)):
    """The setting already has the requested value (-4046 margin type, -4059 position mode,
    -5027 order modify): treat as success."""

    hint = "the setting already has the requested value"


class AccountSettingRejected(BinanceError, codes=(-2028, -4047, -4048, -4067, -4068, -4161)):
    """Leverage, margin type or position mode cannot change now (open orders or positions)."""

    hint = "close the symbol's open orders and positions first, or keep the current setting"


# -- codes that callers branch on --------------------------------------------------------------


class TooManyRequests(RateLimited, codes=(-1003,)):
    """-1003: too much request weight from this IP (or the IP is banned until a time)."""


class TooManyOrders(RateLimited, codes=(-1015,)):
    hint = "the account's order rate limit was hit; wait for the 10 s / 1 min window"


# -5028 is the matching engine's own recvWindow check; the cure is the same.
class TimestampOutsideRecvWindow(BinanceError, codes=(-1021, -5028)):
    hint = "resync the clock offset from /fapi/v1/time and resend with a fresh timestamp"


class BadSymbol(InvalidRequest, codes=(-1121,)):
    hint = "the symbol is not listed on this market; USDⓈ-M and COIN-M list different symbols"


class InvalidListenKey(BinanceError, codes=(-1125,)):
    hint = "create a new listenKey with POST and reconnect the user stream"


class UnknownOrder(BinanceError, codes=(-2011, -2013)):
    """The order is not on the book (-2011: cancel of an unknown order; -2013: no such order)."""

    hint = "the order is already filled, canceled or never existed; reconcile open orders"


class MarginInsufficient(OrderRejected, codes=(-2018, -2019)):
    hint = "lower the size or the leverage's margin need, or add margin"


class WouldImmediatelyTrigger(OrderRejected, codes=(-2021, -4142)):
    hint = "the trigger price is already crossed; move it or send a market/limit order"


class ReduceOnlyRejected(OrderRejected, codes=(-2022, -4118)):
    hint = "the reduce-only order would not reduce the position (position closed or reversed?)"


class UserInLiquidation(OrderRejected, codes=(-2023,)):
    hint = "the account is being liquidated; wait until liquidation ends"


class MaxOpenOrders(OrderRejected, codes=(-2025, -4045)):
    hint = "cancel open (or open conditional) orders of the symbol first"


class PositionLimitExceeded(OrderRejected, codes=(-2027,)):
    hint = "lower the size or the leverage: the position would exceed its bracket's cap"


class UseAlgoService(OrderRejected, codes=(-4120,)):
    hint = "USDⓈ-M conditional orders go to POST /fapi/v1/algoOrder since 2025-12-09"


class DuplicateClientOrderId(OrderRejected, codes=(-4116,)):
    hint = "an open order already has this client order id: it may be the earlier send"


class FokRejected(OrderRejected, codes=(-5021,)):
    hint = "the FOK order could not fill at once in full"


class PostOnlyRejected(OrderRejected, codes=(-5022,)):
    hint = "the post-only order would have taken liquidity; reprice it away from the touch"


class FilterViolation(
    OrderRejected,
    codes=(-4003, -4004, -4005, -4013, -4014, -4016, -4023, -4024),
):
    """A symbol filter (price, quantity, percent price) refused the order (FACTS.md §7)."""

    hint = "round to the symbol's filters (tick, step, min/max) from exchangeInfo"


class BestPriceOutsideBand(FilterViolation, codes=(-4131,)):
    """A market order refused because the book's best price on its side lies outside PERCENT_PRICE of
    the mark (a thin or fast book): nothing about the order's own price or size was wrong."""

    hint = "the book's best price was too far from the mark price; retry once the book refills, or send a limit order"


class MinNotional(FilterViolation, codes=(-4164,)):
    hint = "raise the order's notional above MIN_NOTIONAL, or send it reduce-only"


class InvalidLeverage(AccountSettingRejected, codes=(-4028,)):
    hint = "choose a leverage within the symbol's first bracket"


class TradingRuleViolated(OrderRejected, codes=(-4400,)):
    """Binance's quantitative trading rules restrict the account to reduce-only orders."""

    hint = "only reduce-only orders are accepted for now"
