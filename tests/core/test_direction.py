"""`Direction`, the rulebook's long/short as the engine carries it: every order side and sign the
engine derives from it agrees with every other."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulebot.core.enums import Direction, PositionSide, Side

DIRECTIONS = st.sampled_from(Direction)


@given(DIRECTIONS)
def test_the_entry_buys_for_a_long_and_its_sign_is_the_positions(d: Direction) -> None:
    assert d.entry_side.sign == d.sign
    assert d.exit_side is d.entry_side.opposite
    assert (d.entry_side is Side.BUY) == (d is Direction.LONG)


@given(DIRECTIONS)
def test_the_opposite_flips_everything(d: Direction) -> None:
    assert d.opposite is not d and d.opposite.opposite is d
    assert d.opposite.sign == -d.sign
    assert d.opposite.entry_side is d.exit_side


@given(DIRECTIONS)
def test_the_word_is_the_rulebooks_and_maps_back(d: Direction) -> None:
    assert d.word in ("long", "short")
    assert Direction(d.word) is d
    assert d.hedge_leg is PositionSide(d.word.upper())
    assert d.hedge_leg is not PositionSide.BOTH


def test_it_is_no_string_so_a_forgotten_word_shows() -> None:
    # A plain Enum: comparing with the word is False (mypy calls it an error), and a journal
    # payload that forgot `.word` fails to serialise instead of writing something new.
    assert Direction.LONG != "long"  # type: ignore[comparison-overlap]
    assert f"{Direction.SHORT}" != "short"
    with pytest.raises(TypeError):
        json.dumps({"side": Direction.LONG})
