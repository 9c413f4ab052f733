"""The functions a condition may call, with their arity and the code both evaluators share.

The compiled code and the simpleeval reference call the same Python objects, so the two can
only disagree on structure (names, precedence, crossover), which is what the property test
is there to catch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def clamp(x: Any, lo: Any, hi: Any) -> Any:
    """`x` limited to [lo, hi]; written as min(max()) so NaN behaves like the builtins do."""
    return min(max(x, lo), hi)


def pct(x: Any) -> Any:
    """`pct(1.5)` is 0.015: the function form of the `1.5%` literal."""
    return x / 100


def num_pow(a: Any, b: Any) -> float:
    """`a ** b` as a float, never a complex number and never a huge integer.

    The exponent is a literal bounded at compile time; converting to float keeps
    `((9**64)**64)**64` from building a ten-million-digit int, and a negative base with a
    fractional exponent raises instead of leaking a complex number into a comparison.
    """
    r: float | complex = a ** float(b)
    if isinstance(r, complex):
        raise ValueError(f"{a!r} ** {b!r} has no real value")
    return r


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One callable name: how many arguments it takes and what it returns."""

    name: str
    min_args: int
    max_args: int | None  # None: any number from min_args up
    signature: str
    returns_bool: bool = False
    impl: Callable[..., Any] | None = None  # None: expanded inline (crossover, crossunder)


FUNCTIONS: dict[str, FunctionSpec] = {
    f.name: f
    for f in (
        FunctionSpec("crossover", 2, 2, "crossover(a, b)", returns_bool=True),
        FunctionSpec("crossunder", 2, 2, "crossunder(a, b)", returns_bool=True),
        FunctionSpec("abs", 1, 1, "abs(x)", impl=abs),
        FunctionSpec("min", 2, None, "min(a, b, ...)", impl=min),
        FunctionSpec("max", 2, None, "max(a, b, ...)", impl=max),
        FunctionSpec("round", 1, 2, "round(x[, ndigits])", impl=round),
        FunctionSpec("clamp", 3, 3, "clamp(x, lo, hi)", impl=clamp),
        FunctionSpec("pct", 1, 1, "pct(x)", impl=pct),
    )
}

# Indicator functions belong under `indicators:`; naming them here turns a confusing
# "unknown function" into an instruction.
INDICATOR_FUNCTIONS = (
    "sma",
    "ema",
    "wma",
    "rma",
    "rsi",
    "atr",
    "stdev",
    "zscore",
    "highest",
    "lowest",
    "vwap",
    "macd",
    "bbands",
    "roc",
)
