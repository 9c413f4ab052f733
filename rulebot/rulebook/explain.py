"""A compiled rulebook described as plain data: states, transitions, dispatch, indicators, guards.

`rulebot validate --explain` renders it as tables; `--format json` prints it as is.
"""

from __future__ import annotations

from typing import Any

from rulebot.rulebook.compiled import CandleInput, CompiledRulebook, IndicatorInput, SeriesInput
from rulebot.rulebook.history import duration_text, history_needs


def _input_text(inp: SeriesInput | IndicatorInput | CandleInput) -> str:
    if isinstance(inp, SeriesInput):
        return f"{inp.field}@{inp.timeframe}"
    if isinstance(inp, CandleInput):
        return f"candles@{inp.timeframe}"
    return inp.name


def explain(book: CompiledRulebook) -> dict[str, Any]:
    dispatch = [
        {"trigger": str(rules[0].trigger), "state": state, "rules": [r.name for r in rules]}
        for (key, state), rules in sorted(book.dispatch.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    ]
    return {
        "rulebook": book.name,
        "version": book.source_hash[:12],
        "market": book.market,
        "symbols": list(book.symbols),
        "account": {"margin": book.margin, "position_mode": book.position_mode, "leverage": book.leverage},
        "timeframes": list(book.timeframes),
        "params": dict(book.params),
        "initial_state": book.initial_state,
        "states": [
            {
                "name": s.name,
                "position": s.position.word,
                "timeout_ms": s.timeout_ms,
                "then": s.then,
                "on_position_close": s.on_close,
            }
            for s in book.states.values()
        ],
        "transitions": [{"from": a, "to": b, "why": why} for a, b, why in book.transitions()],
        "dispatch": dispatch,
        "rules": [
            {
                "name": r.name,
                "trigger": str(r.trigger),
                "states": sorted(r.states),
                "when": r.when.text if r.when else None,
                "actions": [type(a).__name__.lower() for a in r.actions],
                "priority": r.priority,
                "reads": sorted(r.reads),
            }
            for r in book.rules
        ],
        "indicators": [
            {
                "name": i.name,
                "definition": i.definition,
                "input": _input_text(i.input),
                "outputs": list(i.outputs),
                "warmup": i.warmup,
                "warmup_candles": i.total_warmup,
                "timeframe": i.timeframe,
            }
            for i in book.indicators
        ],
        # Every indicator and look-back with the history it needs before a rule can read it
        # (a backtest warms it on the data before --from; a live bot on REST klines).
        "history": [
            {
                "name": h.name,
                "timeframe": h.timeframe,
                "candles": h.candles,
                "ms": h.ms,
                "text": f"{h.candles} × {h.timeframe} = {duration_text(h.ms)}",  # noqa: RUF001
                "rules": list(h.rules),
            }
            for h in history_needs(book)
        ],
        "guards": [
            {"guard": g.name, "value": g.shown, "source": g.source, "description": g.description}
            for g in book.risk.settings
        ],
    }
