"""Turn pydantic's validation errors into located diagnostics a person can act on."""

from __future__ import annotations

import copy
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel, ValidationError

from rulebot.rulebook import model as m
from rulebot.rulebook.errors import Diagnostic
from rulebot.rulebook.source_map import Path_, SourceMap

_TYPE_WORDS = {
    "str": "a string",
    "float": "a number",
    "int": "a whole number",
    "bool": "true or false",
    "list": "a list",
    "dict": "a mapping",
    "string": "a string",
    "model": "a mapping",  # pydantic's word for one of the rulebook's sections (a rule, a state)
}

_DURATION_HINT = "a number and a unit s, m, h, d or w, e.g. 90s, 15m, 2h"
_SCALAR_TYPES = frozenset({"float_type", "int_type", "string_type", "bool_type"})
_RANGE_ERRORS = ("greater_than_equal", "less_than_equal", "greater_than", "less_than")


def did_you_mean(word: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    close = get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _model_at(path: Path_, data: Any) -> type[BaseModel] | None:
    """The model whose keys are allowed at `path` (for "unknown key" suggestions)."""
    if path == ():
        return m.Rulebook
    head = path[0]
    if head == "account" and len(path) == 1:
        return m.Account
    if head == "risk" and len(path) == 1:
        return m.Risk
    if head == "states" and len(path) == 2:
        return m.State
    if head == "rules" and len(path) == 2:
        return m.Rule
    if head == "rules" and len(path) == 5 and path[2] == "do":
        action = m.ACTION_MODELS.get(str(path[4]))
        if action is None:
            return None
        field = next(iter(action.model_fields.values()))
        for arg in getattr(field.annotation, "__args__", (field.annotation,)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _walk(loc: tuple[Any, ...], data: Any) -> tuple[Path_, Any, list[Any]]:
    """Follow `loc` through the data; pydantic inserts union/tag names that are not in it."""
    path: list[str | int] = []
    node = data
    rest: list[Any] = []
    for item in loc:
        in_list = isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)
        if (isinstance(node, dict) and item in node) or in_list:
            path.append(item)
            node = node[item]
        else:
            rest.append(item)
    return tuple(path), node, rest


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _action_problem(value: Any) -> tuple[str, str | None]:
    actions = list(m.ACTION_MODELS)
    if isinstance(value, dict):
        if len(value) == 1:
            key = str(next(iter(value)))
            return f"unknown action '{key}'", (did_you_mean(key, actions) or "") + f" (actions: {', '.join(actions)})"
        if not value:
            return "empty action", f"actions: {', '.join(actions)}"
        keys = ", ".join(str(k) for k in value)
        return (
            f"an action has exactly one key, this one has {len(value)}: {keys}",
            "put each action in its own list item (`- goto: x` and `- log: y`)",
        )
    if isinstance(value, str):
        return f"unknown action '{value}'", (did_you_mean(value, actions) or "") + f" (actions: {', '.join(actions)})"
    return f"an action must be a mapping like `goto: flat`, not {_describe(value)}", None


def validation_diagnostics(exc: ValidationError, data: Any, source: SourceMap) -> list[Diagnostic]:
    """One diagnostic per wrong place (pydantic reports a union's failure once per member)."""
    walked = [(_walk(tuple(d["loc"]), data), dict(d)) for d in exc.errors()]
    by_path: dict[Path_, list[tuple[dict[str, Any], list[Any], Any]]] = {}
    for (path, node, rest), details in walked:
        # A union member refused by type (`int` for `set_leverage: {to: 1000}`) says nothing when
        # another member got further into the value: that one's error is the one to report.
        deeper = any(len(p) > len(path) and p[: len(path)] == path for (p, _, _), _ in walked)
        if rest and str(details["type"]).endswith("_type") and deeper:
            continue
        by_path.setdefault(path, []).append((details, rest, node))

    out: list[Diagnostic] = []
    for path, errs in by_path.items():
        if isinstance(errs[0][2], dict) and any(e["type"] not in _SCALAR_TYPES for e, _, _ in errs):
            # A mapping where a union also takes a number or text (`fast: {min: 10}`) was meant as
            # the mapping member: what that member refused is the error, not "expected a number".
            errs = [x for x in errs if x[0]["type"] not in _SCALAR_TYPES]
        types = [e["type"] for e, _, _ in errs]
        err, rest, node = errs[0]
        span = source.span(path)
        if rest == ["[key]"] and path:  # the key itself is wrong (`1:` is a number to YAML)
            node, span = path[-1], source.span(path, key=True)
        hint: str | None = None
        code = "schema"
        if "extra_forbidden" in types:
            for e, _rest, _ in errs:
                if e["type"] != "extra_forbidden":
                    continue
                key = str(e["loc"][-1])
                model = _model_at(path[:-1], data)
                allowed = _keys_of(model) if model else []
                h = did_you_mean(key, allowed)
                if allowed:
                    h = ((h + " ") if h else "") + "(allowed here: " + ", ".join(allowed) + ")"
                out.append(Diagnostic("error", f"unknown key '{key}'", source.span(path, key=True), h, "unknown-key"))
            continue
        if "unknown_action" in types:
            msg, hint = _action_problem(node)
            out.append(Diagnostic("error", msg, span, hint, "unknown-action"))
            continue
        if types == ["missing"] * len(types):
            for e, rest_e, _ in errs:
                key = str(rest_e[-1]) if rest_e else str(e["loc"][-1])
                model = _model_at(path, data)
                desc = None
                if model is not None:
                    for name, f in model.model_fields.items():
                        if (f.alias or name) == key:
                            desc = f.description
                owner = source.span(path, key=True) if path else source.span(path)
                where = f" in '{path[-1]}'" if path and isinstance(path[-1], str) else ""
                out.append(Diagnostic("error", f"missing required key '{key}'{where}", owner, desc, "missing-key"))
            continue
        if any(e["type"] == "finite_number" for e, _, _ in errs):  # YAML's .inf and .nan (or 1e400)
            msg = f"{_describe(node)} is not a finite number"
            out.append(Diagnostic("error", msg, span, "write a number (.inf and .nan have no meaning here)", code))
            continue
        ranged = [e for e, _, _ in errs if e["type"] in _RANGE_ERRORS]
        if len(errs) > 1 and ranged:  # a whole number, but outside the bounds of the member it fits
            out.append(
                Diagnostic("error", f"{_describe(node)} is out of range: {ranged[0]['msg'].lower()}", span, None, code)
            )
            continue
        if len(errs) > 1:
            wanted = []
            for e, rest_e, _ in errs:
                member = str(rest_e[-1]) if rest_e else ""
                word = _TYPE_WORDS.get(member.split("[")[0])
                if e["type"] == "literal_error" and e.get("ctx"):
                    word = str(e["ctx"].get("expected"))
                if e["type"] == "string_pattern_mismatch":
                    word = (
                        "a duration like 15m"
                        if "s|m|h|d|w" in str(e.get("ctx", {}).get("pattern"))
                        else "text in the right form"
                    )
                if word and word not in wanted:
                    wanted.append(word)
            if "a number" in wanted and "a whole number" in wanted:
                wanted.remove("a whole number")  # a whole number is a number: said once
            msg = f"invalid value {_describe(node)}: expected " + (" or ".join(wanted) if wanted else "another value")
            out.append(Diagnostic("error", msg, span, None, code))
            continue
        etype = err["type"]
        ctx = err.get("ctx") or {}
        if etype == "literal_error":
            expected = str(ctx.get("expected", ""))
            msg = f"invalid value {_describe(node)}: expected {expected}"
            options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",")]
            hint = did_you_mean(str(node), options)
        elif etype == "string_pattern_mismatch":
            pattern = str(ctx.get("pattern", ""))
            if "s|m|h|d|w" in pattern:
                msg = f"invalid duration {_describe(node)}"
                hint = _DURATION_HINT
            elif pattern == m.NAME_PATTERN:
                msg = f"invalid name {_describe(node)}"
                hint = "use lowercase letters, digits, '-', '_' and '.'"
            else:
                msg = f"invalid value {_describe(node)}"
                hint = "use letters, digits and '_' (a name like stop_1)"
        elif etype == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
        elif etype in ("too_short", "list_too_short"):
            msg = f"'{path[-1] if path else 'value'}' must not be empty"
        elif etype == "int_from_float":
            msg = f"expected a whole number, got {_describe(node)}"
        elif etype == "string_type" and _is_duration(path, data):
            msg = f"expected a duration like 15m, got {_describe(node)}"
            hint = _DURATION_HINT
        elif etype.endswith("_type") or etype.endswith("_parsing"):
            want = _TYPE_WORDS.get(etype.split("_")[0], etype.split("_")[0])
            msg = f"expected {want}, got {_describe(node)}"
            model = _model_at(path, data) if etype == "model_type" else None
            if model is not None:
                noun = {m.Rule: "a rule's keys", m.State: "a state's keys"}.get(model, f"keys of '{path[-1]}'")
                hint = f"{noun}: " + ", ".join(_keys_of(model))
        elif etype in _RANGE_ERRORS:
            msg = f"{_describe(node)} is out of range: {err['msg'].lower()}"
        else:
            msg = str(err["msg"])
        out.append(Diagnostic("error", msg, span, hint, code))
    return out


def _is_duration(path: Path_, data: Any) -> bool:
    """Is the key at `path` one of the model's durations (`stale_after`, `timeout`, `expire`)?"""
    model = _model_at(path[:-1], data) if path else None
    field = next((f for n, f in model.model_fields.items() if (f.alias or n) == path[-1]), None) if model else None
    return field is not None and "s|m|h|d|w" in repr(field.annotation)  # model.Duration's pattern


def state_hint(name: str, names: list[str]) -> str:
    """A did-you-mean for an unknown state, and the states there are."""
    h = did_you_mean(name, names)
    return ((h + " ") if h else "") + f"(states: {', '.join(names)})"


# Sections whose keys all have defaults: a wrong value there can be set aside and the rest of the
# file still compiled, so one run reports every error (a file that tries to switch the guards off
# has one in each key).
_DEFAULTED_SECTIONS = ("risk", "account")


def without_bad_keys(exc: ValidationError, data: Any) -> Any | None:
    """A copy of `data` without the keys pydantic refused, when dropping them changes nothing else
    (an unknown key anywhere, a bad value of a defaulted `risk:`/`account:` key); None otherwise."""
    drop: list[Path_] = []
    for details in exc.errors():
        path, _node, rest = _walk(tuple(details["loc"]), data)
        if details["type"] == "missing" or rest or not path or not isinstance(path[-1], str):
            return None
        if details["type"] != "extra_forbidden" and not (len(path) == 2 and path[0] in _DEFAULTED_SECTIONS):
            return None
        drop.append(path)
    out = copy.deepcopy(data)
    for path in drop:
        node = out
        for item in path[:-1]:
            node = node[item]
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out
