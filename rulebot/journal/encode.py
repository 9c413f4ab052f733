"""Engine records, commands and account events as journal rows: exact, readable, and secret-free.

Every value becomes JSON: Decimals as exact strings, enums by name, dataclasses field by
field. Anything whose key looks like a credential is replaced before it is written, and so is
a credential inside a text (`...&signature=ab12` in a URL an error message quotes, a listen
key in a stream path), so a payload or request that carried one never lands in the journal.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import keyword
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args

import orjson

from rulebot.core import account_events as ae
from rulebot.core import commands as cmd
from rulebot.core.frozen import fast_init
from rulebot.engine import records as rec

REDACTED = "[redacted]"
_ZERO = Decimal(0)
_SECRET_KEYS = (
    "signature",
    "apikey",
    "api_key",
    "secret",
    "x-mbx-apikey",
    "listenkey",
    "listen_key",
    "password",
    "token",
)

# `name=value`, `name: value` and `"name": "value"` inside free text, for the names above.
_SECRET_IN_TEXT = re.compile(
    r"(?i)(signature|api[_-]?key|x-mbx-apikey|secret[_-]?key|api[_-]?secret|secret|listen[_-]?key|password|token)"
    r"(\"?\s*[=:]\s*\"?)([^&\s\"',;}]+)"
)
# User-data streams put the listen key in the path: wss://fstream.binance.com/ws/<listenKey>.
_LISTEN_KEY_PATH = re.compile(r"(/ws/|streams=)([A-Za-z0-9]{32,})")


@fast_init  # ~100k rows a journaled backtest: half the cost of the frozen dataclass's __init__
@dataclass(frozen=True, slots=True)
class Row:
    time: int
    kind: str
    body: dict[str, Any]
    symbol: str = ""
    rule: str = ""
    client_order_id: str | None = None
    version: str = ""
    clean: bool = False  # already passed through `plain` (redacted); the writer redacts the others


_SECRET_PARTS = tuple(s.replace("-", "_") for s in _SECRET_KEYS)


@functools.lru_cache(maxsize=4096)  # keys repeat (field and input names): decide each once
def is_secret_key(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return any(s in k for s in _SECRET_PARTS)


@functools.cache
def _fields_of(cls: type) -> tuple[tuple[str, bool], ...]:
    return tuple((f.name, is_secret_key(f.name)) for f in dataclasses.fields(cls))


def scrub(text: str) -> str:
    """`text` with any credential it quotes replaced."""
    if "=" not in text and ":" not in text and "/ws/" not in text:  # the common case, cheaply
        return text
    text = _SECRET_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _LISTEN_KEY_PATH.sub(lambda m: m.group(1) + REDACTED, text)


def plain(value: Any) -> Any:
    """A JSON-ready copy of `value`, with credentials redacted at every depth."""
    cls = type(value)
    # The leaves of nearly every record first, without a lookup (exact types: a subclass is decided below).
    if cls is str:
        return scrub(value)
    if cls is int or cls is bool or value is None:
        return value
    if cls is Decimal:
        return str(value)
    convert = _CONVERT.get(cls)
    if convert is None:
        convert = _CONVERT[cls] = _converter(cls)
    return convert(value)


# How each type becomes JSON, decided once per type: a journaled run converts ~1.7 million values
# (a record's fields, their fields), and deciding by a chain of isinstance checks each time was
# most of the journal's cost. The order of the checks in `_converter` is the order of precedence.
_CONVERT: dict[type, Callable[[Any], Any]] = {}


def _same(value: Any) -> Any:
    return value


def _enum_value(value: enum.Enum) -> Any:
    return value.value


def _float(value: float) -> Any:
    return value if math.isfinite(value) else str(value)


def _mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): (REDACTED if is_secret_key(str(k)) else plain(v)) for k, v in value.items()}


def _sequence(value: Any) -> list[Any]:
    return [plain(v) for v in value]


def _other(value: Any) -> str:
    return scrub(str(value))


def _converter(cls: type) -> Callable[[Any], Any]:
    if issubclass(cls, str):
        return scrub
    if cls is type(None) or issubclass(cls, bool | int):
        return _same
    if issubclass(cls, float):
        return _float
    if issubclass(cls, Decimal):
        return str
    if issubclass(cls, enum.Enum):
        return _enum_value
    if dataclasses.is_dataclass(cls) and not issubclass(cls, type):  # an instance, not a dataclass itself
        return _dataclass(cls)
    if issubclass(cls, Mapping):
        return _mapping
    if issubclass(cls, list | tuple | set | frozenset):
        return _sequence
    return _other


def _dataclass(cls: type) -> Callable[[Any], dict[str, Any]]:
    """A dataclass's conversion, written out field by field: `{"time": plain(value.time), ...}`
    reads each field by its attribute (no getattr by name) and builds the dict in one expression."""
    items = []
    for name, secret in _fields_of(cls):
        if not name.isidentifier() or keyword.iskeyword(name):  # never from a dataclass; refuse, not guess
            raise TypeError(f"journal: cannot convert {cls.__name__}.{name}")
        items.append(f"{name!r}: {'REDACTED' if secret else f'plain(value.{name})'}")
    namespace: dict[str, Any] = {"plain": plain, "REDACTED": REDACTED}
    exec(f"def convert(value):\n    return {{{', '.join(items)}}}\n", namespace)
    convert: Callable[[Any], dict[str, Any]] = namespace["convert"]
    convert.__qualname__ = f"plain[{cls.__qualname__}]"
    return convert


def dumps(body: Mapping[str, Any]) -> str:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


_ACCOUNT_KINDS: dict[type, str] = {
    ae.OrderUpdate: "order",
    ae.AlgoUpdate: "algo",
    ae.AccountUpdate: "account",
    ae.MarginCall: "margin_call",
    ae.LeverageChanged: "leverage",
    ae.StreamStatus: "stream",
}
_COMMAND_TYPES = get_args(cmd.Command)
_RECORD_KINDS: dict[type, str] = {
    rec.Decision: "decision",
    rec.GuardRecord: "guard",
    rec.StateChange: "state",
    rec.LogLine: "log",
    rec.EngineNotice: "notice",
}


# Each type's kind (None: not journaled), decided once per type.
_KINDS: dict[type, str | None] = {}


def _kind_of(cls: type) -> str | None:
    kind = _RECORD_KINDS.get(cls) or _ACCOUNT_KINDS.get(cls)
    return "command" if kind is None and issubclass(cls, _COMMAND_TYPES) else kind


def status_row(
    command: cmd.PlaceOrder,
    status: str,
    reason: str,
    t: int,
    *,
    code: int | None = None,
    filled: Decimal = _ZERO,
    of_run: str = "",
) -> Row:
    """An order's last status when no venue update will ever give it (refused by the REST answer,
    never reached the exchange, settled at a restart): `audit orders` shows it, not an empty one.
    `of_run`: the run that sent the order, when it is not the one writing the row."""
    kind = "algo" if command.is_conditional and status != "REJECTED" else "order"
    body = {
        "client_order_id": command.client_order_id,
        "symbol": command.symbol,
        "status": status,
        "execution_type": status,
        "reject_code": code,
        "reject_reason": reason,
        "filled_qty": str(filled),
        "last_filled_qty": "0",
        "time": t,
        "of_run": of_run,
    }
    return Row(t, kind, body, command.symbol, "", command.client_order_id)


def to_row(obj: object, version: str = "", time: int | None = None) -> Row | None:
    """The row for an engine record, a command or an account event; None for anything else."""
    cls = type(obj)
    if cls is Row:  # a row made whole (`status_row`): as it is
        return obj  # type: ignore[return-value]
    if cls in _KINDS:
        kind = _KINDS[cls]
    else:
        kind = _KINDS[cls] = _kind_of(cls)
    if kind is None:
        return None
    body = plain(obj)
    if kind == "command":
        body["type"] = cls.__name__
    t = time if time is not None else int(getattr(obj, "time", 0) or 0)
    symbol = str(getattr(obj, "symbol", "") or "")
    rule = str(getattr(obj, "rule", "") or "")
    cid = getattr(obj, "client_order_id", None) or getattr(obj, "client_algo_id", None)
    row_version = getattr(obj, "version", "") if kind == "decision" else version
    return Row(t, kind, body, symbol, rule, cid, row_version or version, clean=True)
