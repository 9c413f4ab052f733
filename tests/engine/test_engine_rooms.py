"""The engine's structure holds: one interface and one table per kind of guard, only the order
manager builds orders, no engine module grows past ~400 lines."""

from __future__ import annotations

import ast
import inspect
from decimal import Decimal
from pathlib import Path

import pytest

import rulebot.engine
from rulebot.engine import event_guards
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.engine.risk import ACCOUNT_GUARDS, CLOCK_GUARDS, PRICE_GUARDS, EventGuard
from rulebot.engine.risk.event import GuardView, Note
from rulebot.rulebook.compiler import compile_text

from .conftest import T0, trades

ENGINE = Path(rulebot.engine.__file__).parent
BOOK = """\
rulebook: r
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
states:
  flat: {position: none}
rules:
  - name: nothing
    on: trade
    when: price < 0
    do: [{log: "never"}]
"""


def test_every_event_guard_has_the_one_interface_and_lives_in_risk():
    for guard in PRICE_GUARDS + ACCOUNT_GUARDS + CLOCK_GUARDS:
        assert list(inspect.signature(guard.check).parameters) == ["view", "symbol", "fresh"], guard.name
        assert guard.check.__module__.startswith("rulebot.engine.risk."), guard.name


def test_a_guard_added_to_the_price_table_acts_with_no_change_to_the_engine(usdm, monkeypatch):
    seen: list[tuple[str, bool]] = []

    def spread_watch(view: GuardView, symbol: str, fresh: bool) -> tuple[Note, ...]:
        seen.append((symbol, fresh))
        return (Note(symbol, "spread-watch", f"{symbol} valued at {view.mark(symbol)}"),)

    monkeypatch.setattr(event_guards, "PRICE_GUARDS", (*PRICE_GUARDS, EventGuard("spread_watch", spread_watch)))
    engine = Engine(compile_text(BOOK), usdm[0], {"USDT": Decimal(1000)}, brackets=usdm[1])
    engine.start(T0)
    step = engine.on_event(trades([100])[0])  # no mark stream: the trade values the position
    notes = [r for r in step.records if isinstance(r, rec.EngineNotice) and r.kind == "spread-watch"]
    assert seen == [("ADAUSDT", True)]
    assert [n.message for n in notes] == ["ADAUSDT valued at 100"]


def _calls(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in names:
                found.append(f"{path.name}:{node.lineno} {name}")
    return found


def test_only_the_order_manager_builds_orders_and_cancels():
    builders = {"PlaceOrder", "CancelOrder", "CancelAllOrders"}
    elsewhere = [c for p in sorted(ENGINE.rglob("*.py")) if p.name != "oms.py" for c in _calls(p, builders)]
    assert elsewhere == []
    assert _calls(ENGINE / "oms.py", builders)  # the check itself finds them where they are


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE)))
def test_no_engine_module_is_over_400_lines(path: Path):
    assert len(path.read_text().splitlines()) <= 400
