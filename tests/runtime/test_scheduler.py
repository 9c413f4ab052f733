"""The live bot's wall-clock scheduler (rulebot/runtime/scheduler.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.scheduler import next_fire_times

BOOK = """\
rulebook: far
market: usdm
symbols: [BTCUSDT]
rules:
  - name: rarely
    on: every 1000000w
    do: [{log: "once in 19,000 years"}]
"""


def test_a_timer_due_past_the_year_9999_never_fires_instead_of_stopping_the_bot():
    """`rulebot validate` passes it (and a backtest runs it), but a dry-run or live start ended with
    "error: year 21135 is out of range": the scheduler turned the engine's fire time into a datetime."""
    nxt = next_fire_times(compile_text(BOOK), datetime(2026, 12, 7, 12, tzinfo=UTC))
    assert nxt["every 1000000w"] is None
    assert nxt["daily-reset"] == datetime(2026, 12, 8, tzinfo=UTC)
