"""The compiler maps the rulebook's long/short/none/any once, into enums the engine compares."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rulebot.core.enums import Direction
from rulebot.rulebook import compiled as c
from rulebot.rulebook.compiled import PositionBinding
from rulebot.rulebook.compiler import compile_text

BOOK = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
states:
  flat: {position: none}
  up: {position: long}
  down: {position: short}
  either: {position: any}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    priority: 2
    do: [{enter: {side: long, size: 0.01}}, {stop_loss: {distance: 1%}}, {goto: up}]
  - name: sell
    on: candle_close 1m
    in: flat
    do: [{enter: {side: short, size: 0.01}}, {stop_loss: {distance: 1%}}, {goto: down}]
  - name: out
    on: candle_close 1m
    in: [up, down]
    do: [{exit: {}}, {goto: either}]
  - name: home
    on: candle_close 1m
    in: either
    do: [{goto: flat}]
"""


def test_sides_and_bindings_are_members_not_words() -> None:
    book = compile_text(BOOK)
    sides = {r.name: [a.side for a in r.actions if isinstance(a, c.Enter)] for r in book.rules}
    assert sides["buy"] == [Direction.LONG] and sides["sell"] == [Direction.SHORT]
    assert {n: s.position for n, s in book.states.items()} == {
        "flat": PositionBinding.NONE,
        "up": PositionBinding.LONG,
        "down": PositionBinding.SHORT,
        "either": PositionBinding.ANY,
    }
    # Where a position-bound state goes when its position closes: the flat initial state.
    assert {n: s.on_close for n, s in book.states.items()} == {
        "flat": None,
        "up": "flat",
        "down": "flat",
        "either": None,
    }


HELD = st.sampled_from([None, *Direction])


@given(st.sampled_from(PositionBinding), HELD)
def test_a_binding_admits_exactly_its_own_position(binding: PositionBinding, held: Direction | None) -> None:
    assert binding.admits(held) == (binding is PositionBinding.ANY or binding is PositionBinding.of(held))
    assert PositionBinding.ANY.admits(held)
    assert [b for b in PositionBinding if b is not PositionBinding.ANY and b.admits(held)] == [PositionBinding.of(held)]


@given(HELD)
def test_only_a_position_is_held_and_the_word_maps_back(held: Direction | None) -> None:
    binding = PositionBinding.of(held)
    assert binding.holds_position == (held is not None)
    assert PositionBinding(binding.word) is binding
    assert binding.word == ("none" if held is None else held.word)
