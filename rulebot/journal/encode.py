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
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args

import orjson

from rulebot.core import account_events as ae
from rulebot.core import commands as cmd
from rulebot.engine import records as rec

REDACTED = "[redacted]"
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
        return {name: (REDACTED if secret else plain(getattr(value, name))) for name, secret in _fields_of(type(value))}
    if isinstance(value, Mapping):
        return {str(k): (REDACTED if is_secret_key(str(k)) else plain(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return scrub(str(value))


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


def to_row(obj: object, version: str = "", time: int | None = None) -> Row | None:
    """The row for an engine record, a command or an account event; None for anything else."""
    kind = _RECORD_KINDS.get(type(obj)) or _ACCOUNT_KINDS.get(type(obj))
    if kind is None and isinstance(obj, _COMMAND_TYPES):
        kind = "command"
    if kind is None:
        return None
    body = plain(obj)
    if kind == "command":
        body["type"] = type(obj).__name__
    t = time if time is not None else int(getattr(obj, "time", 0) or 0)
    symbol = str(getattr(obj, "symbol", "") or "")
    rule = str(getattr(obj, "rule", "") or "")
    cid = getattr(obj, "client_order_id", None) or getattr(obj, "client_algo_id", None)
    row_version = getattr(obj, "version", "") if kind == "decision" else version
    return Row(t, kind, body, symbol, rule, cid, row_version or version, clean=True)
