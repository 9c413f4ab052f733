"""leverageBracket and commissionRate answers, USD-M and COIN-M."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from rulebot.binance.payloads.account import bracket_table_from_payload, brackets_from_payload
from rulebot.binance.payloads.exchange_info import InstrumentParseError
from rulebot.core.enums import Market
from rulebot.core.margin import Bracket, BracketTable
from rulebot.testing.shared import load_payload


@pytest.fixture(scope="session")
def payload() -> Callable[[str], Any]:
    return load_payload


@pytest.fixture(scope="session")
def btcusd_brackets() -> BracketTable:
    return brackets_from_payload(load_payload("rest_dapi_v2_leverageBracket.json"), Market.COINM)["BTCUSD_PERP"]


def test_fapi_docs_bracket_with_notional_coef(payload: Callable[[str], Any]) -> None:
    tables = brackets_from_payload(payload("rest_fapi_v1_leverageBracket_docs.json"), Market.USDM)
    eth = tables["ETHUSDT"]
    assert eth.notional_coef == D("1.5")
    assert eth.brackets == (Bracket(1, 75, D(0), D(10000), D("0.0065"), D(0)),)


def test_dapi_brackets_are_in_coin_and_read_both_floor_spellings(
    btcusd_brackets: BracketTable, payload: Callable[[str], Any]
) -> None:
    assert btcusd_brackets.brackets == (Bracket(1, 125, D(0), D(50), D("0.004"), D(0)),)
    entry = payload("rest_dapi_v2_leverageBracket.json")[0]
    raw = dict(entry["brackets"][0])
    raw["qtyFloor"] = raw.pop("qtylFloor")
    fixed = bracket_table_from_payload({**entry, "brackets": [raw]}, Market.COINM)
    assert fixed.brackets == btcusd_brackets.brackets
    # fapi v1 with `symbol=` answers one object instead of a list.
    assert set(brackets_from_payload(entry, Market.COINM)) == {"BTCUSD_PERP"}


def test_bracket_payload_errors(payload: Callable[[str], Any]) -> None:
    entry = payload("rest_dapi_v2_leverageBracket.json")[0]
    with pytest.raises(InstrumentParseError, match="notionalFloor and notionalCap"):
        bracket_table_from_payload(entry, Market.USDM)  # COIN-M payload read as USDⓈ-M
    gap = [
        Bracket(1, 125, D(0), D(10), D("0.004"), D(0)),
        Bracket(2, 100, D(20), D(30), D("0.005"), D(0)),
    ]
    with pytest.raises(ValueError, match="ends at 10"):
        BracketTable("X", tuple(gap))


# -- E1-E3: PnL, margin, fees, margin ratio ----------------------------------------------------
