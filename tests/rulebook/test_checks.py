"""Whole-rulebook checks (checks.py) that no single rule or action can answer alone."""

from __future__ import annotations

import pytest

from rulebot.rulebook.compiler import compile_text

BOOK = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1h]
rules:
  - name: buy
    on: candle_close 1h
    in: flat
    do:
      - enter: {side: long, size: 2%, order: limit, price: bid, tag: entry}
      - stop_loss: {distance: 2%, tag: guard}
      - goto: long
  - name: out
    on: candle_close 1h
    in: long
    do: [exit, CANCEL, {goto: flat}]
"""


def warnings(cancel: str) -> list[tuple[str, str, str | None]]:
    book = compile_text(BOOK.replace("CANCEL", cancel))
    return [(d.code, d.message, d.hint) for d in book.warnings]


@pytest.mark.parametrize("cancel", ["{cancel: {tag: entry}}", "{cancel: {tag: guard}}", "{cancel: all}"])
def test_a_cancel_by_a_tag_some_action_sets_compiles_quietly(cancel):
    assert warnings(cancel) == []


def test_a_cancel_by_a_tag_no_action_sets_warns_with_the_tags_there_are():
    """`cancel: {tag: entyr}` compiled, and cancelled nothing whenever it ran: the entry it was
    meant to cancel kept working."""
    [(code, message, hint)] = warnings("{cancel: {tag: entyr}}")
    assert (code, message) == ("unknown-tag", "cancel: no action in the rulebook tags an order 'entyr'")
    assert hint == "did you mean 'entry'? (tags: entry, guard)"
