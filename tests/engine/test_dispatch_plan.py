"""The dispatch's per-rule plan (engine/dispatch.py) journals what the straightforward reading gave:
a decision's inputs are the env's values of the names the rule reads, in their order, an account
value computed on first read, a name the env does not hold shown as None; and a `reduce` whose share
rounds to nothing sends nothing however often it fires, while one that does not sends its order."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from typing import Any

import pytest

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderType
from rulebot.engine import records as rec
from rulebot.engine.dispatch import _inputs
from rulebot.engine.engine import Engine
from rulebot.engine.env import ACCOUNT_NAMES, Env
from rulebot.engine.state import Step
from rulebot.rulebook.compiler import compile_text
from tests.engine.conftest import T0, holding, trades

NAMES = ("bb.lower", "equity", "missing", "price", "upnl", "x[1]")


def reference(env: Env, reads: tuple[str, ...]) -> dict[str, Any]:
    """As the dispatch read them before it kept a plan: `get`, else `[]` (an account value), else None."""
    out: dict[str, Any] = {}
    for n in reads:
        if n in env:
            out[n] = env[n]
            continue
        try:
            out[n] = env[n]
        except KeyError:
            out[n] = None
    return out


def fresh_env() -> Env:
    env = Env({"bb.lower": 59_000.5, "price": 60_000.0, "x[1]": math.nan})

    def fill(e: Env) -> None:
        for name in ACCOUNT_NAMES:
            e[name] = float(len(name))

    env.resolve = fill
    return env


@pytest.mark.parametrize(
    "reads", [r for k in range(4) for r in itertools.combinations(NAMES, k)], ids=lambda r: ",".join(r) or "none"
)
def test_a_decisions_inputs_are_the_names_read_in_order(reads: tuple[str, ...]) -> None:
    got = _inputs(reads)(fresh_env())
    want = reference(fresh_env(), reads)
    assert list(got) == list(want) == list(reads)
    assert all(got[n] == want[n] or (got[n] != got[n] and want[n] != want[n]) for n in reads), (got, want)
    assert _inputs(reads)(fresh_env()) is not _inputs(reads)(fresh_env())  # a dict per decision


REDUCING = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
states:
  flat: {position: none}
  long: {position: long}
rules:
  - name: trim
    on: trade
    in: long
    when: price > 0 and upnl > -1000000
    do: [{reduce: {by: 10%}}]
"""


def test_a_reduce_that_rounds_to_nothing_sends_nothing_and_one_that_does_not_sends_its_order(usdm: Any) -> None:
    engine = Engine(compile_text(REDUCING), usdm[0], {"USDT": Decimal(10_000)})
    engine.start(T0)
    engine.on_event(holding("5", entry="1"))  # 10% of 5 ADA is 0.5: below ADA's step of 1, nothing
    assert engine.state.runs["ADAUSDT"].state == "long"  # bound to the position the exchange holds
    for t in trades([1.0, 1.01, 1.02], start=T0 + 60_000):
        step = engine.on_event(t)
        [d] = [r for r in step.records if isinstance(r, rec.Decision)]
        assert d.fired and d.inputs["upnl"] == 5 * (float(t.price) - 1)
        assert not exits(step)  # the daily cap's stop aside, placed on the first trade
    engine.on_event(holding("50", entry="1", time=T0 + 300_000))  # 10% of 50 is 5
    step = engine.on_event(trades([1.03], start=T0 + 360_000)[0])
    [cmd] = exits(step)
    assert cmd.quantity == Decimal(5) and cmd.reduce_only


def exits(step: Step) -> list[PlaceOrder]:
    return [c for c in step.commands if isinstance(c, PlaceOrder) and c.order_type is OrderType.MARKET]


BOUND = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
states:
  flat: {position: none}
  long: {position: long}
  short: {position: short}
  either: {position: any}
rules:
  - name: nothing
    on: trade
    in: flat
    when: price < 0
    do: [{log: "never"}]
"""


@pytest.mark.parametrize("state", ["flat", "long", "short", "either"])
@pytest.mark.parametrize("amount", ["5", "-5"])
def test_the_check_after_a_fired_rule_leaves_a_state_that_admits_the_position_and_moves_one_that_does_not(
    usdm: Any, state: str, amount: str
) -> None:
    """Binding.check's test of a held leg, spelled out on its amount, is PositionBinding.admits."""
    engine = Engine(compile_text(BOUND), usdm[0], {"USDT": Decimal(10_000)})
    engine.start(T0)
    engine.on_event(holding(amount, entry="1"))
    run = engine.state.runs["ADAUSDT"]
    run.state = state
    run.market.env["state"] = state
    step = Step()
    engine.binding.check("ADAUSDT", T0 + 2, step)
    pos = engine.state.portfolio.net_position("ADAUSDT")
    admitted = engine.book.states[state].position.admits(pos.direction)
    assert (run.state == state and not step.records) is admitted, (state, amount, run.state, step.records)
