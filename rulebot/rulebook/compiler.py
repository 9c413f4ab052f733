"""Rulebook text → `CompiledRulebook`, or every error found, each with its place in the file.

Stages: safe YAML with positions (load.py) → structure (model.py) → params and overrides
(compile_params.py) → symbols and timeframes (compile_market.py) → states (compile_states.py) →
indicators (indicator_graph.py) → scope → guards merged (guards.py) → rules, with every
expression checked and compiled (compile_rules.py, compile_actions.py, expr.py) → whole-machine
checks (checks.py) → dispatch table. Errors of one stage are all collected before the next stage needs its result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping

from pydantic import ValidationError

from rulebot.core.enums import MarginType, Market
from rulebot.rulebook import compiled as c
from rulebot.rulebook import model as m
from rulebot.rulebook.checks import check_machine
from rulebot.rulebook.compile_market import check_known_symbols, check_symbols, compile_timeframes
from rulebot.rulebook.compile_params import check_shadowing, compile_params
from rulebot.rulebook.compile_rules import compile_rule
from rulebot.rulebook.compile_states import compile_states
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import validation_diagnostics, without_bad_keys
from rulebot.rulebook.errors import Diagnostic, RulebookError
from rulebot.rulebook.guards import EffectiveRisk, RiskValueError, merge_risk
from rulebot.rulebook.indicator_graph import compile_indicators, declared_outputs, extremes
from rulebot.rulebook.load import LoadedYaml, load_yaml_bytes, load_yaml_file, load_yaml_text
from rulebot.rulebook.scope import Scope
from rulebot.rulebook.source_map import Path_

# The rulebook's words for the account settings, as the core enums the engine and the venues use.
MARKETS = {"usdm": Market.USDM, "coinm": Market.COINM}
MARGIN_TYPES = {"isolated": MarginType.ISOLATED, "cross": MarginType.CROSSED}

# market ("usdm", "coinm") → the symbols that exist there, and what to say of a symbol not among
# them ("not in the built-in catalog; ...")
KnownSymbols = Mapping[str, tuple[Collection[str], str]]


def compile_file(
    path: str, overrides: Mapping[str, str] | None = None, known_symbols: KnownSymbols | None = None
) -> c.CompiledRulebook:
    """Compile a rulebook file; raise RulebookError with all diagnostics if it is not valid.

    `known_symbols`, when given, makes a symbol not listed for the rulebook's market an error
    (the caller passes a catalog or an exchangeInfo: this layer knows no exchange)."""
    try:
        return _compile(load_yaml_file(path), overrides, known_symbols)
    except RulebookError as exc:
        exc.file = path
        raise


def compile_bytes(
    raw: bytes, file: str, overrides: Mapping[str, str] | None = None, known_symbols: KnownSymbols | None = None
) -> c.CompiledRulebook:
    """Compile a rulebook read as bytes (stdin's), checked as a file's are; `file` names it."""
    try:
        return _compile(load_yaml_bytes(raw, file), overrides, known_symbols)
    except RulebookError as exc:
        exc.file = file
        raise


def compile_text(
    text: str,
    file: str = "<string>",
    overrides: Mapping[str, str] | None = None,
    known_symbols: KnownSymbols | None = None,
) -> c.CompiledRulebook:
    return _compile(load_yaml_text(text, file), overrides, known_symbols)


def _compile(
    loaded: LoadedYaml, overrides: Mapping[str, str] | None, known_symbols: KnownSymbols | None = None
) -> c.CompiledRulebook:
    ctx = CompileContext(loaded.source)
    data = loaded.data
    if not isinstance(data, dict):
        raise RulebookError(
            [
                Diagnostic(
                    "error",
                    "a rulebook is a mapping of keys (rulebook:, market:, rules: ...)",
                    loaded.source.span(()),
                    code="schema",
                )
            ]
        )
    try:
        book = m.Rulebook.model_validate(data)
    except ValidationError as exc:
        # Carry on without the refused keys when that is safe, so the rest of the file is checked
        # too: the user fixes every error in one round instead of one per run.
        found = validation_diagnostics(exc, data, loaded.source)
        pruned = without_bad_keys(exc, data)
        try:
            if pruned is None:
                raise exc
            book = m.Rulebook.model_validate(pruned)
        except ValidationError:
            raise RulebookError(found) from None
        ctx.diagnostics.extend(found)

    params, param_decls = compile_params(book, overrides or {}, ctx)
    before = len(ctx.diagnostics)
    margin_asset = check_symbols(book, ctx)
    if known_symbols is not None and book.market in known_symbols:
        flagged = {d.span for d in ctx.diagnostics[before:]}
        check_known_symbols(book, known_symbols[book.market], ctx, flagged)
    states, initial = compile_states(book, ctx)
    timeframes = compile_timeframes(book, ctx)
    indicators = compile_indicators(book.indicators, params, timeframes, ctx)
    scope = Scope.build(
        params=params,
        # An indicator in error is still declared: a rule reading it gets no second error for it.
        indicators={**declared_outputs(book.indicators), **{ind.name: ind.outputs for ind in indicators}},
        timeframes=timeframes,
        states=list(states),
        decls=param_decls,
        extremes=extremes(indicators),
    )
    check_shadowing(book, scope, ctx)

    def risk_warn(key: str, message: str, hint: str | None) -> None:
        path: Path_ = ("account", "leverage") if key == "account.leverage" else ("risk", key)
        ctx.warn(message, path, hint, "guard-clamped")

    risk: EffectiveRisk | None = None
    try:
        risk = merge_risk(book.risk, book.account.leverage, margin_asset, risk_warn)
    except RiskValueError as exc:
        for problem in exc.all:
            ctx.error(str(problem), ("risk", problem.key), problem.hint, "risk")
    if book.account.margin == "cross" and not book.risk.allow_cross:
        ctx.error(
            "account.margin is cross, but the isolated-margin guard allows it only with risk.allow_cross: true",
            ("account", "margin"),
            "cross margin lets one position's loss "
            "consume the whole account; set risk.allow_cross: true if that is intended",
            "cross-margin",
        )

    max_lev = risk.max_leverage if risk else 10
    rules = [compile_rule(i, rule, book, scope, states, timeframes, max_lev, ctx) for i, rule in enumerate(book.rules)]
    names = [r.name for r in book.rules]
    for i, name in enumerate(names):
        if name in names[:i]:
            ctx.error(
                f"duplicate rule name '{name}'",
                ("rules", i, "name"),
                "rule names identify decisions in the journal; make each one unique",
                "duplicate-rule",
            )
    if ctx.failed or risk is None or any(r is None for r in rules):
        raise RulebookError(ctx.diagnostics)
    compiled_rules = tuple(r for r in rules if r is not None)

    check_machine(book, compiled_rules, states, initial, ctx)
    if ctx.failed:
        raise RulebookError(ctx.diagnostics)

    dispatch: dict[c.DispatchKey, list[c.CompiledRule]] = {}
    for rule in compiled_rules:
        for state in rule.states:
            dispatch.setdefault((rule.trigger.key, state), []).append(rule)
    ordered = {k: tuple(sorted(v, key=lambda r: (-r.priority, r.index))) for k, v in dispatch.items()}
    prev = frozenset(n for r in compiled_rules for n in _prev_names(r))

    text = loaded.source.text
    return c.CompiledRulebook(
        name=book.rulebook,
        description=book.description,
        source_file=loaded.source.file,
        source_text=text,
        source_hash=hashlib.sha256(text.encode()).hexdigest(),
        market=book.market,
        symbols=tuple(book.symbols),
        margin_asset_hint=margin_asset,
        margin=book.account.margin,
        position_mode=book.account.position_mode,
        leverage=min(book.account.leverage, risk.max_leverage),
        timeframes=tuple(timeframes),
        params=params,
        param_decls=param_decls,
        indicators=tuple(indicators),
        states=states,
        initial_state=initial,
        rules=compiled_rules,
        dispatch=ordered,
        risk=risk,
        market_type=MARKETS[book.market],
        margin_type=MARGIN_TYPES[book.account.margin],
        hedge=book.account.position_mode == "hedge",
        warnings=tuple(d for d in ctx.diagnostics if not d.is_error),
        prev_names=prev,
    )


def _prev_names(rule: c.CompiledRule) -> frozenset[str]:
    return rule.when.prev_names if rule.when is not None else frozenset()
