"""Real Binance payloads from the shared folder beside the checkout, parsed once per session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rulebot.binance.payloads.account import brackets_from_payload
from rulebot.binance.payloads.exchange_info import instruments_from_exchange_info
from rulebot.core.enums import Market
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.testing.shared import load_doc, load_payload


@pytest.fixture(scope="session")
def payload() -> Callable[[str], Any]:
    return load_payload


@pytest.fixture(scope="session")
def facts_errors() -> dict[int, str]:
    """FACTS.md §8's error table: code -> typical message."""
    rows = {}
    for line in load_doc("FACTS.md").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].lstrip("-").isdigit():
            rows[int(cells[0])] = cells[2]
    return rows


@pytest.fixture(scope="session")
def fapi() -> dict[str, Instrument]:
    """BTCUSDT, ETHUSDT, BTCUSDT_220325 (2022 capture) plus BLZUSDT (docs example)."""
    out = instruments_from_exchange_info(load_payload("rest_fapi_v1_exchangeInfo.json"), Market.USDM)
    docs = load_payload("rest_fapi_v1_exchangeInfo_docs.json")
    out.update(instruments_from_exchange_info(docs, Market.USDM))
    return out


@pytest.fixture(scope="session")
def dapi() -> dict[str, Instrument]:
    """BTCUSD_200925 (docs example, contract size 100)."""
    return instruments_from_exchange_info(load_payload("rest_dapi_v1_exchangeInfo.json"), Market.COINM)


@pytest.fixture(scope="session")
def btcusdt(fapi: dict[str, Instrument]) -> Instrument:
    return fapi["BTCUSDT"]


@pytest.fixture(scope="session")
def btcusd(dapi: dict[str, Instrument]) -> Instrument:
    return dapi["BTCUSD_200925"]


@pytest.fixture(scope="session")
def btcusdt_brackets() -> BracketTable:
    """BTCUSDT's 12 real brackets (2024-10-24), the table MARGIN.md §2 prints."""
    return brackets_from_payload(load_payload("rest_fapi_v1_leverageBracket.json"), Market.USDM)["BTCUSDT"]


@pytest.fixture(scope="session")
def btcusd_brackets() -> BracketTable:
    """BTCUSD_PERP's bracket from the dapi v2 docs example (qtyCap 50 BTC, MMR 0.004)."""
    payload = load_payload("rest_dapi_v2_leverageBracket.json")
    return brackets_from_payload(payload, Market.COINM)["BTCUSD_PERP"]
