"""What the engine tells the journal: decisions, guard verdicts, state changes, log lines.

Each record is a value made at the moment of the decision, carrying what a person needs to
answer "why?" later: the rule, the trigger, every input the condition read, the rulebook
version, and what the guards changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rulebot.core.frozen import fast_init
from rulebot.engine.risk import Verdict


@fast_init
@dataclass(frozen=True, slots=True)
class Decision:
    time: int
    symbol: str
    rule: str
    trigger: str
    state: str
    inputs: dict[str, Any]  # every name the condition and actions read, with its value
    fired: bool
    version: str  # rulebook hash
    error: str | None = None  # the condition raised (e.g. division by zero): treated as false


@fast_init
@dataclass(frozen=True, slots=True)
class GuardRecord:
    time: int
    symbol: str
    rule: str
    intent: str  # what was asked, readably
    verdicts: tuple[Verdict, ...]
    client_order_id: str | None  # the order that resulted, if any


def sizing_refused(time: int, symbol: str, rule: str, intent: str, exc: Exception) -> GuardRecord:
    """An action whose size, price or target could not be computed (a SizingError, a division by
    zero): refused by the `sizing` guard, with the reason, and nothing sent."""
    return GuardRecord(time, symbol, rule, intent, (Verdict("reject", "sizing", str(exc)),), None)


@fast_init
@dataclass(frozen=True, slots=True)
class StateChange:
    time: int
    symbol: str
    from_state: str
    to_state: str
    why: str


@dataclass(frozen=True, slots=True)
class LogLine:
    time: int
    symbol: str
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class EngineNotice:
    """Something the engine did on its own: a daily-loss breach, a halt, a fallback."""

    time: int
    symbol: str
    kind: str
    message: str


Record = Decision | GuardRecord | StateChange | LogLine | EngineNotice


def is_standing_order(intent: str, kinds: Iterable[str]) -> bool:
    """A guard record that only says the daily loss cap's stop was placed or re-priced: a
    standing order every position carries, not an intervention (nothing was refused, resized
    or closed). Its intent's first word is the purpose, `daily_cap` (a restart adopts the order
    by it). Summaries, charts and notifications leave these out of the guards' interventions."""
    return intent.split(" ", 1)[0] == "daily_cap" and all(k == "act" for k in kinds)
