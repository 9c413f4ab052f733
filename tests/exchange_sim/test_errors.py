"""Reject messages are Binance's: FACTS.md §8's table and the captured error payloads."""

from __future__ import annotations

import pytest

from rulebot.binance.codes import MESSAGES
from rulebot.exchange_sim.errors import rejected
from rulebot.testing.shared import load_payload

# Codes whose wording deliberately differs from FACTS.md's "typical" text.
LIVE_WORDING = {-4003}  # "Quantity less than or equal to zero." (rest_error_-4003.json)
# Codes FACTS.md §8 does not list (Binance's error-code page does).
NOT_IN_FACTS = {-4001, -4002, -4006, -4007}


def test_every_message_is_the_one_facts_md_lists(facts_errors: dict[int, str]) -> None:
    assert len(facts_errors) > 50
    for code, message in MESSAGES.items():
        if code in NOT_IN_FACTS:
            assert code not in facts_errors
            continue
        listed = facts_errors[code]
        if code in LIVE_WORDING:
            continue
        # FACTS.md sometimes lists alternatives ("A / B") or an extra note; ours is one of them.
        assert message.rstrip(".") in listed or listed.startswith(message.split("%s")[0]), (
            code,
            message,
        )


@pytest.mark.parametrize("code", [-2019, -4120, -4003, -1121])
def test_messages_match_the_error_payloads(code: int) -> None:
    body = load_payload(f"rest_error_{code}.json")
    assert rejected(code).message == body["msg"]
    assert rejected(code).code == body["code"]


def test_min_notional_message_is_the_live_one() -> None:
    assert rejected(-4164, "5").message == load_payload("rest_error_-4164.json")["msg"]
