"""The action table: every action the language accepts has its compiler."""

from __future__ import annotations

import typing

from rulebot.rulebook import model as m
from rulebot.rulebook.compile_actions import ACTIONS


def test_every_action_of_the_language_has_a_compiler() -> None:
    union = typing.get_args(m.Action)[0]
    accepted = {typing.get_args(member)[0] for member in typing.get_args(union)}
    assert len(accepted) == 12
    assert set(ACTIONS) == accepted
