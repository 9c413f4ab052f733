"""A candle compared with a `highest` or `lowest` whose window holds that very candle:
`close@1h > range_high` with range_high: highest(high@1h, 24) can never be true. Warned about
by the comparison check (expr_compare) and the crossover check (expr_calls).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from rulebot.rulebook import expr_ir as ir
from rulebot.rulebook.scope import NameKind

if TYPE_CHECKING:
    from rulebot.rulebook.expr_calls import CheckerHost


def never_breaks_out(
    host: CheckerHost,
    where: ast.AST | tuple[int, int],
    sources: tuple[ast.AST, ast.AST],
    op: ir.CompareOpName,
    left: ir.Node | None,
    right: ir.Node | None,
) -> None:
    """`close@1h > range_high` with range_high: highest(high@1h, 24) is never true, as the range
    holds this very candle, and `>=` is true only when the close ties its high: warn at `where`
    (the comparison, or a crossover, which ends in `left > right`), and show the range a candle
    back. A live price (`price`) or another timeframe can pass it. `sources` are where `left` and
    `right` are written."""
    for candle, extreme, source, flipped in ((left, right, sources[1], False), (right, left, sources[0], True)):
        if not (isinstance(candle, ir.Ref) and isinstance(extreme, ir.Ref)):
            continue
        info, bound = host.scope.get(candle.name), host.scope.extremes.get(extreme.name)
        if info is None or info.kind is not NameKind.SERIES or bound is None or "[" in candle.name:
            continue
        field, _, timeframe = candle.name.partition("@")
        if timeframe != bound.timeframe:
            continue
        # The comparison read as `candle op extreme`; the extreme holds the candle's own field.
        op_ = _MIRRORED[op] if flipped else op
        past, tie = (">", ">=") if bound.highest else ("<", "<=")
        low, high = (field, bound.field) if bound.highest else (bound.field, field)
        if op_ not in (past, tie) or not _never_above(low, high) or (op_ == tie and field == bound.field):
            continue
        offset, length = host.p.span(where) if isinstance(where, ast.AST) else where
        text = host.p.text[offset : offset + length]
        start, size = host.p.span(source)
        back = f"{text[: start - offset]}{extreme.name}[1]{text[start - offset + size :]}"
        holds = f"the current {timeframe} candle"
        if op_ == past:
            beyond = "above" if bound.highest else "below"
            why = (
                f"{holds}'s {field}"
                if field == bound.field
                else f"{holds}, and no {field} is {beyond} its candle's {bound.field}"
            )
            message = f"{text} is never true: {extreme.name} ({bound.definition.strip()}) includes {why}"
        else:
            message = (
                f"{text} is true only when the {field} ties its candle's {bound.field}: "
                f"{extreme.name} ({bound.definition.strip()}) includes {holds}"
            )
        host.warn(
            where,
            message,
            f"for a break of the range before this candle, read {extreme.name} one candle back: {back}",
            "never-breaks-out",
        )


# Within one candle, low <= open, close <= high.
_OHLC = frozenset({"open", "high", "low", "close"})
_MIRRORED: dict[ir.CompareOpName, ir.CompareOpName] = {
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
    "==": "==",
    "!=": "!=",
}


def _never_above(low: str, high: str) -> bool:
    """Is candle field `low` never above field `high` of the same candle?"""
    return low == high or (low in _OHLC and high in _OHLC and (high == "high" or low == "low"))
