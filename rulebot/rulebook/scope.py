"""What a rulebook's expressions may read: every name with its type, kind and choices.

The scope is built once per rulebook (after `--set` overrides) and is then only read: the
expression checker resolves names against it and the engine learns from it which values
to keep a previous copy of.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from rulebot.rulebook.expr_functions import FUNCTIONS
from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.params import ParamDecl, kind_of

ParamValue = float | int | str | bool

SERIES_FIELDS = ("open", "high", "low", "close", "volume", "returns")
POSITION_SIDES = ("long", "short", "none")


class NameKind(enum.Enum):
    MARKET = "market"
    SERIES = "series"
    POSITION = "position"
    ACCOUNT = "account"
    ENGINE = "engine"
    PARAM = "params"
    INDICATOR = "indicators"


@dataclass(frozen=True, slots=True)
class NameInfo:
    """One readable name. `has_prev`: the engine keeps its previous value (for crossover)."""

    name: str
    type: ExprType
    kind: NameKind
    choices: tuple[str, ...] = ()  # the only values an enumerated text name can take
    has_prev: bool = True
    value: ParamValue | None = None  # params only: the constant, inlined by the code generator
    decl: ParamDecl | None = None  # params only: the values `--set` and a sweep may give it


@dataclass(frozen=True, slots=True)
class Extreme:
    """An indicator that is a `highest` (or `lowest`) whose window holds the current candle of
    `timeframe`: `highest(high@1h, 24)`, or a highest of such a highest. It is never below (above)
    that candle's `field`, so a comparison of the candle with it can be decided from the rulebook."""

    highest: bool
    field: str
    timeframe: str
    definition: str  # as written: highest(high@1h, 24)


def _num(name: str, kind: NameKind, has_prev: bool = True) -> NameInfo:
    return NameInfo(name, ExprType.NUM, kind, has_prev=has_prev)


_M, _P, _A, _E = NameKind.MARKET, NameKind.POSITION, NameKind.ACCOUNT, NameKind.ENGINE

# docs/expressions.md, "Names". Engine values are facts about the clock and the
# state machine; the engine keeps no previous copy of them, so crossover reads them as-is.
_FIXED: tuple[NameInfo, ...] = (
    *(
        _num(n, _M)
        for n in (
            "price",
            "bid",
            "ask",
            "mark_price",
            "index_price",
            "funding_rate",
            "next_funding_in",
        )
    ),
    NameInfo("position.side", ExprType.STR, _P, POSITION_SIDES),
    *(_num(n, _P) for n in ("position.size", "entry_price", "upnl", "roe", "liq_price", "leverage", "margin")),
    *(_num(n, _A) for n in ("equity", "available", "daily_pnl")),
    *(_num(n, _E, has_prev=False) for n in ("time", "hour", "weekday")),
)

# Names a param or indicator must not take: every fixed name, the roots of dotted names,
# the candle fields (close@15m), the functions and the boolean literals.
_BUILTIN_NAMES = frozenset(
    {i.name for i in _FIXED if "." not in i.name}
    | {i.name.split(".")[0] for i in _FIXED}
    | {"state", *SERIES_FIELDS, *FUNCTIONS, "true", "false"}
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Every flat name an expression may read (`position.side`, `close@15m`, `macd.line`)."""

    names: Mapping[str, NameInfo]
    timeframes: tuple[str, ...]
    states: tuple[str, ...]
    indicators: Mapping[str, tuple[str, ...]]  # indicator → outputs, () if single-valued
    extremes: Mapping[str, Extreme] = field(default_factory=lambda: MappingProxyType({}))  # indicators that are one

    @classmethod
    def build(
        cls,
        params: Mapping[str, ParamValue],
        indicators: Mapping[str, tuple[str, ...]],
        timeframes: Sequence[str],
        states: Sequence[str],
        decls: Mapping[str, ParamDecl] | None = None,
        extremes: Mapping[str, Extreme] | None = None,
    ) -> Scope:
        """The scope of one rulebook, `params` at their values after `--set`, each declared as in
        `decls` (a param missing there is a plain one). A param or indicator named like a built-in
        does not replace it (the compiler reports the clash, see `builtin_names`)."""
        names: dict[str, NameInfo] = {i.name: i for i in _FIXED}
        names["state"] = NameInfo("state", ExprType.STR, _E, tuple(states), has_prev=False)
        for tf in timeframes:
            for series in SERIES_FIELDS:
                flat = f"{series}@{tf}"
                names[flat] = _num(flat, NameKind.SERIES)
        for pname, value in params.items():
            names.setdefault(
                pname,
                NameInfo(
                    pname,
                    _param_type(value),
                    NameKind.PARAM,
                    has_prev=False,
                    value=value,
                    decl=(decls or {}).get(pname) or ParamDecl(pname, value, kind_of(value)),
                ),
            )
        for iname, outputs in indicators.items():
            for flat in [f"{iname}.{o}" for o in outputs] if outputs else [iname]:
                names.setdefault(flat, _num(flat, NameKind.INDICATOR))
        return cls(
            names=MappingProxyType(names),
            timeframes=tuple(timeframes),
            states=tuple(states),
            indicators=MappingProxyType({k: tuple(v) for k, v in indicators.items()}),
            extremes=MappingProxyType(dict(extremes or {})),
        )

    @staticmethod
    def builtin_names() -> frozenset[str]:
        """Names that belong to the language; a param or indicator may not take one."""
        return _BUILTIN_NAMES

    def get(self, name: str) -> NameInfo | None:
        return self.names.get(name)

    def param_decl(self, name: str) -> ParamDecl:
        """How param `name` is declared: the values it may take besides its own."""
        info = self.names[name]
        assert info.decl is not None, f"{name} is not a param"
        return info.decl

    def of_kind(self, kind: NameKind) -> tuple[str, ...]:
        return tuple(n for n, i in self.names.items() if i.kind is kind)


def _param_type(value: ParamValue) -> ExprType:
    # bool first: True is an int to Python, but a boolean to a rulebook.
    if isinstance(value, bool):
        return ExprType.BOOL
    if isinstance(value, str):
        return ExprType.STR
    return ExprType.NUM
