"""The kill switch's two policies on a real engine: flatten, or keep stop-protected positions."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.account_events import AccountUpdate, PositionChange
from rulebot.core.commands import CancelAllOrders, CancelOrder, PlaceOrder
from rulebot.core.enums import MarginType, Market, OrderType, PositionSide, Side
from rulebot.core.events import Trade
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.killswitch import exit_step

T0 = 1_795_000_000_000
BOOK = """\
rulebook: kill
market: usdm
symbols: [BTCUSDT]
rules:
  - name: hold
    on: trade
    in: long
    when: price > 100000000
    do: [exit]
"""


def holding(stop: bool) -> Engine:
    usdm = Market.USDM
    engine = Engine(
        compile_text(BOOK), builtin_instruments(usdm), {"USDT": Decimal(10_000)}, brackets=builtin_brackets(usdm)
    )
    engine.start(T0)
    engine.on_event(Trade("BTCUSDT", Decimal(60000), Decimal(1), T0, True, 1))
    position = PositionChange(
        "BTCUSDT",
        PositionSide.BOTH,
        Decimal("0.01"),
        Decimal(60000),
        Decimal(60000),
        Decimal(0),
        Decimal(0),
        MarginType.ISOLATED,
        Decimal(200),
    )
    engine.on_event(AccountUpdate("ORDER", (), (position,), T0 + 1))
    entry = PlaceOrder("e-1", "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"), Decimal(59000))
    engine.adopt_order(entry, "entry", "add")  # a second entry still working
    if stop:
        sl = PlaceOrder(
            "e-2", "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, None, trigger_price=Decimal(57000), close_position=True
        )
        engine.adopt_order(sl, "stop_loss", "hold")
    return engine


def closes(step) -> list[PlaceOrder]:
    orders = [c for c in step.commands if isinstance(c, PlaceOrder)]
    return [c for c in orders if c.reduce_only and c.order_type is OrderType.MARKET]


def test_keep_cancels_entries_and_leaves_a_protected_position():
    engine = holding(stop=True)
    step = exit_step(engine, "keep", "SIGTERM")
    assert [c.client_order_id for c in step.commands if isinstance(c, CancelOrder)] == ["e-1"]
    assert not closes(step) and engine.halted is None
    assert any(isinstance(r, rec.EngineNotice) and "left with their stops" in r.message for r in step.records)


def test_keep_does_not_leave_a_position_without_a_stop_behind():
    engine = holding(stop=False)
    step = exit_step(engine, "keep", "SIGTERM")
    assert [c.quantity for c in closes(step)] == [Decimal("0.01")]
    assert engine.halted is not None and "BTCUSDT had no stop on the exchange" in engine.halted


def test_flatten_cancels_everything_and_closes():
    engine = holding(stop=True)
    step = exit_step(engine, "flatten", "rulebot kill")
    assert any(isinstance(c, CancelAllOrders) for c in step.commands) and len(closes(step)) == 1
    assert engine.halted == "rulebot kill"


def test_keep_does_not_leave_a_position_its_trailing_stop_covers_part_of():
    """A trailing stop placed before the position grew (its resize refused) closes 0.005 of the 0.01:
    kept, the rest would be left without a stop once the bot is gone."""
    engine = holding(stop=False)
    trail = PlaceOrder(
        "e-3", "BTCUSDT", Side.SELL, OrderType.TRAILING_STOP_MARKET, Decimal("0.005"), reduce_only=True,
        callback_rate=Decimal(1),
    )  # fmt: skip
    engine.adopt_order(trail, "trailing_stop", "hold")
    step = exit_step(engine, "keep", "SIGTERM")
    assert [c.quantity for c in closes(step)] == [Decimal("0.01")]
    assert engine.halted is not None and "BTCUSDT had no stop on the exchange for the whole position" in engine.halted
