"""The rulebook's state machine as an SVG: states in a row, each transition an arc labelled with
why it happens (forward arcs above, backward arcs below), the states symbols are in now lit.

Every piece of text is escaped: state and rule names come from the rulebook's author.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

NODE_W, NODE_H, GAP, TOP = 140, 60, 96, 20
_POSITION = {"long": "#1a9850", "short": "#d73027", "flat": "#666666", "any": "#666666"}


def render(data: Mapping[str, Any], current: Mapping[str, str]) -> str:
    """`data`: `rulebot.rulebook.explain.explain(book)`; `current`: symbol → state."""
    states: Sequence[Mapping[str, Any]] = data["states"]
    names = [s["name"] for s in states]
    index = {n: i for i, n in enumerate(names)}
    edges: dict[tuple[str, str], list[str]] = {}
    for e in data["transitions"]:
        if e["from"] in index and e["to"] in index:
            edges.setdefault((e["from"], e["to"]), []).append(e["why"].removeprefix("rule "))
    span = max((abs(index[b] - index[a]) for a, b in edges), default=1)
    arc = 34 + 22 * span  # room for the tallest arc, above and below the row
    width = len(names) * (NODE_W + GAP) - GAP + 40
    row_y = TOP + arc
    height = row_y + NODE_H + arc + 24
    by_state: dict[str, list[str]] = {}
    for symbol, state in current.items():
        by_state.setdefault(state, []).append(symbol)

    def cx(i: int) -> float:
        return 20 + i * (NODE_W + GAP) + NODE_W / 2

    parts = [
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>'
    ]
    for (a, b), whys in edges.items():
        i, j = index[a], index[b]
        label = escape(", ".join(dict.fromkeys(whys)))
        if i == j:  # a rule that stays: a small loop over the node
            x, y = cx(i), row_y
            parts.append(
                f'<path d="M{x - 18},{y} C{x - 30},{y - 40} {x + 30},{y - 40} {x + 18},{y}" class="edge" '
                f'marker-end="url(#arrow)"/><text x="{x}" y="{y - 34}" class="edge-label">{label}</text>'
            )
            continue
        above = j > i
        lift = 26 + 22 * abs(j - i)
        x1, x2 = cx(i) + (10 if above else -10), cx(j) - (10 if above else -10)
        y = row_y if above else row_y + NODE_H
        mid_y = y - lift if above else y + lift
        parts.append(
            f'<path d="M{x1},{y} C{x1},{mid_y} {x2},{mid_y} {x2},{y}" class="edge" marker-end="url(#arrow)"/>'
            f'<text x="{(x1 + x2) / 2}" y="{mid_y + (14 if above else -6) + (-10 if above else 10)}" '
            f'class="edge-label">{label}</text>'
        )
    initial = data.get("initial_state")
    for i, s in enumerate(states):
        name = s["name"]
        here = by_state.get(name, [])
        x = cx(i) - NODE_W / 2
        colour = _POSITION.get(s.get("position") or "any", "#666666")
        css = "node lit" if here else "node"
        parts.append(
            f'<g class="{css}" data-state="{escape(name)}"><rect x="{x}" y="{row_y}" width="{NODE_W}" '
            f'height="{NODE_H}" rx="10" style="stroke:{colour}"/>'
            f'<text x="{cx(i)}" y="{row_y + 20}" class="node-name">{escape(name)}</text>'
            f'<text x="{cx(i)}" y="{row_y + 36}" class="node-sub">'
            f"{escape(s.get('position') or 'any')}{' · start' if name == initial else ''}</text>"
        )
        if here:
            parts.append(
                f'<text x="{cx(i)}" y="{row_y + 52}" class="node-here">● {escape(", ".join(sorted(here)))}</text>'
            )
        parts.append("</g>")
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" class="diagram" '
        f'aria-label="state machine">{"".join(parts)}</svg>'
    )
