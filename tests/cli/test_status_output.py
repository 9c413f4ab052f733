"""`rulebot status` as a person and a script read it: tables with real values, never Python
dicts or the text "None" for a close-position stop's quantity."""

from __future__ import annotations

import json
from decimal import Decimal

from rich.console import Console

from rulebot.cli import bot_control as control_cli
from rulebot.core.account_events import AccountUpdate, PositionChange
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import MarginType, Market, OrderType, PositionSide, Side
from rulebot.core.events import Trade
from rulebot.engine.engine import Engine
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.status import engine_status

T0 = 1_795_000_000_000
BOOK = """\
rulebook: status-view
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
indicators:
  fast: ema(close@1m, 5)
rules:
  - name: hold
    on: trade
    in: long
    when: price > 100000000
    do: [exit]
"""


def protected_long() -> Engine:
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
    sl = PlaceOrder(
        "sl-1", "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, None, trigger_price=Decimal(57000), close_position=True
    )
    engine.adopt_order(sl, "stop_loss", "hold")
    return engine


def status_of(engine: Engine) -> dict:
    # What the control socket sends: JSON, as `rulebot status` receives it.
    answer = {
        "ok": True,
        "running": True,
        "mode": "live",
        "run_id": "r1",
        "events": 2,
        **engine_status(engine, T0 + 1500),
    }
    return json.loads(json.dumps(answer))


def test_status_json_gives_a_close_position_stop_null_quantity_and_its_trigger():
    (order,) = [o for o in status_of(protected_long())["orders"] if o["client_order_id"] == "sl-1"]
    assert order["quantity"] is None and order["close_position"] is True
    assert order["trigger_price"] == "57000" and order["type"] == "STOP_MARKET"


def test_status_prints_tables_not_python_dicts_or_none(monkeypatch):
    console = Console(record=True, width=160, highlight=False)
    monkeypatch.setattr(control_cli, "_out", console)
    control_cli.print_status(status_of(protected_long()))
    text = console.export_text()
    assert "None" not in text and "{'" not in text and "': " not in text
    assert "STOP_MARKET" in text and "whole position" in text and "trigger 57,000" in text
    assert "BTCUSDT" in text and "long" in text and "10,000.00" in text
    assert "fast@1m warming" in text and "1.5 s old" in text
    assert "not halted" in text and "daily loss limit ok" in text


def test_status_shows_quantities_and_prices_without_the_zeros_of_their_step_or_tick(monkeypatch):
    # What the engine holds after rounding onto BTCUSDT's grid (a 0.001 step, a 0.10 tick):
    # Decimal("0.010"), Decimal("60000.10"), each with the exponent of the step or tick.
    engine = protected_long()
    position = PositionChange(
        "BTCUSDT",
        PositionSide.BOTH,
        Decimal("0.010"),
        Decimal("60000.10"),
        Decimal("60000.10"),
        Decimal(0),
        Decimal(0),
        MarginType.ISOLATED,
        Decimal(200),
    )
    engine.on_event(AccountUpdate("ORDER", (), (position,), T0 + 2))
    engine.adopt_order(
        PlaceOrder("tp-1", "BTCUSDT", Side.SELL, OrderType.LIMIT, Decimal("0.010"), price=Decimal("66000.10")),
        "take_profit",
        "hold",
    )
    engine.adopt_order(
        PlaceOrder(
            "sl-2", "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, Decimal("0.010"), trigger_price=Decimal("57000.10")
        ),
        "stop_loss",
        "hold",
    )
    status = status_of(engine)
    (pos,) = status["positions"]
    assert pos["size"] == "0.010" and pos["entry_price"] == "60000.10"  # the JSON keeps the exact strings
    status["equity"] = {"USDT": "9999.63999950"}
    status["daily_pnl"] = {"USDT": "-0.36000050"}
    console = Console(record=True, width=200, highlight=False)
    monkeypatch.setattr(control_cli, "_out", console)
    control_cli.print_status(status)
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in console.export_text().splitlines()
        if line.startswith("│")
    }
    assert rows["USDT"] == ["9,999.64", "-0.36"]  # amounts as the backtest summary writes them
    assert rows["BTCUSDT"][:3] == ["long", "0.01", "60,000.1"]
    assert rows["tp-1"][4:6] == ["0.01", "66,000.1"]
    assert rows["sl-2"][4:6] == ["0.01", "trigger 57,000.1"]
    assert rows["sl-1"][4:6] == ["whole position", "trigger 57,000"]


def test_status_shows_a_stop_limit_orders_trigger_and_its_limit(monkeypatch):
    # The table showed a STOP's limit price alone, so a stop at 59,800 that would rest at 59,700
    # read as a plain limit order at 59,700.
    engine = protected_long()
    stop = PlaceOrder(
        "sl-2",
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP,
        Decimal("0.010"),
        price=Decimal("59700.00"),
        trigger_price=Decimal("59800.00"),
    )
    engine.adopt_order(stop, "stop_loss", "hold")
    console = Console(record=True, width=200, highlight=False)
    monkeypatch.setattr(control_cli, "_out", console)
    control_cli.print_status(status_of(engine))
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in console.export_text().splitlines()
        if line.startswith("│")
    }
    assert rows["sl-2"][3:6] == ["STOP", "0.01", "trigger 59,800, limit 59,700"]
    assert rows["sl-1"][5] == "trigger 57,000"  # a STOP_MARKET has no limit


def test_status_of_a_bot_that_has_not_started_its_engine_says_so(monkeypatch):
    console = Console(record=True, width=160, highlight=False)
    monkeypatch.setattr(control_cli, "_out", console)
    control_cli.print_status({"ok": True, "running": False})
    text = console.export_text()
    assert "None" not in text and "not started" in text
