"""`status` data ages: by the exchange's clock, never negative (a paced replay hands events over a
little ahead of its clock, which showed as data '-266 s old')."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.engine.engine import Engine
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.status import engine_status

from .conftest import HOLD_ON_CANDLE

T = 1_764_000_000_000


def engine_with_a_trade_at(t: int) -> Engine:
    engine = Engine(
        compile_text(HOLD_ON_CANDLE),
        builtin_instruments(Market.USDM),
        {"USDT": Decimal(1000)},
        brackets=builtin_brackets(Market.USDM),
    )
    engine.start(t)
    engine.on_event(Trade("BTCUSDT", Decimal(60000), Decimal(1), t, True, 1))
    return engine


def test_the_data_age_is_the_clock_less_the_last_data_time() -> None:
    assert engine_status(engine_with_a_trade_at(T), T + 2500)["data"]["BTCUSDT"] == {"last_time": T, "age_s": 2.5}


def test_data_ahead_of_the_clock_is_fresh_not_negative() -> None:
    assert engine_status(engine_with_a_trade_at(T), T - 266_000)["data"]["BTCUSDT"]["age_s"] == 0
