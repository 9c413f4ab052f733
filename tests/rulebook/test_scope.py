"""The scope: every name an expression may read, with its type, kind, choices and prev flag."""

from __future__ import annotations

import dataclasses

import pytest

from rulebot.rulebook.expr_types import ExprType
from rulebot.rulebook.scope import SERIES_FIELDS, NameKind, Scope

NUM, BOOL, STR = ExprType.NUM, ExprType.BOOL, ExprType.STR


def build(**kw):
    args = {
        "params": {"fast": 21, "risk": 0.01, "mode": "calm", "hedge": True},
        "indicators": {"ema_fast": (), "macd": ("line", "signal", "hist")},
        "timeframes": ["1m", "15m"],
        "states": ["flat", "armed", "long"],
    }
    args.update(kw)
    return Scope.build(**args)


@pytest.mark.parametrize(
    ("name", "type_", "kind", "has_prev"),
    [
        ("price", NUM, NameKind.MARKET, True),
        ("next_funding_in", NUM, NameKind.MARKET, True),
        ("funding_rate", NUM, NameKind.MARKET, True),
        ("position.side", STR, NameKind.POSITION, True),
        ("position.size", NUM, NameKind.POSITION, True),
        ("liq_price", NUM, NameKind.POSITION, True),
        ("margin", NUM, NameKind.POSITION, True),
        ("equity", NUM, NameKind.ACCOUNT, True),
        ("daily_pnl", NUM, NameKind.ACCOUNT, True),
        ("state", STR, NameKind.ENGINE, False),
        ("time", NUM, NameKind.ENGINE, False),
        ("hour", NUM, NameKind.ENGINE, False),
        ("weekday", NUM, NameKind.ENGINE, False),
        ("close@15m", NUM, NameKind.SERIES, True),
        ("returns@1m", NUM, NameKind.SERIES, True),
        ("ema_fast", NUM, NameKind.INDICATOR, True),
        ("macd.signal", NUM, NameKind.INDICATOR, True),
        ("fast", NUM, NameKind.PARAM, False),
        ("risk", NUM, NameKind.PARAM, False),
        ("mode", STR, NameKind.PARAM, False),
        ("hedge", BOOL, NameKind.PARAM, False),
    ],
)
def test_names_have_type_kind_and_prev_flag(name, type_, kind, has_prev):
    info = build().get(name)
    assert info is not None
    assert (info.name, info.type, info.kind, info.has_prev) == (name, type_, kind, has_prev)


def test_enumerated_text_names_list_their_values():
    scope = build()
    assert scope.names["position.side"].choices == ("long", "short", "none")
    assert scope.names["state"].choices == ("flat", "armed", "long")
    assert scope.names["mode"].choices == ()


def test_params_carry_their_value():
    scope = build()
    assert scope.names["fast"].value == 21
    assert scope.names["hedge"].value is True
    assert scope.names["price"].value is None


def test_series_exist_only_for_declared_timeframes_and_candle_fields():
    scope = build()
    assert {n for n in scope.names if "@" in n} == {f"{f}@{tf}" for f in SERIES_FIELDS for tf in ("1m", "15m")}
    assert scope.get("close@5m") is None
    assert scope.get("close") is None  # a candle field is only ever read at a timeframe


def test_multi_output_indicators_are_dotted_names_only():
    scope = build()
    assert scope.get("macd") is None
    assert {n for n in scope.names if n.startswith("macd")} == {
        "macd.line",
        "macd.signal",
        "macd.hist",
    }
    assert scope.indicators == {"ema_fast": (), "macd": ("line", "signal", "hist")}


def test_builtin_names_cover_the_language_and_not_the_rulebook():
    names = Scope.builtin_names()
    assert {
        "price",
        "bid",
        "equity",
        "state",
        "time",
        "entry_price",
        "position",
        "close",
        "returns",
        "crossover",
        "clamp",
        "true",
        "false",
    } <= names
    assert not names & {"fast", "ema_fast", "macd"}
    assert build().builtin_names() == names  # callable on an instance, as the compiler does


def test_a_param_named_like_a_builtin_does_not_replace_it():
    scope = build(params={"price": "oops"}, indicators={"equity": ()})
    assert scope.names["price"].kind is NameKind.MARKET and scope.names["price"].type is NUM
    assert scope.names["equity"].kind is NameKind.ACCOUNT


def test_of_kind_lists_names_in_declaration_order():
    scope = build()
    assert scope.of_kind(NameKind.PARAM) == ("fast", "risk", "mode", "hedge")
    assert scope.of_kind(NameKind.INDICATOR) == (
        "ema_fast",
        "macd.line",
        "macd.signal",
        "macd.hist",
    )
    assert scope.of_kind(NameKind.ACCOUNT) == ("equity", "available", "daily_pnl")


def test_scope_is_frozen():
    scope = build()
    with pytest.raises(dataclasses.FrozenInstanceError):
        scope.timeframes = ("1h",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        scope.names["price"] = scope.names["bid"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        scope.names["price"].type = STR  # type: ignore[misc]


def test_empty_rulebook_scope_still_has_the_builtins():
    scope = Scope.build(params={}, indicators={}, timeframes=[], states=[])
    assert scope.get("price") is not None
    assert scope.names["state"].choices == ()
    assert not any("@" in n for n in scope.names)
