"""A restart adopts the exchange's open orders in the order the journal has them sent, not in the
order the exchange lists them: of two stops that are one (a replacement the last run stopped in
the middle of), the later sent is the one kept (`stop_swap.one_each`)."""

from __future__ import annotations

from decimal import Decimal

from rulebot.binance.payloads.orders import AlgoOrderView
from rulebot.core.account_events import AccountUpdate
from rulebot.core.commands import CancelOrder, PlaceOrder
from rulebot.core.enums import Market, OrderType, Side
from rulebot.engine.engine import Engine, Step
from rulebot.engine.stop_swap import one_each
from rulebot.feeds.catalog import builtin_instruments
from rulebot.journal.encode import to_row
from rulebot.journal.writer import Journal
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import recovery
from rulebot.venues.binance.venue import Reconciliation

D = Decimal
T0 = 1_717_200_000_000
BOOK = """\
rulebook: t
market: usdm
symbols: [BTCUSDT]
account: {leverage: 5}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 2%}}, {goto: long}]
"""


def _stop(cid: str, trigger: str, t: int) -> PlaceOrder:
    return PlaceOrder(
        cid, "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, None, trigger_price=D(trigger), close_position=True, time=t
    )


def _working(cmd: PlaceOrder, algo_id: int) -> AlgoOrderView:
    """`cmd` as Binance's open algo orders list it."""
    return AlgoOrderView(
        algo_id=algo_id,
        client_algo_id=cmd.client_order_id,
        algo_type="CONDITIONAL",
        order_type=cmd.order_type,
        symbol=cmd.symbol,
        side=cmd.side,
        position_side=cmd.position_side,
        time_in_force=None,
        quantity=D(0),
        status="NEW",
        trigger_price=cmd.trigger_price,
        price=None,
        reduce_only=False,
        close_position=True,
        working_type=cmd.working_type,
        price_protect=False,
        price_match=None,
        self_trade_prevention=None,
        activation_price=None,
        callback_rate=None,
        create_time=cmd.time,
        update_time=cmd.time,
        trigger_time=None,
        good_till_date=None,
    )


async def test_the_stop_sent_last_is_adopted_last_and_kept_whatever_order_the_exchange_lists_them_in(tmp_path):
    """Before: adopted in the exchange's order (here the newer first), the older 57,000 stop counted
    as the newest, and the 58,800 one the last run had placed to replace it would have been cancelled."""
    path = tmp_path / "journal.sqlite"
    old, new = _stop("ab-3", "57000", T0), _stop("ab-5", "58800", T0 + 5_000)
    async with Journal.open(path, "live-ab", "live") as journal:
        await journal.write_step([row for cmd in (old, new) if (row := to_row(cmd)) is not None])
    state = recovery.read_journal(path, "live")
    engine = Engine(compile_text(BOOK), builtin_instruments(Market.USDM), {"USDT": D(1000)}, run_id="cd")
    listed = (_working(new, 2), _working(old, 1))  # Binance promises no order
    snap = Reconciliation((), listed, AccountUpdate("RECONCILE", (), (), T0 + 9_000), T0 + 9_000)
    recovery.adopt(engine, snap, state)
    step = Step()
    one_each(engine, step)
    assert [c.client_order_id for c in step.commands if isinstance(c, CancelOrder)] == ["ab-3"]
