from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.engine.risk import AccountView
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text

T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC


@pytest.fixture(scope="session")
def usdm():
    return builtin_instruments(Market.USDM), builtin_brackets(Market.USDM)


def trades(
    prices: list[float], start: int = T0, every_ms: int = 60_000, symbol: str = "ADAUSDT", qty: str = "1"
) -> list[Trade]:
    """One trade per step at each price: a path the test controls exactly."""
    return [
        Trade(symbol, Decimal(str(p)), Decimal(qty), start + i * every_ms, i % 2 == 0, i + 1)
        for i, p in enumerate(prices)
    ]


def backtest(text: str, events, usdm, balance: int = 10_000):
    """Compile `text` and run it over `events` on the real simulator; the result and every record."""
    book = compile_text(text)
    records: list[object] = []
    result = run_backtest(book, events, *usdm, BacktestConfig(balance=Decimal(balance)), on_record=records.append)
    return result, records


def holding(amount: str, entry: str = "100", symbol: str = "ADAUSDT", time: int = T0 + 1):
    """An ACCOUNT_UPDATE-style event: the exchange reports this one-way isolated position."""
    from rulebot.core.account_events import AccountUpdate, PositionChange
    from rulebot.core.enums import MarginType, PositionSide

    change = PositionChange(
        symbol,
        PositionSide.BOTH,
        Decimal(amount),
        Decimal(entry),
        Decimal(entry),
        Decimal(0),
        Decimal(0),
        MarginType.ISOLATED,
        Decimal(200),
    )
    return AccountUpdate("ORDER", (), (change,), time)


def flat_view(equity: str = "10000", price: str = "60000", **changes: object) -> AccountView:
    """What the risk guards see of a flat BTCUSDT account at 5x, one second in; `changes` for the rest."""
    view = AccountView(
        time=1_000,
        instrument=builtin_instruments(Market.USDM)["BTCUSDT"],
        last_price=Decimal(price),
        mark_price=Decimal(price),
        equity=Decimal(equity),
        position_notional=Decimal(0),
        position_direction=None,
        open_orders=0,
        last_data_time=1_000,
        leverage=5,
        halted=None,
        daily_loss_breached=False,
        daily_pnl=Decimal(0),
    )
    return replace(view, **changes)  # type: ignore[arg-type]
