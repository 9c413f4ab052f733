"""The summary's warm-up section: the history each indicator needs and whether the data had it.

A section of summary.py's SECTIONS (rows for the table) and the `warmup` object of its JSON.
A need the data never met is also one of the result's warnings (backtest/warmup.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.stats import Stats
from rulebot.backtest.warmup import NeedOutcome, WarmupReport
from rulebot.rulebook.history import duration_text

Row = tuple[str, str]


def warmup_rows(stats: Stats, result: BacktestResult) -> list[Row]:
    w = result.warmup
    if w is None or not w.outcomes:
        return []
    before = (
        f"warmed on {duration_text(w.trade_from - w.data_from - w.missing_ms)} of data before the start "
        f"({w.warm_events:,} events)"
        if w.warm_events and w.data_from is not None
        else "no data before the start (--from inside the data warms on what comes before it)"
    )
    if w.missing_ms and w.warm_events:
        before += (
            f", from {_when(w.data_from or w.trade_from)}, {duration_text(w.missing_ms)} of it missing: the "
            "indicators were warmed across the gap (see the warning)"
        )
    return [("warm-up", before), *((f"  {o.need.name}", _outcome_text(o, w)) for o in w.outcomes)]


def _outcome_text(o: NeedOutcome, w: WarmupReport) -> str:
    n = o.need
    need = f"needs {n.candles} × {n.timeframe} = {duration_text(n.ms)}"  # noqa: RUF001 (a multiplication sign)
    if o.ready_at is None:
        return f"{need}: NEVER READY in this data" + (f" ({', '.join(n.rules)} could not fire)" if n.rules else "")
    if o.ready_at <= w.trade_from:
        return f"{need}: ready at the start"
    late = duration_text(o.ready_at - w.trade_from)
    if len({t for _, t in o.by_symbol}) > 1:  # the symbols' data start apart: each was ready on its own
        each = ", ".join(f"{symbol} {'at the start' if t <= w.trade_from else _when(t)}" for symbol, t in o.by_symbol)
        blind = f"; {', '.join(n.rules)} could not fire on a symbol before it was ready there" if n.rules else ""
        return f"{need}: ready on {each} (on all {late} into the run){blind}"
    blind = f"; {', '.join(n.rules)} could not fire before" if n.rules else ""
    return f"{need}: ready {_when(o.ready_at)}, {late} into the run{blind}"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def warmup_dict(result: BacktestResult) -> dict[str, Any] | None:
    """The JSON's `warmup`: times in ms, each need with `ready_at` (null: never ready)."""
    w = result.warmup
    if w is None:
        return None
    return {
        "data_from": w.data_from,
        "trade_from": w.trade_from,
        "warm_events": w.warm_events,
        "missing_ms": w.missing_ms,
        "needs": [o.as_dict(w.trade_from) for o in w.outcomes],
    }
