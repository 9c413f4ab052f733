"""Open orders on the rulebook's symbols that this bot's journal does not know.

Placed by hand, or by a bot whose journal is gone (a fresh `--run-dir`, a deleted file), such an
order works beside the bot: a resting entry can fill into a position larger than the rulebook
says, a stop can close the bot's position outside its rules. A live start beside one is refused
(`refuse`, the default) with the orders listed, unless the operator says what to do with them:
`cancel` them (journaled), or `keep` them (the bot trades beside them, as before). Found by a
later reconciliation (after a user-stream reconnect), they are cancelled under `cancel` and
otherwise reported and left alone: the operator may have placed them on purpose while it ran.
"""

from __future__ import annotations

from collections.abc import Sequence

from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.commands import CancelOrder
from rulebot.core.errors import UserError
from rulebot.engine import records as rec
from rulebot.engine.engine import Step
from rulebot.runtime.run_config import ForeignPolicy

KIND = "foreign-order"


class ForeignOrders(UserError):
    """A live start refused: orders the journal does not know work on the rulebook's symbols."""


def client_id(view: OrderView | AlgoOrderView) -> str:
    """An open order's client id: an algo order's (a USD-M conditional) is its clientAlgoId."""
    return view.client_algo_id if isinstance(view, AlgoOrderView) else view.client_order_id


def describe(view: OrderView | AlgoOrderView) -> str:
    """`BTCUSDT LIMIT BUY 0.05 at 59990 (manual-1)`: what the order would do, and its id."""
    cid = client_id(view)
    size = "close-position" if view.close_position else f"{view.quantity.normalize():f}"
    words = [view.symbol, view.order_type.value, view.side.value, size]
    price = view.price
    if price:  # a market order's price reads 0
        words.append(f"at {price.normalize():f}")
    if view.trigger_price:
        words.append(f"trigger {view.trigger_price.normalize():f}")
    if view.reduce_only and not view.close_position:
        words.append("reduce-only")
    return " ".join(words) + f" ({cid})"


def handle(views: Sequence[OrderView | AlgoOrderView], policy: ForeignPolicy, at_start: bool, time: int) -> Step:
    """What to do with the foreign orders `views` found by a reconciliation (`at_start`: the run's
    first): a step that cancels or reports them; raises `ForeignOrders` for a refused start."""
    step = Step()
    if not views:
        return step
    if policy == "refuse" and at_start:
        listed = "\n".join(f"  {describe(v)}" for v in views)
        raise ForeignOrders(
            f"{len(views)} open order(s) on the rulebook's symbols were not sent by this bot (its journal does "
            f"not know them); trading beside them, one could fill into a larger position than the rulebook "
            f"says or close the bot's position:\n{listed}\nthe bot did not start; nothing was sent",
            hint="cancel them on Binance, or start with --foreign-orders cancel (the bot cancels them) or "
            "--foreign-orders keep (it trades beside them)",
        )
    for v in views:
        cid = client_id(v)
        if policy == "cancel":
            step.commands.append(CancelOrder(v.symbol, cid, time, "not sent by this bot (--foreign-orders cancel)"))
            text = f"order {describe(v)} is open on the exchange but was not sent by this bot: cancelled"
        else:
            text = f"order {describe(v)} is open on the exchange but was not sent by this bot: left alone"
        step.records.append(rec.EngineNotice(time, v.symbol, KIND, text))
    return step
