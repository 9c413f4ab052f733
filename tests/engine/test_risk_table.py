"""The entry guards are one ordered table: every row named, in the documented order."""

from __future__ import annotations

import inspect
from decimal import Decimal

from rulebot.core.enums import Direction, OrderType
from rulebot.core.intents import EnterIntent
from rulebot.engine.risk import ENTRY_GUARDS, RiskEngine
from rulebot.rulebook.compiler import compile_text

from .conftest import flat_view

# The order the guards run in: refusals of new risk first, then the price and the order type (the
# volatility breaker's IOC limit costs more than a market order), the size cuts, the
# exchange's filters on the final order, and the fees of exactly that order against the cap.
DOCUMENTED_ORDER = (
    "kill_switch",
    "daily_loss_cap",
    "stale_data",
    "rate_limiter",
    "max_open_orders",
    "funding_guard",
    "entry_price",
    "volatility_breaker",
    "position_limits",
    "liquidation_distance",
    "lot_size",
    "exchange_filters",
    "daily_loss_cap_fees",
)

BOOK = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: in
    on: trade
    in: flat
    when: price > 1
    do: [{enter: {side: long, size: "1"}}]
"""


def test_every_entry_guard_has_a_name_and_runs_in_the_documented_order():
    names = [g.name for g in ENTRY_GUARDS]
    assert all(name.strip() for name in names)
    assert len(set(names)) == len(names)
    assert tuple(names) == DOCUMENTED_ORDER


def test_every_entry_guard_has_the_one_guard_interface():
    for guard in ENTRY_GUARDS:
        params = list(inspect.signature(guard.check).parameters)
        assert params == ["draft", "intent", "view", "risk"], guard.name
        assert guard.check.__module__.startswith("rulebot.engine.risk."), guard.name


def test_an_entry_that_passes_collects_its_verdicts_in_table_order():
    book = compile_text(BOOK)
    intent = EnterIntent("BTCUSDT", Direction.LONG, Decimal("5"), OrderType.MARKET, None, None, None, None, "in", 1_000)
    view = flat_view(volatility_ratio=10.0)
    checked = RiskEngine(book.risk).check_entry(intent, view)
    assert [(v.kind, v.guard) for v in checked.verdicts] == [
        ("allow", "daily_loss_cap"),
        ("resize", "volatility_breaker"),
        ("resize", "max_leverage"),
        ("allow", "exchange_filters"),
    ]
    assert checked.order_type is OrderType.LIMIT
    assert checked.quantity is not None and checked.quantity < Decimal("5")
