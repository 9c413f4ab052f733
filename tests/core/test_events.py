"""The normalized market events: values with a time and a symbol, money in Decimal."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import get_args

import pytest

from rulebot.core.events import (
    EVENT_TYPES,
    BookTop,
    CandleClosed,
    Event,
    FundingRate,
    IndexPrice,
    MarketEvent,
    MarkPrice,
    PremiumIndex,
    Timer,
    Trade,
)

D = Decimal
SAMPLES: list[MarketEvent] = [
    Trade("BTCUSDT", D("64210.5"), D("0.010"), 1_000, True, 7),
    Trade("BTCUSD_PERP", D("79972.8"), D("542"), 1_000, False, 480537903, 1123474160, 1123474164),
    BookTop("BTCUSDT", D("64210.4"), D("1.5"), D("64210.5"), D("0.2"), 1_001, 99),
    MarkPrice("BTCUSDT", D("64211.0"), 1_002, D("64209.9"), D("0.0001"), 28_800_000),
    IndexPrice("BTCUSDT", D("64209.9"), 1_003),
    PremiumIndex("BTCUSDT", D("-0.00002"), 1_004),
    CandleClosed("BTCUSDT", "1m", 0, 59_999, D(1), D(2), D("0.5"), D("1.5"), D(10), D(15), 42, D(4)),
    FundingRate("BTCUSDT", D("0.0001"), 28_800_002, None, 8),
    Timer(86_400_000, "daily_reset"),
]


def test_every_type_is_sampled_and_listed() -> None:
    assert set(EVENT_TYPES) == set(get_args(MarketEvent)) == {type(e) for e in SAMPLES}


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_events_are_frozen_slotted_values(event: MarketEvent) -> None:
    assert not hasattr(event, "__dict__")
    field = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, None)
    assert event == dataclasses.replace(event)
    assert hash(event) == hash(dataclasses.replace(event))


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_money_is_never_float(cls: type) -> None:
    for field in dataclasses.fields(cls):
        assert "float" not in str(field.type), f"{cls.__name__}.{field.name}: {field.type}"


def _key(event: Event) -> tuple[int, str]:
    # What a time-ordered merge reads: every event answers it, fields and properties alike.
    return event.time, event.symbol


def test_time_and_symbol_for_merging() -> None:
    assert [_key(e) for e in SAMPLES] == [
        (1_000, "BTCUSDT"),
        (1_000, "BTCUSD_PERP"),
        (1_001, "BTCUSDT"),
        (1_002, "BTCUSDT"),
        (1_003, "BTCUSDT"),
        (1_004, "BTCUSDT"),
        (59_999, "BTCUSDT"),
        (28_800_002, "BTCUSDT"),
        (86_400_000, ""),
    ]


def test_derived_times_and_names() -> None:
    candle = SAMPLES[6]
    assert isinstance(candle, CandleClosed)
    # a candle happens at its close; the time cannot be set apart from it
    assert candle.time == candle.close_time == 59_999
    assert "time" not in {f.name for f in dataclasses.fields(CandleClosed)}
    funding = FundingRate("BTCUSDT", D("0.0001"), 28_800_002)
    assert funding.time == funding.funding_time and funding.mark_price is None
    mark = MarkPrice("BTCUSDT", D("64211.0"), 1_002)
    assert mark.price == mark.mark_price and mark.index_price is None
    trade = Trade("BTCUSDT", D(1), D(1), 1, False, 5)
    assert trade.first_trade_id is None and trade.last_trade_id is None
