"""exchangeInfo entries into instruments: errors name the symbol and field; numbers stay exact."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from rulebot.binance.payloads.exchange_info import InstrumentParseError, instrument_from_exchange_info
from rulebot.core.enums import Market
from rulebot.testing.shared import load_payload


@pytest.fixture(scope="session")
def payload() -> Callable[[str], Any]:
    return load_payload


def test_parse_errors_name_the_symbol_and_field(payload: Callable[[str], Any]) -> None:
    btc = payload("rest_fapi_v1_exchangeInfo.json")["symbols"][0]
    with pytest.raises(InstrumentParseError, match="BTCUSDT: COIN-M symbol without contractSize"):
        instrument_from_exchange_info(btc, Market.COINM)
    no_price = {**btc, "filters": [f for f in btc["filters"] if f["filterType"] != "PRICE_FILTER"]}
    with pytest.raises(InstrumentParseError, match="no PRICE_FILTER"):
        instrument_from_exchange_info(no_price, Market.USDM)
    bad = {**btc, "liquidationFee": [1]}
    with pytest.raises(InstrumentParseError, match="liquidationFee"):
        instrument_from_exchange_info(bad, Market.USDM)


def test_json_floats_become_exact_decimals(payload: Callable[[str], Any]) -> None:
    btc = payload("rest_fapi_v1_exchangeInfo.json")["symbols"][0]
    floats = {**btc, "liquidationFee": 0.012}
    assert instrument_from_exchange_info(floats, Market.USDM).liquidation_fee == D("0.012")


# -- rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_type", "key", "raw"),
    [("PRICE_FILTER", "tickSize", "NaN"), ("MIN_NOTIONAL", "notional", "Infinity"), ("LOT_SIZE", "maxQty", "-inf")],
)
def test_a_filter_value_that_is_not_finite_is_refused_by_name(
    payload: Callable[[str], Any], filter_type: str, key: str, raw: str
) -> None:
    # NaN failed later as "[<class 'decimal.InvalidOperation'>]"; an infinite min notional was
    # taken, and every entry was refused without a word (a backtest of 0 trades).
    btc = payload("rest_fapi_v1_exchangeInfo.json")["symbols"][0]
    filters = [{**f, key: raw} if f["filterType"] == filter_type else f for f in btc["filters"]]
    with pytest.raises(InstrumentParseError, match=f"BTCUSDT: .*is not a finite number: '{raw}'"):
        instrument_from_exchange_info({**btc, "filters": filters}, Market.USDM)
