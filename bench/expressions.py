"""How much faster compiled rulebook expressions are than simpleeval on the same input.

Run: python bench/expressions.py. Prints ns per evaluation for the compiled function, for
simpleeval parsing the text every time, and for simpleeval walking a pre-parsed AST (the
fairer comparison), with the ratios. simpleeval's names are prepared once, outside the timing,
as a simpleeval-based engine would keep them.
"""

from __future__ import annotations

import platform
import sys
import timeit
from typing import Any

from rulebot.rulebook.expr import compile_expr
from rulebot.rulebook.expr_reference import ReferenceEvaluator
from rulebot.rulebook.scope import Scope

EXPRESSIONS = (
    "crossover(ema_fast, ema_slow)",
    'price <= ema_fast and position.side == "none"',
    "vol > 3 * vol_base and hour >= 8",
    "risk_per_trade * equity / (2 * atr)",
    "close@15m > bb.upper and funding_rate < 0.05% and next_funding_in > 15m",
    'state == "armed" and crossover(macd.line, macd.signal) and rsi < 70 '
    "and abs(price - ema_slow) < 2 * atr and clamp(upnl / equity, -1, 1) > -2%",
)

SCOPE = Scope.build(
    params={"fast": 21, "slow": 55, "risk_per_trade": 0.01},
    indicators={
        "ema_fast": (),
        "ema_slow": (),
        "atr": (),
        "vol": (),
        "vol_base": (),
        "rsi": (),
        "macd": ("line", "signal", "hist"),
        "bb": ("upper", "mid", "lower"),
    },
    timeframes=["1m", "15m"],
    states=["flat", "armed", "long", "short"],
)

ENV: dict[str, Any] = {
    "price": 64210.5,
    "bid": 64210.4,
    "ask": 64210.6,
    "mark_price": 64211.0,
    "index_price": 64209.8,
    "funding_rate": 0.0001,
    "next_funding_in": 3600,
    "position.side": "none",
    "position.size": 0.0,
    "entry_price": 0.0,
    "upnl": 12.5,
    "roe": 0.0,
    "liq_price": 0.0,
    "leverage": 5.0,
    "margin": 0.0,
    "equity": 10_000.0,
    "available": 9_000.0,
    "daily_pnl": 0.0,
    "state": "armed",
    "time": 1_700_000_000_000,
    "hour": 9,
    "weekday": 2,
    "ema_fast": 64300.0,
    "ema_slow": 64100.0,
    "atr": 150.0,
    "vol": 0.004,
    "vol_base": 0.001,
    "rsi": 55.0,
    "macd.line": 12.0,
    "macd.signal": 10.0,
    "macd.hist": 2.0,
    "bb.upper": 64000.0,
    "bb.mid": 63800.0,
    "bb.lower": 63600.0,
    "close@15m": 64205.0,
    "close@1m": 64210.0,
    "prev:ema_fast": 64000.0,
    "prev:ema_slow": 64100.0,
    "prev:macd.line": 9.0,
    "prev:macd.signal": 10.0,
}


def ns_per_call(stmt: str, **names: Any) -> float:
    # A statement string, not a lambda: the wrapper call would add the same ~30 ns to both
    # sides and hide the ratio.
    timer = timeit.Timer(stmt, globals=names)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=number)) / number * 1e9


def main() -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    cols = ("compiled", "se text", "se AST")
    head = f"{'expression':<58} " + " ".join(f"{c:>9}" for c in cols) + f" {'x text':>7} {'x AST':>7}"
    print(head)
    print("-" * len(head))
    for text in EXPRESSIONS:
        compiled = compile_expr(text, SCOPE)
        ref = ReferenceEvaluator(text, SCOPE)
        evaluator = ref.evaluator(ENV)
        source, tree, fn, env = ref.source, ref.tree, compiled.fn, ENV
        assert fn(env) == evaluator.eval(source) == evaluator.eval(source, previously_parsed=tree)
        t_compiled = ns_per_call("fn(env)", fn=fn, env=env)
        t_text = ns_per_call("ev(source)", ev=evaluator.eval, source=source)
        t_ast = ns_per_call("ev(source, previously_parsed=tree)", ev=evaluator.eval, source=source, tree=tree)
        label = text if len(text) <= 58 else text[:55] + "..."
        print(
            f"{label:<58} {t_compiled:>7.0f}ns {t_text:>7.0f}ns {t_ast:>7.0f}ns "
            f"{t_text / t_compiled:>6.0f}x {t_ast / t_compiled:>6.0f}x"
        )
    print("\nse text: SimpleEval.eval(text) (parses every time); se AST: with previously_parsed")


if __name__ == "__main__":
    main()
