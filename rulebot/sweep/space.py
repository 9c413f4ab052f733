"""The search space of a sweep: `--param` ranges checked against the rulebook's declared parameters.

`fast=8:30:2` is 8, 10, ... 30 (inclusive); `fast=8:30` is every int from 8 to 30, or, for a float
parameter, the continuous interval (random and optuna search only); `slow=21,34,55` is a list;
`mode=trend` a single value. Every value (or both ends of an interval) must be one the rulebook
allows (`rulebot.rulebook.params.value_problem`), and every constraint must name parameters:
all of it is checked here, before any trial runs.
"""

from __future__ import annotations

import ast
import csv
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, DecimalException, InvalidOperation
from typing import Any, ClassVar

from simpleeval import InvalidExpression, NameNotDefined, SimpleEval

from rulebot.core.errors import UserError
from rulebot.rulebook.diagnose import did_you_mean
from rulebot.rulebook.params import Kind, ParamDecl, Value, coerce, value_problem

MAX_GRID = 1_000_000  # a grid this large is a typo, not a plan


class SweepError(UserError):
    """A sweep cannot start as asked; the message lists every problem found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    kind: Kind
    values: tuple[Value, ...] | None  # the finite values, or None for a continuous interval
    low: float | None = None
    high: float | None = None
    step: Decimal | None = None  # for an evenly stepped numeric range (optuna samples it natively)

    @property
    def finite(self) -> bool:
        return self.values is not None


def render(value: Value) -> str:
    """A value as `--set` writes it; the compiler parses it back to the same value (floats by repr)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def shown(value: Value) -> str:
    """A value as a table or report shows it: as `--set` writes it, but an empty or blank text as
    `""` (`" "`), which a cell would show as nothing, as if the trial had no value."""
    if isinstance(value, str) and not value.strip():
        return f'"{value}"'
    return render(value)


def parse_value(text: str) -> Value:
    """The value `--set name=text` gives (the compiler's own rule: bool, int, float, else text)."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_space(specs: Sequence[str], decls: Mapping[str, ParamDecl]) -> tuple[Dimension, ...]:
    """`--param` texts → dimensions; raises SweepError naming every bad one."""
    problems: list[str] = []
    dims: list[Dimension] = []
    seen: set[str] = set()
    for spec in specs:
        name, sep, body = spec.partition("=")
        name = name.strip()
        if not sep or not name or not body.strip():
            empty_text = sep and name in decls and decls[name].kind == "str"
            problems.append(
                f"--param {spec!r}: expected NAME=LO:HI[:STEP], NAME=A,B,C or NAME=VALUE"
                + (f'; write "" for the empty text: {name}=""' if empty_text else "")
            )
            continue
        if name not in decls:
            hint = did_you_mean(name, list(decls))
            problems.append(
                f"--param {name}: the rulebook has no parameter '{name}'"
                + (f"; {hint}" if hint else "")
                + f" (params: {', '.join(decls) or 'none'})"
            )
            continue
        if name in seen:
            problems.append(f"--param {name}: given twice")
            continue
        seen.add(name)
        try:
            dim = _dimension(name, body.strip(), decls[name])
        except ValueError as exc:
            problems.append(f"--param {spec}: {exc}")
            continue
        problems.extend(f"--param {spec}: {p}" for p in _problems(dim, decls[name]))
        dims.append(dim)
    if not specs:
        problems.append("nothing to sweep: give at least one --param NAME=...")
    if problems:
        raise SweepError(problems)
    return tuple(dims)


def _dimension(name: str, body: str, decl: ParamDecl) -> Dimension:
    try:
        return _range_or_list(name, body, decl)
    except csv.Error as exc:
        raise ValueError(f'a list is A,B,C, with "..." around a value holding a comma ({exc})') from None
    except DecimalException:
        # `nan:5` (NaN compares by raising), `0:1:1e-999999999` (the count overflows Decimal):
        # a typo in the range, not a bug to report.
        raise ValueError("the ends and step of a range are finite numbers of a sane size") from None


def _range_or_list(name: str, body: str, decl: ParamDecl) -> Dimension:
    if ":" in body and decl.kind in ("int", "float"):
        parts = body.split(":")
        if len(parts) not in (2, 3):
            raise ValueError("a range is LO:HI or LO:HI:STEP")
        try:
            lo, hi = Decimal(parts[0]), Decimal(parts[1])
            step = Decimal(parts[2]) if len(parts) == 3 else None
        except InvalidOperation:
            raise ValueError("the ends and step of a range are numbers") from None
        if not (lo.is_finite() and hi.is_finite()) or lo > hi:
            raise ValueError(f"{parts[0]} is above {parts[1]}" if lo > hi else "the ends must be finite")
        if step is not None and (not step.is_finite() or step <= 0):
            raise ValueError("the step must be above 0")
        if decl.kind == "int":
            step = step if step is not None else Decimal(1)
            if any(x != x.to_integral_value() for x in (lo, hi, step)):
                raise ValueError(f"'{name}' is an int: ends and step must be whole numbers")
        if step is None:  # a float interval
            return Dimension(name, decl.kind, None, float(lo), float(hi))
        count = int((hi - lo) / step) + 1
        if count > MAX_GRID:
            raise ValueError(f"{count:,} values; at most {MAX_GRID:,}")
        # Decimal arithmetic: 0.1:0.3:0.1 is 0.1, 0.2, 0.3, not 0.30000000000000004.
        steps = [lo + i * step for i in range(count)]
        values: tuple[Value, ...] = tuple(int(v) if decl.kind == "int" else float(v) for v in steps)
        return Dimension(name, decl.kind, values, float(lo), float(hi), step)
    # CSV quoting, so that a text value holding a comma can be swept: mode="a,b",c; and the empty
    # text: mode="",a (an unquoted empty cell is a typo: a,,b or a trailing comma).
    (cells,) = csv.reader([body], skipinitialspace=True, strict=True)
    quoted = _quoted_cells(body)
    if decl.kind != "str":
        items = [parse_value(cell.strip()) for cell in cells]
    else:
        # A text parameter's values are texts, even "10" or "true" (as `--set` takes them); a
        # quoted one exactly as written.
        items = [cell if q else cell.strip() for cell, q in zip(cells, quoted, strict=True)]
    if any(isinstance(v, str) and not v and not q for v, q in zip(items, quoted, strict=True)):
        raise ValueError("an empty value in the list" + ('; write "" for the empty text' if decl.kind == "str" else ""))
    return Dimension(name, decl.kind, tuple(dict.fromkeys(items)))


def _quoted_cells(body: str) -> list[bool]:
    """For each cell csv.reader (strict, skipping initial spaces) finds in `body`: is it quoted?"""
    quoted: list[bool] = []
    starting, inside = True, False
    for ch in body:
        if starting and ch == " ":
            continue
        if starting:
            quoted.append(ch == '"')
            starting = False
        if ch == '"' and quoted[-1]:
            inside = not inside  # an escaped "" flips twice; in an unquoted cell " is a character
        elif ch == "," and not inside:
            starting = True
    if starting:
        quoted.append(False)  # the empty cell after a trailing comma
    return quoted


def _problems(dim: Dimension, decl: ParamDecl) -> list[str]:
    values = dim.values if dim.values is not None else (dim.low, dim.high)
    bad = [p for v in values if v is not None and (p := value_problem(decl, v)) is not None]
    if len(bad) > 3:
        bad = [*bad[:3], f"and {len(bad) - 3} more values outside '{decl.name}' ({decl.describe()})"]
    return bad


def coerce_values(dims: Sequence[Dimension], decls: Mapping[str, ParamDecl]) -> tuple[Dimension, ...]:
    """Values in each parameter's own type (a declared int given 12.0 gets 12)."""
    out = []
    for d in dims:
        if d.values is None:
            out.append(d)
            continue
        values = tuple(dict.fromkeys(coerce(decls[d.name], v) for v in d.values))
        out.append(Dimension(d.name, d.kind, values, d.low, d.high, d.step))
    return tuple(out)


class Constraints:
    """`--constraint "fast < slow"`: expressions over parameters a trial must satisfy to run."""

    _FUNCTIONS: ClassVar[dict[str, Any]] = {"abs": abs, "min": min, "max": max, "round": round}

    def __init__(self, texts: Sequence[str], defaults: Mapping[str, Value]):
        self.texts = tuple(texts)
        self._defaults = dict(defaults)
        self._eval = SimpleEval(names=self._defaults, functions=self._FUNCTIONS)
        problems: list[str] = []
        self._parsed: list[ast.AST] = []
        # text -> (the parameter sets it could not be evaluated for, the first such set and error);
        # sets, not a count: a walk-forward asks the same grid once per fold.
        self.failures: dict[str, tuple[set[tuple[tuple[str, Value], ...]], str]] = {}
        for text in self.texts:
            try:
                parsed = self._eval.parse(text)
                names = {n.id for n in ast.walk(parsed) if isinstance(n, ast.Name)} - set(self._FUNCTIONS)
                unknown = sorted(names - set(defaults))
                if unknown:
                    hint = did_you_mean(unknown[0], list(defaults))
                    problems.append(
                        f"--constraint {text!r}: unknown name {', '.join(unknown)}" + (f"; {hint}" if hint else "")
                    )
                    continue
                self._eval.names = self._defaults
                try:
                    sample = self._eval.eval(text, previously_parsed=parsed)
                except (InvalidExpression, ArithmeticError, TypeError):
                    sample = False  # the defaults may divide by zero; the sweep's own values decide
                if not isinstance(sample, bool):
                    problems.append(f"--constraint {text!r}: not a condition (it gives {sample!r}, not true or false)")
                    continue
                self._parsed.append(parsed)
            except (SyntaxError, InvalidExpression) as exc:
                problems.append(f"--constraint {text!r}: not an expression ({exc})")
        if problems:
            raise SweepError(problems)

    def allows(self, params: Mapping[str, Value]) -> bool:
        """True when every constraint holds; one that raises (a division by zero) counts as false
        and is remembered in `failures`, so the sweep can say why sets were dropped."""
        self._eval.names = {**self._defaults, **params}
        for text, parsed in zip(self.texts, self._parsed, strict=True):
            try:
                if self._eval.eval(text, previously_parsed=parsed) is not True:
                    return False
            except (NameNotDefined, InvalidExpression, ArithmeticError, TypeError, ValueError) as exc:
                if text not in self.failures:
                    shown = ", ".join(f"{k}={render(v)}" for k, v in params.items())
                    self.failures[text] = (set(), f"{shown}: {type(exc).__name__}: {exc}")
                self.failures[text][0].add(tuple(sorted(params.items())))
                return False
        return True

    def failure_notes(self) -> list[str]:
        """One line per constraint that could not be evaluated for some parameter sets."""
        return [
            f"--constraint {text!r} could not be evaluated for {len(sets):,} parameter set(s), skipped as false "
            f"(first: {first})"
            for text, (sets, first) in self.failures.items()
        ]


def grid(dims: Sequence[Dimension], constraints: Constraints) -> Iterator[dict[str, Value]]:
    """Every combination of the finite dimensions that the constraints allow, in order."""
    loose = [d.name for d in dims if not d.finite]
    if loose:
        raise SweepError(
            [f"grid search needs a step or a list for {', '.join(loose)} (e.g. {loose[0]}=0.01:0.05:0.01)"]
        )
    size = 1
    for d in dims:
        size *= len(d.values or ())
    if size > MAX_GRID:
        raise SweepError([f"the grid has {size:,} points; at most {MAX_GRID:,}: use --search random or optuna"])
    names = [d.name for d in dims]
    for combo in itertools.product(*(d.values or () for d in dims)):
        params = dict(zip(names, combo, strict=True))
        if constraints.allows(params):
            yield params


def grid_size(dims: Sequence[Dimension]) -> int | None:
    size = 1
    for d in dims:
        if d.values is None:
            return None
        size *= len(d.values)
    return size
