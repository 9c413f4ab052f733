"""What every Binance payload parser shares: JSON loading, field shapes, enum tables.

Parsers read fields straight out of orjson's dicts (no copies) and check all JSON types at
once with one tuple comparison (`Shape.values`); only when something is off does the slow
path (`Shape.error`) walk the fields to name the missing or mistyped one in a `PayloadError`.
Money fields are JSON strings and become `Decimal` from the string directly, never via float.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from operator import itemgetter
from typing import Any, TypeVar

import orjson

from rulebot.binance.codes import PayloadError
from rulebot.core.enums import (
    MarginType,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)

__all__ = [
    "BOOL",
    "DEC",
    "DEC_OR_EMPTY",
    "INT",
    "LIST",
    "MARGIN_TYPES",
    "OBJ",
    "ORDER_STATUSES",
    "ORDER_TYPES",
    "POSITION_SIDES",
    "SIDES",
    "STR",
    "TIME_IN_FORCE",
    "WORKING_TYPES",
    "JsonType",
    "PayloadError",
    "Shape",
    "decimal_or_none",
    "each",
    "is_decimal",
    "json_name",
    "levels",
    "loads",
    "one_of",
    "optional",
]

D = Decimal
T = TypeVar("T")


def json_name(value: object) -> str:
    """How a Python value from a JSON decoder is called in JSON terms (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def loads(raw: bytes | bytearray | memoryview | str, kind: str) -> Any:
    """Decode one JSON message with orjson; bad JSON raises `PayloadError(kind, "", ...)`."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(kind, "", f"not JSON ({exc})") from None


def is_decimal(value: object) -> bool:
    """True for a JSON string holding a finite decimal number ("0.001", "-45.04")."""
    if type(value) is not str:
        return False
    try:
        return D(value).is_finite()
    except ArithmeticError:
        return False


@dataclass(frozen=True, slots=True)
class JsonType:
    """The JSON type a field must have: `pytype` is what orjson decodes it to; `valid` checks
    the value further (a finite decimal string, a known enum word) in `Shape.checked` and
    when `Shape.error` looks for the culprit."""

    label: str
    pytype: type
    valid: Callable[[Any], bool] | None = None


STR = JsonType("a string", str)
DEC = JsonType("a decimal string", str, is_decimal)
DEC_OR_EMPTY = JsonType('a decimal string or ""', str, lambda v: v == "" or is_decimal(v))
INT = JsonType("an integer", int)  # type(True) is bool, so booleans never pass as integers
BOOL = JsonType("a boolean", bool)
OBJ = JsonType("an object", dict)
LIST = JsonType("an array", list)


def one_of(table: Mapping[str, object]) -> JsonType:
    """A string field whose value must be a key of `table` (an enum's Binance words)."""
    return JsonType("one of " + ", ".join(table), str, table.__contains__)


class Shape:
    """The fields one parser reads from a JSON object, in order, with their JSON types.

    `values(d)` returns them as a tuple (one C-level `itemgetter` call, one type comparison);
    hot-path parsers then convert the strings and check finiteness themselves
    (`Decimal("NaN")` does not raise). `checked(d)` also validates every value (slower).
    `error(d)` names the first field that is missing or wrong. `prefix` is the object's path
    in the message (`"o."` for ORDER_TRADE_UPDATE's order), for that name. `d` is what orjson
    (or json) decoded: objects are dicts, arrays lists.
    """

    __slots__ = ("_get", "fields", "kind", "prefix", "types")

    def __init__(self, kind: str, prefix: str = "", /, **fields: JsonType) -> None:
        if len(fields) < 2:
            raise ValueError("a Shape needs two fields or more (itemgetter returns a tuple)")
        self.kind = kind
        self.prefix = prefix
        self.fields = tuple(fields.items())
        self.types = tuple(t.pytype for t in fields.values())
        self._get = itemgetter(*fields)

    def values(self, d: Any) -> tuple[Any, ...]:
        """The fields' values, in declaration order, each of its declared JSON type."""
        try:
            v: tuple[Any, ...] = self._get(d)
        except (KeyError, TypeError, IndexError):  # TypeError/IndexError: `d` is no object
            raise self.error(d) from None
        if tuple(map(type, v)) != self.types:
            raise self.error(d)
        return v

    def checked(self, d: Any) -> tuple[Any, ...]:
        """`values(d)`, each also passing its type's `valid` (decimal strings parse and are
        finite, enum words are known). Slower: for payloads off the hot path."""
        v = self.values(d)
        for (_name, jt), value in zip(self.fields, v, strict=True):
            if jt.valid is not None and not jt.valid(value):
                raise self.error(d)
        return v

    def error(self, d: Any, reason: str = "") -> PayloadError:
        """The `PayloadError` for `d`: the first bad field, else `reason` for the object."""
        if not isinstance(d, Mapping):
            where = self.prefix.rstrip(".")
            return PayloadError(self.kind, where, f"expected an object, got {json_name(d)}")
        for name, jt in self.fields:
            field = self.prefix + name
            if name not in d:
                return PayloadError(self.kind, field, "missing")
            value = d[name]
            if type(value) is not jt.pytype:
                return PayloadError(self.kind, field, f"expected {jt.label}, got {json_name(value)} {value!r:.60}")
            if jt.valid is not None and not jt.valid(value):
                return PayloadError(self.kind, field, f"expected {jt.label}, got {value!r:.60}")
        return PayloadError(self.kind, self.prefix.rstrip("."), reason or "malformed")


def levels(raw: Any, kind: str, field: str) -> tuple[tuple[Decimal, Decimal], ...]:
    """Book levels `[["price", "qty"], ...]` as `((price, qty), ...)` in Binance's order."""
    out = []
    try:
        for price, qty in raw:
            if type(price) is not str or type(qty) is not str:
                break
            p, q = D(price), D(qty)
            if not (p.is_finite() and q.is_finite()):
                break
            out.append((p, q))
        else:
            return tuple(out)
    except (TypeError, ValueError, ArithmeticError):
        pass
    raise _level_error(raw, kind, field)


def _level_error(raw: Any, kind: str, field: str) -> PayloadError:
    if type(raw) is not list:
        return PayloadError(kind, field, f"expected an array of levels, got {json_name(raw)}")
    for i, level in enumerate(raw):
        where = f"{field}[{i}]"
        if type(level) is not list or len(level) < 2:
            return PayloadError(kind, where, f"expected [price, qty], got {level!r:.60}")
        for value in level[:2]:
            if type(value) is not str or not is_decimal(value):
                return PayloadError(kind, where, f"expected decimal strings, got {level!r:.60}")
    return PayloadError(kind, field, "malformed levels")


def each(payload: Any, kind: str, parse: Callable[[Any], T], where: str = "") -> tuple[T, ...]:
    """Parse every item of a JSON array; an item's error is named by its index (`P[3].ep`).

    `where` is the array's path in the message ("" when the payload is the array).
    """
    if type(payload) is not list:
        raise PayloadError(kind, where, f"expected an array, got {json_name(payload)}")
    out = []
    for i, item in enumerate(payload):
        try:
            out.append(parse(item))
        except PayloadError as exc:
            raise exc.within(f"{where}[{i}]") from None
    return tuple(out)


def optional(d: Mapping[str, Any], key: str, jt: JsonType, kind: str, prefix: str = "") -> Any:
    """`d[key]` checked against `jt`, or None when the key is absent or null.

    For fields some variants of a payload lack (COIN-M vs USDⓈ-M, older vs newer docs).
    """
    value = d.get(key)
    if value is None:
        return None
    if type(value) is not jt.pytype or (jt.valid is not None and not jt.valid(value)):
        got = f"{json_name(value)} {value!r:.60}"
        raise PayloadError(kind, prefix + key, f"expected {jt.label}, got {got}")
    return value


def decimal_or_none(text: str | None, *, zero: bool = False) -> Decimal | None:
    """A checked decimal string as `Decimal`; None for None and "" (Binance's "not set"), and
    also for zero when `zero` is true (Binance writes "0" for an unset price)."""
    if not text:
        return None
    value = D(text)
    if not value.is_finite():
        raise ArithmeticError(f"{text!r} is not a finite number")
    return None if zero and not value else value


# -- Binance's words for the core enums ----------------------------------------------------------
# Plain dicts: a lookup costs a fraction of `Side(value)` (EnumMeta.__call__) on the hot path,
# and a missing key raises KeyError, which the parsers turn into a PayloadError naming the field.

E = TypeVar("E", bound=Enum)


def _table(enum: type[E]) -> dict[str, E]:
    return {m.value: m for m in enum}


SIDES = _table(Side)
POSITION_SIDES = _table(PositionSide)
ORDER_STATUSES = _table(OrderStatus)
WORKING_TYPES = _table(WorkingType)
# Binance writes the margin type four ways: "ISOLATED"/"CROSSED" in requests and MARGIN_CALL,
# "isolated"/"cross" in positionRisk and ACCOUNT_UPDATE.
MARGIN_TYPES = {
    **_table(MarginType),
    "isolated": MarginType.ISOLATED,
    "cross": MarginType.CROSSED,
    "crossed": MarginType.CROSSED,
    "CROSS": MarginType.CROSSED,
}
# `GTE_GTC` ("good till expired or canceled") is what Binance reports for closePosition and
# TP/SL orders that live only while a position does; no core TimeInForce matches, so None.
TIME_IN_FORCE: dict[str, TimeInForce | None] = {**_table(TimeInForce), "GTE_GTC": None}
# Events report Binance's own liquidation and ADL orders as type `LIQUIDATION` (IOC limit orders
# at the bankruptcy price); `parse_user.is_liquidation` tells them apart from the user's orders.
ORDER_TYPES: dict[str, OrderType] = _table(OrderType)
