"""Rulebook actions (`do:` items) into compiled actions: one function per action, found by the
table `ACTIONS` from the parsed model's class, each checking its own fields and reporting every
problem with its place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from rulebot.core.enums import Direction, OrderType, TimeInForce, WorkingType
from rulebot.rulebook import compiled as c
from rulebot.rulebook import model as m
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import state_hint
from rulebot.rulebook.errors import ExprError
from rulebot.rulebook.expr import CompiledExpr, ExprType, compile_expr
from rulebot.rulebook.guards import RiskValueError, parse_percent
from rulebot.rulebook.scope import Scope
from rulebot.rulebook.source_map import Path_

_PERCENT_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
_NOTIONAL_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s+([A-Z]{2,10})\s*$")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
# A `{` no `}` closes (before the next `{`), with the name it seems to begin: `{equity`.
_UNCLOSED_RE = re.compile(r"\{(?![^{}]*\})([A-Za-z0-9_@.\[\]]*)")
_LOG_FORMAT_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.@\[\]]*)\s*[:!]")
# Text that ends in an asset but is not `digits ASSET`: 1e3 USDT, 1,000 USDT, 1000USDT. No
# expression ends in an upper-case word, so saying how to write the amount beats "syntax error".
_AMOUNT_LIKE_RE = re.compile(r"^\s*\S.*(?:USDT|USDC|USD)\s*$")
_WORKING = {"mark_price": WorkingType.MARK_PRICE, "contract_price": WorkingType.CONTRACT_PRICE}
_ORDER = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}


@dataclass(frozen=True, slots=True)
class _Args:
    """What every action's compiler may need besides the action itself."""

    path: Path_
    book: m.Rulebook
    scope: Scope
    states: Mapping[str, c.StateSpec]
    max_lev: int
    ctx: CompileContext


def compile_action(
    action: Any,
    path: Path_,
    book: m.Rulebook,
    scope: Scope,
    states: Mapping[str, c.StateSpec],
    max_lev: int,
    ctx: CompileContext,
) -> c.CompiledAction | None:
    """The compiled action, or None after reporting why it cannot be compiled."""
    return ACTIONS[type(action)](action, _Args(path, book, scope, states, max_lev, ctx))


def _fraction(value: Any, path: Path_, ctx: CompileContext, what: str) -> Decimal | None:
    try:
        frac = parse_percent(value, what)
    except RiskValueError as exc:
        ctx.error(f"{what}: {exc}", path, exc.hint, "percent")
        return None
    if frac <= 0:
        ctx.error(f"{what} must be above 0%", path, None, "percent")
        return None
    return frac


def _size(value: Any, path: Path_, book: m.Rulebook, scope: Scope, ctx: CompileContext) -> c.Size | None:
    if isinstance(value, str):
        if mt := _PERCENT_RE.match(value):
            pct = Decimal(mt.group(1)) / 100
            if not 0 < pct <= 1:
                ctx.error(f"size {value} of equity must be above 0% and at most 100%", path, None, "size")
                return None
            return c.Size("equity_fraction", amount=pct)
        if mt := _NOTIONAL_RE.match(value):
            asset = mt.group(2)
            allowed = {"USDT", "USDC"} if book.market == "usdm" else {"USD"}
            if asset not in allowed:
                ctx.error(
                    f"notional size in {asset}",
                    path,
                    f'on {book.market} write it in {" or ".join(sorted(allowed))}, e.g. "1000 {sorted(allowed)[-1]}"',
                    "size",
                )
                return None
            try:
                amount = Decimal(mt.group(1))
            except InvalidOperation:
                ctx.error(f"invalid amount in {value!r}", path, None, "size")
                return None
            if amount <= 0:
                # Every entry would be refused at run time for a size below the minimum notional.
                ctx.error(f"size {value} must be above zero", path, f'e.g. "100 {asset}"', "size")
                return None
            if book.market == "coinm" and book.symbols:
                # A contract is 100 USD on the BTCUSD pair and 10 on the others (FACTS §5): below one
                # contract of every symbol, every entry rounds to 0 and is refused at run time.
                symbol, contract = min(((s, _contract_usd(s)) for s in book.symbols), key=lambda sc: sc[1])
                if amount < contract:
                    ctx.error(
                        f"size {value} is less than one contract of {symbol} ({contract} USD)",
                        path,
                        f'COIN-M orders are whole contracts: write at least "{contract} USD"',
                        "size",
                    )
                    return None
            return c.Size("notional", amount=amount, asset=asset)
        if (mt := _NOTIONAL_RE.match(value.upper())) and mt.group(2) in ("USDT", "USDC", "USD"):
            ctx.error(
                f"the asset in size {value!r} is in lower case",
                path,
                f'write it as Binance does: "{value.strip().upper()}"',
                "size",
            )
            return None
        if _AMOUNT_LIKE_RE.match(value):
            asset = "USD" if book.market == "coinm" else "USDT"
            ctx.error(
                f"the amount in size {value!r} is not written as digits",
                path,
                f'write digits (a dot for decimals), a space and the asset, e.g. "1000 {asset}"',
                "size",
            )
            return None
    expr = ctx.expr(value, path, scope, ExprType.NUM)
    if expr is None:
        return None
    if expr.constant is not None and float(expr.constant) <= 0:
        ctx.error(f"size must be above zero, got {value}", path, None, "size")
        return None
    if book.market == "coinm" and expr.constant is not None and float(expr.constant) < 1:
        # COIN-M quantities are whole contracts (LOT_SIZE step 1): every entry would round to 0.
        ctx.error(
            f"size {value} is less than one contract: on COIN-M a size is a number of contracts",
            path,
            "a contract is 100 USD on BTCUSD_PERP (10 on most others): write whole contracts, such as 1, "
            'or a notional such as "1000 USD"',
            "size",
        )
        return None
    return c.Size("qty", expr=expr)


def _contract_usd(symbol: str) -> int:
    """USD per contract of a COIN-M symbol: 100 for the BTCUSD pair, 10 for the others (FACTS §5)."""
    return 100 if symbol.split("_")[0] == "BTCUSD" else 10


def _opt_expr(value: Any, path: Path_, scope: Scope, ctx: CompileContext) -> tuple[bool, CompiledExpr | None]:
    if value is None:
        return True, None
    e = ctx.expr(value, path, scope, ExprType.NUM)
    return e is not None, e


def _close_size(
    value: Any, path: Path_, scope: Scope, ctx: CompileContext, what: str
) -> tuple[bool, CompiledExpr | None]:
    """An exit's or reduce's `size`: a quantity that, known at compile time, must be above zero, or
    every such exit would be refused while the position stays open."""
    ok, e = _opt_expr(value, path, scope, ctx)
    if e is not None and e.constant is not None and float(e.constant) <= 0:
        ctx.error(f"{what} size must be above zero, got {value}", path, None, "size")
        return False, None
    return ok, e


def _enter(action: Any, a: _Args) -> c.CompiledAction | None:
    spec = action.enter
    p = (*a.path, "enter")
    size = _size(spec.size, (*p, "size"), a.book, a.scope, a.ctx)
    ok, price = _opt_expr(spec.price, (*p, "price"), a.scope, a.ctx)
    if spec.order == "limit" and spec.price is None:
        a.ctx.error("a limit entry needs a price", (*p, "order"), "e.g. price: bid", "limit-price")
        ok = False
    resting = spec.price is not None or spec.post_only or spec.time_in_force is not None or spec.expire is not None
    if spec.order == "market" and resting:
        a.ctx.error(
            "a market entry takes no price, post_only, time_in_force or expire",
            (*p, "order"),
            "use order: limit with a price",
            "market-price",
        )
        ok = False
    elif spec.expire is not None and m.duration_seconds(spec.expire) == 0:
        a.ctx.error(f"expire {spec.expire} would cancel the order as it is placed", (*p, "expire"), None, "expire")
        ok = False
    elif spec.expire is not None and spec.time_in_force in ("IOC", "FOK"):
        a.ctx.error(
            f"expire cancels a resting order, and an {spec.time_in_force} order never rests",
            (*p, "expire"),
            "drop expire, or use time_in_force: GTC",
            "expire",
        )
        ok = False
    if spec.post_only and spec.time_in_force not in (None, "GTX"):
        a.ctx.error(f"post_only means time_in_force GTX, not {spec.time_in_force}", (*p, "time_in_force"), None, "tif")
        ok = False
    if size is None or not ok:
        return None
    tif = "GTX" if spec.post_only else spec.time_in_force
    expire = m.duration_seconds(spec.expire) * 1000 if spec.expire else None
    return c.Enter(
        Direction(spec.side),
        size,
        _ORDER[spec.order],
        price,
        spec.post_only,
        TimeInForce(tif) if tif else None,
        expire,
        spec.tag,
    )


def _exit(action: Any, a: _Args) -> c.CompiledAction | None:
    spec_x = action.exit
    p = (*a.path, "exit")
    ok, price = _opt_expr(spec_x.price, (*p, "price"), a.scope, a.ctx)
    ok2, size_e = _close_size(spec_x.size, (*p, "size"), a.scope, a.ctx, "exit")
    frac = _fraction(spec_x.by, (*p, "by"), a.ctx, "exit by") if spec_x.by is not None else None
    if frac is not None and frac > 1:
        a.ctx.error("exit by more than 100%", (*p, "by"), None, "exit-size")
        return None
    if spec_x.by is not None and spec_x.size is not None:
        a.ctx.error("exit takes `by` or `size`, not both", (*p, "by"), None, "exit-size")
        return None
    if spec_x.order == "limit" and spec_x.price is None:
        a.ctx.error("a limit exit needs a price", (*p, "order"), "e.g. price: ask", "limit-price")
        return None
    if not (ok and ok2) or (spec_x.by is not None and frac is None):
        return None
    return c.Exit(_ORDER[spec_x.order], price, size_e, frac, spec_x.tag)


def _reduce(action: Any, a: _Args) -> c.CompiledAction | None:
    spec_r = action.reduce
    p = (*a.path, "reduce")
    if (spec_r.by is None) == (spec_r.size is None):
        a.ctx.error("reduce takes exactly one of `by` (e.g. 50%) or `size`", p, None, "reduce-size")
        return None
    frac = _fraction(spec_r.by, (*p, "by"), a.ctx, "reduce by") if spec_r.by is not None else None
    if frac is not None and frac > 1:
        a.ctx.error("reduce by more than 100%", (*p, "by"), None, "reduce-size")
        return None
    ok, size_e = _close_size(spec_r.size, (*p, "size"), a.scope, a.ctx, "reduce")
    ok2, price = _opt_expr(spec_r.price, (*p, "price"), a.scope, a.ctx)
    if not (ok and ok2) or (spec_r.by is not None and frac is None):
        return None
    return c.Reduce(frac, size_e, _ORDER[spec_r.order], price)


def _stop(action: Any, a: _Args) -> c.CompiledAction | None:
    kind: Literal["stop_loss", "take_profit"] = "stop_loss" if isinstance(action, m.StopLossAction) else "take_profit"
    spec_s = action.stop_loss if isinstance(action, m.StopLossAction) else action.take_profit
    p = (*a.path, kind)
    if (spec_s.price is None) == (spec_s.distance is None):
        a.ctx.error(
            f"{kind} takes exactly one of `price` or `distance`",
            p,
            "e.g. price: entry_price - 3 * atr, or distance: 2%",
            "stop-price",
        )
        return None
    ok, price = _opt_expr(spec_s.price, (*p, "price"), a.scope, a.ctx)
    dist = (
        _fraction(spec_s.distance, (*p, "distance"), a.ctx, f"{kind} distance") if spec_s.distance is not None else None
    )
    if kind == "stop_loss" and dist is not None and dist >= 1:
        # The engine puts a long's stop at entry * (1 - distance): at 100% and above, at 0 or below.
        a.ctx.error(
            f"stop_loss distance {(dist * 100).normalize():f}% must be below 100%: it puts a long's stop at a price "
            "of 0 or below, where it can never trigger",
            (*p, "distance"),
            "the distance is a share of the entry price, e.g. distance: 5%; a short's stop that far (twice the "
            "entry price, past a 1x isolated position's liquidation) is written price: entry_price * 2",
            "stop-distance",
        )
        return None
    if not ok or (spec_s.distance is not None and dist is None):
        return None
    return c.StopOrder(kind, price, dist, _WORKING[spec_s.working_type], spec_s.tag, spec_s.price_protect)


def _trailing_stop(action: Any, a: _Args) -> c.CompiledAction | None:
    spec_t = action.trailing_stop
    p = (*a.path, "trailing_stop")
    cb = _fraction(spec_t.callback, (*p, "callback"), a.ctx, "callback")
    if cb is not None and not Decimal("0.001") <= cb <= Decimal("0.10"):
        a.ctx.error(
            f"callback {cb * 100:f}% is outside Binance's range 0.1% to 10%", (*p, "callback"), None, "callback"
        )
        cb = None
    ok, act = _opt_expr(spec_t.activation, (*p, "activation"), a.scope, a.ctx)
    if cb is None or not ok:
        return None
    return c.TrailingStop(cb, act, _WORKING[spec_t.working_type], spec_t.tag)


def _deleverage(action: Any, a: _Args) -> c.CompiledAction | None:
    p = (*a.path, "deleverage", "to")
    e = a.ctx.expr(action.deleverage.to, p, a.scope, ExprType.NUM)
    if e is None:
        return None
    if e.constant is not None and not 1 <= float(e.constant) <= a.max_lev:
        a.ctx.error(
            f"deleverage to {e.constant}x: expected 1 to {a.max_lev} (max_leverage guard)", p, None, "deleverage"
        )
        return None
    return c.Deleverage(e)


def _set_leverage(action: Any, a: _Args) -> c.CompiledAction | None:
    spec_l = action.set_leverage
    assert isinstance(spec_l, m.SetLeverageSpec)
    to = spec_l.to
    if to > a.max_lev:
        a.ctx.warn(
            f"set_leverage {to}x is above max_leverage {a.max_lev}x; clamped to {a.max_lev}x (max_leverage guard)",
            (*a.path, "set_leverage"),
            None,
            "guard-clamped",
        )
    return c.ChangeLeverage(min(to, a.max_lev), to)


def _cancel(action: Any, a: _Args) -> c.CompiledAction | None:
    return c.Cancel(None if action.cancel == "all" else action.cancel.tag)


def _goto(action: Any, a: _Args) -> c.CompiledAction | None:
    if action.goto not in a.states:
        a.ctx.error(
            f"unknown state '{action.goto}'",
            (*a.path, "goto"),
            state_hint(action.goto, list(a.states)),
            "unknown-state",
        )
        return None
    return c.Goto(action.goto)


def _log(action: Any, a: _Args) -> c.CompiledAction | None:
    names: list[str] = []
    ok = True
    for mt in _PLACEHOLDER_RE.finditer(action.log):
        name = mt.group(1).strip()
        if fmt := _LOG_FORMAT_RE.match(name):  # Python's `{equity:.2f}` or `{equity!r}`
            span = a.ctx.source.span_in_value((*a.path, "log"), action.log, mt.start(), len(mt.group(0)))
            a.ctx.at(
                "error",
                f"log placeholder '{mt.group(0)}' has a format; placeholders take a name only",
                span,
                f"write {{{fmt.group(1)}}}: numbers show 6 significant digits",
                "log",
            )
            ok = False
            continue
        e = ctx_expr_name(name, mt.start(1), action.log, (*a.path, "log"), a.scope, a.ctx)
        if e is None:
            ok = False
        else:
            names.append(name)
    for mt in _UNCLOSED_RE.finditer(action.log):
        # The engine would journal `x {equity` as written: surely a placeholder missing its `}`.
        span = a.ctx.source.span_in_value((*a.path, "log"), action.log, mt.start(), len(mt.group(0)))
        word = mt.group(1)
        a.ctx.at(
            "error",
            f"log placeholder '{mt.group(0)}' is not closed with '}}'",
            span,
            f"close it: {{{word}}}" if word else "a placeholder is one name in braces, e.g. {equity}",
            "log",
        )
        ok = False
    # The engine fills `{name}` by its text: `{ equity }` is written `{equity}` for it.
    template = _PLACEHOLDER_RE.sub(lambda mt: "{" + mt.group(1).strip() + "}", action.log)
    return c.Log(template, tuple(names)) if ok else None


def _halt(action: Any, a: _Args) -> c.CompiledAction | None:
    h = action.halt
    reason = h if isinstance(h, str) else (h.reason if h is not None else "halt action")
    return c.Halt(reason)


ACTIONS: dict[type, Callable[[Any, _Args], c.CompiledAction | None]] = {
    m.EnterAction: _enter,
    m.ExitAction: _exit,
    m.ReduceAction: _reduce,
    m.StopLossAction: _stop,
    m.TakeProfitAction: _stop,
    m.TrailingStopAction: _trailing_stop,
    m.DeleverageAction: _deleverage,
    m.SetLeverageAction: _set_leverage,
    m.CancelAction: _cancel,
    m.GotoAction: _goto,
    m.LogAction: _log,
    m.HaltAction: _halt,
}


def ctx_expr_name(
    name: str, offset: int, text: str, path: Path_, scope: Scope, ctx: CompileContext
) -> CompiledExpr | None:
    """Check one `{placeholder}` of a log message: a single name of the scope."""
    try:
        e = compile_expr(name, scope, None)
    except ExprError as exc:
        for issue in exc.issues:
            span = ctx.source.span_in_value(path, text, offset + issue.offset, issue.length)
            ctx.at("error", f"in log placeholder: {issue.message}", span, issue.hint, issue.code or "expression")
        return None
    # One name and nothing else: the engine looks the placeholder's text up as a name, so
    # `{round(equity, 2)}` would read as "None".
    if set(e.names) != {name} or e.constant is not None:
        span = ctx.source.span_in_value(path, text, offset, len(name))
        ctx.at("error", f"log placeholder '{{{name}}}' must be a single name", span, "e.g. {equity}", "log")
        return None
    return e
