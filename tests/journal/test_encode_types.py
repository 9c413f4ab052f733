"""`plain` decides each type's conversion once: it must give what deciding it for each value gave."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.journal.encode import REDACTED, dumps, is_secret_key, plain, scrub


def _reference(value: Any) -> Any:
    """The conversion as it was written before types were cached: a chain of checks per value."""
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: (REDACTED if is_secret_key(f.name) else _reference(getattr(value, f.name)))
            for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(k): (REDACTED if is_secret_key(str(k)) else _reference(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_reference(v) for v in value]
    return scrub(str(value))


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 2


class Side(enum.StrEnum):
    BUY = "BUY"


class Name(str):
    pass


class Price(Decimal):
    pass


@dataclass(frozen=True, slots=True)
class Leg:
    price: Decimal
    side: Side


@dataclass
class Request:
    url: str
    api_key: str
    legs: list[Leg]
    extra: dict[Any, Any]
    one: tuple[int, ...] = ()


@dataclass
class Single:
    only: float


@dataclass
class Empty:
    pass


VALUES: list[Any] = [
    "plain",
    "GET /x?signature=abc&symbol=BTCUSDT",
    "wss://fstream.binance.com/ws/" + "a" * 40,
    Name("token=abc"),
    None,
    True,
    7,
    Level.HIGH,
    1.5,
    math.inf,
    math.nan,
    Decimal("1.10"),
    Decimal("-0"),
    Price("2.5"),
    Color.RED,
    Side.BUY,
    Leg(Decimal("3.0"), Side.BUY),
    Request("https://x/?apiKey=k", "k", [Leg(Decimal(1), Side.BUY)], {"secret": 1, 2: [Color.RED]}, (1, 2)),
    Single(0.5),
    Empty(),
    {"listenKey": "abc", "nested": {"password": "p", "ok": {1, 2}}},
    OrderedDict(a=1),
    frozenset({"x"}),
    Leg,  # a dataclass itself, not an instance: its text
    object,
]


def test_cached_conversions_match_the_per_value_checks() -> None:
    for value in VALUES:
        for _ in range(2):  # the first call decides the type, the second uses the decision
            assert dumps({"v": plain(value)}) == dumps({"v": _reference(value)}), value
            assert type(plain(value)) is type(_reference(value)), value
