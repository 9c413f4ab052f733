"""The `states:` section: names, timeouts and their `then`, the initial state, and where a
position-bound state goes when its position closes.
"""

from __future__ import annotations

import re

from rulebot.rulebook import compiled as c
from rulebot.rulebook import model as m
from rulebot.rulebook.context import CompileContext
from rulebot.rulebook.diagnose import state_hint


def compile_states(book: m.Rulebook, ctx: CompileContext) -> tuple[dict[str, c.StateSpec], str]:
    declared = book.states if book.states is not None else m.DEFAULT_STATES
    if not declared:
        ctx.error("states must not be empty", ("states",), "leave states out for the default flat/long/short", "states")
        declared = m.DEFAULT_STATES
    names = list(declared)
    initial = book.initial or names[0]
    if book.initial is not None and book.initial not in declared:
        ctx.error(
            f"unknown initial state '{book.initial}'", ("initial",), state_hint(book.initial, names), "unknown-state"
        )
        initial = names[0]
    # The rulebook's words become members here, once (the model's Literal admits no other word).
    binding = {name: c.PositionBinding(st.position) for name, st in declared.items()}
    flat_home = (
        initial
        if not binding[initial].holds_position
        else next((n for n, b in binding.items() if b is c.PositionBinding.NONE), None)
    )
    for name, st in declared.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            ctx.error(f"state name '{name}' is not an identifier", ("states", name), None, "state-name", key=True)
        if st.timeout is not None and st.then is None:
            ctx.error(
                f"state '{name}' has a timeout but no `then`",
                ("states", name, "timeout"),
                "say which state to move to when the timeout passes: then: flat",
                "timeout-then",
            )
        if st.then is not None and st.timeout is None:
            ctx.error(f"state '{name}' has `then` but no timeout", ("states", name, "then"), None, "timeout-then")
        if st.timeout is not None and m.duration_seconds(st.timeout) == 0:
            ctx.error(
                f"state '{name}' has a timeout of {st.timeout}: it would be left as soon as it is entered",
                ("states", name, "timeout"),
                "give it a positive duration, e.g. timeout: 2h, or move on with goto",
                "timeout",
            )
        elif st.timeout is not None and st.then == name:
            ctx.warn(
                f"state '{name}' times out into itself: the timeout does nothing",
                ("states", name, "then"),
                "name the state to move to when the timeout passes, e.g. then: flat",
                "timeout-then",
            )
        if st.then is not None and st.then not in declared:
            ctx.error(
                f"unknown state '{st.then}'", ("states", name, "then"), state_hint(st.then, names), "unknown-state"
            )
    if flat_home is None:
        ctx.error(
            "no state has position: none",
            ("states",),
            "the engine needs a state to return to when a position closes",
            "states",
        )
    specs = {
        name: c.StateSpec(
            name=name,
            position=binding[name],
            timeout_ms=m.duration_seconds(st.timeout) * 1000 if st.timeout else None,
            then=st.then,
            on_close=flat_home if binding[name].holds_position else None,
        )
        for name, st in declared.items()
    }
    return specs, initial
