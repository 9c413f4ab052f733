"""Indicator definitions → a checked dependency graph in update order, with warm-up lengths.

A definition is one flat call: `ema(close@15m, fast)`, `atr(15m, 14)`, `sma(vol, 240)`,
`macd(close@1h, 12, 26, 9)`. The first argument is the input (a candle field at a timeframe,
another indicator, or a timeframe for candle indicators); the rest are numbers or numeric
params. Nesting is not allowed on purpose: every intermediate value gets a name, so that
conditions and the audit journal can read it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rulebot.core.indicators import INDICATORS, IndicatorSpec
from rulebot.core.indicators_base import DAY_MS
from rulebot.rulebook.compiled import CandleInput, CompiledIndicator, IndicatorInput, SeriesInput
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import did_you_mean
from rulebot.rulebook.history import timeframe_ms
from rulebot.rulebook.model import DURATION_RE
from rulebot.rulebook.scope import Extreme

SERIES_FIELDS = ("open", "high", "low", "close", "volume", "returns")
_CALL_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.S)
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_SERIES_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)@([0-9]+[smhdw])$")
_NUMBER_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True, slots=True)
class _Arg:
    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class _Parsed:
    name: str
    function: str
    spec: IndicatorSpec
    input: SeriesInput | IndicatorInput | CandleInput
    params: tuple[float, ...]
    definition: str


def _split_args(inner: str, base: int) -> list[_Arg]:
    args: list[_Arg] = []
    pos = 0
    for piece in inner.split(","):
        lead = len(piece) - len(piece.lstrip())
        args.append(_Arg(piece.strip(), base + pos + lead))
        pos += len(piece) + 1
    return args


def compile_indicators(
    definitions: Mapping[str, str],
    params: Mapping[str, float | int | str | bool],
    timeframes: list[str],
    ctx: CompileContext,
) -> list[CompiledIndicator]:
    """Check every definition, then order them so each indicator's input updates first."""
    parsed: dict[str, _Parsed] = {}
    names = list(definitions)
    for name, text in definitions.items():
        p = _parse_one(name, text, names, params, timeframes, ctx)
        if p is not None:
            parsed[name] = p

    order: list[str] = []
    visiting: list[str] = []
    done: set[str] = set()

    def visit(n: str) -> bool:
        if n in done:
            return True
        if n in visiting:
            cycle = " → ".join([*visiting[visiting.index(n) :], n])
            ctx.error(
                f"indicators depend on each other in a cycle: {cycle}", ("indicators", n), None, "indicator-cycle"
            )
            return False
        visiting.append(n)
        p = parsed[n]
        ok = True
        if isinstance(p.input, IndicatorInput):
            dep = p.input.name.split(".")[0]
            ok = dep in parsed and visit(dep)
        visiting.pop()
        done.add(n)
        if ok:
            order.append(n)
        return ok

    for n in parsed:
        visit(n)

    result: dict[str, CompiledIndicator] = {}
    for n in order:
        p = parsed[n]
        own = p.spec.warmup(*p.params)
        if isinstance(p.input, IndicatorInput):
            up = result[p.input.name.split(".")[0]]
            total, tf = up.total_warmup + own - 1, up.timeframe
        elif isinstance(p.input, SeriesInput):
            # A return needs the close before it, so it starts one candle later.
            total, tf = own + (1 if p.input.field == "returns" else 0), p.input.timeframe
        else:
            total, tf = own, p.input.timeframe
            if p.function == "vwap" and not p.params[0]:
                # The session VWAP is ready on the candle that opens a UTC day: only a day of history
                # before any moment is sure to hold that day's midnight.
                total = max(own, DAY_MS // timeframe_ms(tf))
        result[n] = CompiledIndicator(n, p.function, p.input, p.params, p.spec.outputs, own, total, tf, p.definition)
    return list(result.values())


def extremes(indicators: Sequence[CompiledIndicator]) -> dict[str, Extreme]:
    """The indicators that are a highest or lowest over windows holding the current candle: of a
    candle field (`highest(high@1h, 24)`) or of another such one of the same kind (`highest(hh, 3)`).
    `indicators` come in update order, so an input is known before what reads it."""
    found: dict[str, Extreme] = {}
    for ind in indicators:
        if ind.function not in ("highest", "lowest"):
            continue
        highest = ind.function == "highest"
        if isinstance(ind.input, SeriesInput):
            found[ind.name] = Extreme(highest, ind.input.field, ind.input.timeframe, ind.definition)
        elif (
            isinstance(ind.input, IndicatorInput)
            and (inner := found.get(ind.input.name)) is not None
            and inner.highest == highest
        ):
            found[ind.name] = Extreme(highest, inner.field, inner.timeframe, ind.definition)
    return found


def declared_outputs(definitions: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Each indicator's outputs as its function declares them, () for one value or a function not
    known; for those in error too, so that a rule reading one is not told the name does not exist."""
    out: dict[str, tuple[str, ...]] = {}
    for name, text in definitions.items():
        call = _CALL_RE.match(text)
        spec = INDICATORS.get(call.group(1)) if call else None
        out[name] = spec.outputs if spec is not None else ()
    return out


def _parse_one(
    name: str,
    text: str,
    names: list[str],
    params: Mapping[str, float | int | str | bool],
    timeframes: list[str],
    ctx: CompileContext,
) -> _Parsed | None:
    path = ("indicators", name)

    def err(message: str, offset: int, length: int, hint: str | None = None, code: str = "indicator") -> None:
        ctx.at("error", message, ctx.source.span_in_value(path, text, offset, max(length, 1)), hint, code)

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        ctx.error(f"indicator name '{name}' is not an identifier", path, None, "indicator-name", key=True)
        return None
    call = _CALL_RE.match(text)
    if not call:
        err(
            f"indicator '{name}' must be a call like ema(close@15m, 21)",
            0,
            len(text),
            f"functions: {', '.join(INDICATORS)}",
        )
        return None
    fname = call.group(1)
    spec = INDICATORS.get(fname)
    if spec is None:
        hint = did_you_mean(fname, list(INDICATORS))
        err(
            f"unknown indicator function '{fname}'",
            call.start(1),
            len(fname),
            ((hint + " ") if hint else "") + f"(functions: {', '.join(INDICATORS)})",
            "unknown-function",
        )
        return None
    args = _split_args(call.group(2), call.start(2))
    if "(" in call.group(2):
        err(
            "indicator definitions are flat calls; give the inner value its own name",
            call.start(2),
            len(call.group(2)),
            "e.g. fast: ema(close@1h, 12) and then slow_of_fast: sma(fast, 5)",
        )
        return None
    if len(args) > 1 and any(not a.text for a in args):
        empty = next(a for a in args if not a.text)
        written = ", ".join(a.text for a in args if a.text)
        err(f"{fname} has an empty argument", empty.offset, 1, f"remove the extra comma: {fname}({written})")
        return None
    if not args or not args[0].text:
        err(f"{fname} needs an input", call.start(2), 1, _signature(spec))
        return None
    first, rest = args[0], args[1:]
    given = len(rest)
    required = sum(1 for ps in spec.params if ps.default is None)
    if not required <= given <= len(spec.params):
        words = [word for a in args for word in a.text.split()]
        # `ema(close@15m 20)`: one argument to the parser, two to the person who wrote it.
        comma = f"a comma is missing: {fname}({', '.join(words)})?" if len(words) > len(args) else None
        err(
            f"{fname} takes {required}"
            + (f" to {len(spec.params)}" if len(spec.params) != required else "")
            + f" argument(s) after its input, got {given}",
            call.start(1),
            len(text) - call.start(1),
            comma or _signature(spec),
        )
        return None

    inp: SeriesInput | IndicatorInput | CandleInput | None = None
    if spec.input == "candles":
        if DURATION_RE.match(first.text):
            if first.text not in timeframes:
                err(
                    f"timeframe '{first.text}' is not declared",
                    first.offset,
                    len(first.text),
                    f"add it to timeframes: (declared: {', '.join(timeframes) or 'none'})",
                    "undeclared-timeframe",
                )
                return None
            inp = CandleInput(first.text)
        else:
            err(
                f"{fname} reads whole candles: its input is a timeframe like 15m, not '{first.text}'",
                first.offset,
                len(first.text),
                _signature(spec),
            )
            return None
    else:
        series = _SERIES_RE.match(first.text)
        if series:
            field, tf = series.group(1), series.group(2)
            if field not in SERIES_FIELDS:
                hint = did_you_mean(field, SERIES_FIELDS)
                err(
                    f"unknown candle field '{field}'",
                    first.offset,
                    len(field),
                    ((hint + " ") if hint else "") + f"(fields: {', '.join(SERIES_FIELDS)})",
                    "unknown-name",
                )
                return None
            if tf not in timeframes:
                err(
                    f"timeframe '{tf}' is not declared",
                    first.offset + len(field) + 1,
                    len(tf),
                    f"add it to timeframes: (declared: {', '.join(timeframes) or 'none'})",
                    "undeclared-timeframe",
                )
                return None
            inp = SeriesInput(field, tf)
        elif DURATION_RE.match(first.text):
            err(
                f"{fname} reads a series, e.g. close@{first.text}, not a bare timeframe",
                first.offset,
                len(first.text),
                _signature(spec),
            )
            return None
        elif _IDENT_RE.match(first.text):
            base = first.text.split(".")[0]
            if base == name:
                err(f"indicator '{name}' cannot read itself", first.offset, len(first.text), None, "indicator-cycle")
                return None
            if base not in names:
                if base in SERIES_FIELDS:
                    err(
                        f"'{base}' needs a timeframe",
                        first.offset,
                        len(first.text),
                        f"write {base}@{timeframes[0] if timeframes else '15m'}",
                        "unknown-name",
                    )
                else:
                    hint = did_you_mean(base, names)
                    err(
                        f"unknown input '{first.text}'",
                        first.offset,
                        len(first.text),
                        ((hint + " ") if hint else "") + "(inputs: a candle field like close@15m, or another "
                        f"indicator: {', '.join(n for n in names if n != name) or 'none'})",
                        "unknown-name",
                    )
                return None
            inp = IndicatorInput(first.text)
        else:
            err(f"'{first.text}' is not a series", first.offset, len(first.text), _signature(spec))
            return None

    values: list[float] = []
    ok = True
    for ps, arg in zip(spec.params, rest, strict=False):
        if _NUMBER_RE.match(arg.text):
            v = float(arg.text)
        elif (
            arg.text in params and isinstance(params[arg.text], int | float) and not isinstance(params[arg.text], bool)
        ):
            v = float(params[arg.text])
        elif arg.text in params:  # a bool or a text param: True is an int to Python, not here
            kind = "true or false" if isinstance(params[arg.text], bool) else "text"
            err(f"param '{arg.text}' is {kind}, not a number", arg.offset, len(arg.text), f"({ps.name} of {fname})")
            ok = False
            continue
        else:
            numeric = [k for k, x in params.items() if isinstance(x, int | float) and not isinstance(x, bool)]
            hint = did_you_mean(arg.text, numeric)
            err(
                f"'{arg.text}' is not a number or a numeric parameter",
                arg.offset,
                len(arg.text),
                ((hint + " ") if hint else "") + f"({ps.name} of {fname})",
                "indicator-arg",
            )
            ok = False
            continue
        # A parameter is named with its value (`--set fast=0` makes `fast` 0): the name alone hides
        # which number was wrong.
        got = arg.text if _NUMBER_RE.match(arg.text) else f"{arg.text} = {params[arg.text]!r}"
        if not math.isfinite(v):  # 1e400 reads as infinity: no length, and int() of it raises
            err(f"{ps.name} of {fname} must be a finite number, got {got}", arg.offset, len(arg.text))
            ok = False
        elif ps.kind == "int" and v != int(v):
            err(f"{ps.name} of {fname} must be a whole number, got {got}", arg.offset, len(arg.text))
            ok = False
        elif v < ps.minimum or (ps.maximum is not None and v > ps.maximum):
            rng = f"at least {ps.minimum:g}" + (f" and at most {ps.maximum:g}" if ps.maximum is not None else "")
            err(f"{ps.name} of {fname} must be {rng}, got {got}", arg.offset, len(arg.text))
            ok = False
        values.append(v)
    if not ok:
        return None
    for ps in spec.params[len(values) :]:
        assert ps.default is not None
        values.append(float(ps.default))
    if fname == "macd" and values[0] >= values[1]:
        # Its line would be the usual one upside down, or always 0: swapped lengths, not a choice.
        def shown(i: int) -> str:
            if i >= len(rest):
                return f"{values[i]:g} (the default)"
            return f"{rest[i].text} = {params[rest[i].text]!r}" if rest[i].text in params else rest[i].text

        swap = len(rest) >= 2 and values[0] > values[1]
        written = ", ".join(a.text for a in [first, rest[1], rest[0], *rest[2:]]) if swap else ""
        err(
            f"macd's fast length {shown(0)} is not below its slow length {shown(1)}",
            call.start(1),
            len(text) - call.start(1),
            f"swap them: macd({written})" if swap else "the fast length must be below the slow one",
        )
        return None
    return _Parsed(name, fname, spec, inp, tuple(values), text)


def _signature(spec: IndicatorSpec) -> str:
    first = "TF" if spec.input == "candles" else "series"
    args = [first] + [p.name if p.default is None else f"{p.name}={p.default:g}" for p in spec.params]
    return f"{spec.name}({', '.join(args)})"
