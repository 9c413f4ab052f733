"""Engine records, commands and account events as journal rows: exact, readable, and secret-free.

Every value becomes JSON: Decimals as exact strings, enums by name, dataclasses field by
field. Anything whose key looks like a credential is replaced before it is written, so a
payload or request that carried one never lands in the journal.
"""

from __future__ import annotations

import dataclasses
import enum
import math
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


def is_secret_key(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return any(s.replace("-", "_") in k for s in _SECRET_KEYS)


def plain(value: Any) -> Any:
    """A JSON-ready copy of `value`, with credentials redacted at every depth."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: (REDACTED if is_secret_key(f.name) else plain(getattr(value, f.name)))
            for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(k): (REDACTED if is_secret_key(str(k)) else plain(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


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
