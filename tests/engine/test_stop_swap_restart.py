"""A restart in the middle of a new-first stop replacement (stop_swap.py): the exchange holds the old
stop and its replacement, both adopted. `one_each` keeps the newest of each purpose, tag and leg
and cancels the others; nothing else is touched."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import CancelOrder, PlaceOrder
from rulebot.core.enums import Market, OrderType, PositionSide, Side
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.engine.reload import restate_stops
from rulebot.engine.stop_swap import one_each
from rulebot.feeds.catalog import builtin_instruments
from rulebot.rulebook.compiler import compile_text

from .conftest import T0, holding

D = Decimal
INSTRUMENTS = builtin_instruments(Market.USDM)
BOOK = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 10}}, {stop_loss: {distance: 5%}}, {take_profit: {distance: 5%}}, {goto: long}]
"""
TIGHTER = BOOK.replace("stop_loss: {distance: 5%}", "stop_loss: {distance: 2%}")


def _stop(cid: str, trigger: str, kind: OrderType = OrderType.STOP_MARKET, **more: object) -> PlaceOrder:
    return PlaceOrder(
        cid,
        "ADAUSDT",
        Side.SELL,
        kind,
        None,
        trigger_price=D(trigger),
        close_position=True,
        time=T0 - 60_000,
        **more,  # type: ignore[arg-type]
    )


def _restarted(*adopted: tuple[PlaceOrder, str], book: str = BOOK) -> Engine:
    engine = Engine(compile_text(book), INSTRUMENTS, {"USDT": D(1000)}, run_id="bt")
    engine.restore_state("ADAUSDT", "long", T0 - 60_000)
    for cmd, purpose in adopted:  # in the order the journal has them sent
        engine.adopt_order(cmd, purpose, "buy")  # type: ignore[arg-type]
    engine.start(T0)
    engine.on_event(holding("10", time=T0))
    return engine


def _cancelled(step: Step) -> list[str]:
    return [c.client_order_id for c in step.commands if isinstance(c, CancelOrder)]


def test_of_two_working_stop_losses_the_newest_stays_and_the_older_is_cancelled_with_why():
    """Before: both stayed working for the position's life (the 90 one never needed, one more
    against the exchange's stop-order limit)."""
    engine = _restarted((_stop("bt-3", "90"), "stop_loss"), (_stop("bt-5", "95"), "stop_loss"))
    step = Step()
    one_each(engine, step)
    assert _cancelled(step) == ["bt-3"]
    (cancel,) = step.commands
    assert isinstance(cancel, CancelOrder) and "bt-5" in cancel.reason
    (said,) = [r for r in step.records if isinstance(r, rec.EngineNotice)]
    assert said.kind == "restart-stop" and "bt-3" in said.message and "bt-5 at 95" in said.message
    assert [r.client_order_id for r in engine.state.oms.open_orders("ADAUSDT")][-1] == "bt-5"


def test_the_newest_is_the_one_adopted_last_whatever_its_price():
    """A reload to a looser stop: the newer stop is the looser one, and it is what the rulebook asks."""
    engine = _restarted((_stop("bt-3", "95"), "stop_loss"), (_stop("bt-5", "90"), "stop_loss"))
    step = Step()
    one_each(engine, step)
    assert _cancelled(step) == ["bt-3"]


def test_stops_of_other_purposes_tags_or_legs_are_not_one_and_all_stay():
    engine = _restarted(
        (_stop("bt-3", "90"), "stop_loss"),
        (_stop("bt-4", "110", OrderType.TAKE_PROFIT_MARKET), "take_profit"),
        (_stop("bt-5", "91", tag="other"), "stop_loss"),
        (_stop("bt-6", "92", position_side=PositionSide.LONG), "stop_loss"),
        (_stop("bt-7", "93"), "protective"),
    )
    step = Step()
    one_each(engine, step)
    assert _cancelled(step) == [] and not step.records


def test_two_take_profits_and_three_stop_losses_leave_one_of_each():
    engine = _restarted(
        (_stop("bt-2", "88"), "stop_loss"),
        (_stop("bt-3", "110", OrderType.TAKE_PROFIT_MARKET), "take_profit"),
        (_stop("bt-4", "90"), "stop_loss"),
        (_stop("bt-5", "105", OrderType.TAKE_PROFIT_MARKET), "take_profit"),
        (_stop("bt-6", "95"), "stop_loss"),
    )
    step = Step()
    one_each(engine, step)
    assert sorted(_cancelled(step)) == ["bt-2", "bt-3", "bt-4"]


def test_a_triggered_stop_is_closing_the_position_and_is_left_alone():
    engine = _restarted((_stop("bt-3", "90"), "stop_loss"), (_stop("bt-5", "95"), "stop_loss"))
    record = engine.state.oms.get("bt-3")
    assert record is not None
    record.algo_status = "TRIGGERED"
    step = Step()
    one_each(engine, step)
    assert _cancelled(step) == []


def test_on_a_changed_rulebook_only_the_kept_stop_moves():
    """Restarted on a 2% rulebook with the 5% stop and its 5% replacement both working. Before: the one
    being cancelled was moved too, and two 2% stops ended up working for good."""
    engine = _restarted((_stop("bt-3", "95"), "stop_loss"), (_stop("bt-5", "95"), "stop_loss"), book=TIGHTER)
    step = Step()
    restate_stops(compile_text(BOOK), engine, step, one_each(engine, step))
    placed = [c for c in step.commands if isinstance(c, PlaceOrder)]
    assert [c.trigger_price for c in placed] == [D(98)] and _cancelled(step) == ["bt-3"]
    assert engine.state.swaps[placed[0].client_order_id].olds == ("bt-5",)


def test_of_two_trailing_stops_the_one_resized_to_the_grown_position_stays():
    """Killed as a trailing stop for 5 was being replaced by one for the grown position's 10."""

    def trail(cid: str, qty: str) -> PlaceOrder:
        return PlaceOrder(
            cid,
            "ADAUSDT",
            Side.SELL,
            OrderType.TRAILING_STOP_MARKET,
            D(qty),
            callback_rate=D(1),
            reduce_only=True,
            time=T0 - 60_000,
        )

    engine = _restarted((trail("bt-3", "5"), "trailing_stop"), (trail("bt-4", "10"), "trailing_stop"))
    step = Step()
    one_each(engine, step)
    assert _cancelled(step) == ["bt-3"]
    (said,) = step.records
    assert isinstance(said, rec.EngineNotice)
    assert "bt-3 (rule buy) for 5 trailing 1%" in said.message and "bt-4 for 10 trailing 1%, the newest" in said.message
