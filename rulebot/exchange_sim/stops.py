"""Runs conditional orders when their trigger price is reached.

COIN-M: the stop is a plain order; on trigger it keeps its order id, client id and type,
sends a NEW OrderUpdate (time: the trigger) and executes as the LIMIT (STOP, TAKE_PROFIT) or
MARKET (the *_MARKET types) it stands for. (Binance sends EXPIRED for the stop, then NEW with
type LIMIT/MARKET and `ot` = the stop's type; OrderUpdate has no `ot`, so the sim keeps one
order that a consumer cannot mistake for a finished one.)
USDⓈ-M: the algo order goes TRIGGERED and places a plain LIMIT/MARKET order (client id = the
clientAlgoId), whose OrderUpdates follow; the algo is FINISHED when that order is final.

At the trigger, what placement skipped is checked: a closing order with no position left to
close is dropped (algo: CANCELED, reason "Reduce Only reject", as in the docs' ALGO_UPDATE;
COIN-M: EXPIRED); an opening order beyond the available margin is dropped (algo: REJECTED
with the -2019 message; COIN-M: EXPIRED); a post-only or FOK order that cannot execute as
such is dropped the same way. closePosition orders take the position's size at trigger.
A priceProtect STOP/TAKE_PROFIT does not trigger while last and mark price differ by more
than the symbol's triggerProtect; it keeps waiting (`order_cost.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import OrderStatus, OrderType, WorkingType
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim import conditional
from rulebot.exchange_sim.account import Account, closes, reducible
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.errors import Rejected, rejected
from rulebot.exchange_sim.exposure import Exposure, Pending
from rulebot.exchange_sim.market import Quotes
from rulebot.exchange_sim.matching import Matcher
from rulebot.exchange_sim.order_cost import assumed_market_price, open_loss, trigger_protected
from rulebot.exchange_sim.orders import AlgoOrder, SimOrder, algo_update

ZERO = Decimal(0)
REDUCE_ONLY_REJECT = "Reduce Only reject"


class StopRunner:
    """Evaluates triggers on each watched price and fires what triggered, in placement order."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        account: Account,
        exposure: Exposure,
        store: OrderStore,
        matcher: Matcher,
        quotes: Mapping[str, Quotes],
    ) -> None:
        self._instruments = instruments
        self._quotes = quotes
        self._account = account
        self._exposure = exposure
        self._store = store
        self._matcher = matcher

    def on_price(
        self,
        symbol: str,
        working_type: WorkingType,
        price: Decimal,
        time: int,
        events: list[AccountEvent],
    ) -> None:
        inst = self._instruments[symbol]
        # One pass over each list, no copies: this runs on every trade and every mark price
        # while any order of the symbol is working.
        fired_orders = [
            o
            for o in self._store.waiting(symbol)
            if o.trigger is not None
            and o.trigger.working_type is working_type
            and conditional.update(o.trigger, price, inst)
        ]
        fired_algos = [
            a
            for a in self._store.open_algos(symbol)
            if a.trigger.working_type is working_type and conditional.update(a.trigger, price, inst)
        ]
        if fired_orders or fired_algos:
            # priceProtect orders wait while last and mark are too far apart (`order_cost.py`): asked
            # only of what triggered (every trigger above still saw the price: trailing stops track it).
            quotes = self._quotes[symbol]
            if trigger_protected(inst, quotes.last, quotes.mark):
                fired_orders = [o for o in fired_orders if not o.trigger.price_protect]  # type: ignore[union-attr]
                fired_algos = [a for a in fired_algos if not a.trigger.price_protect]
        if fired_orders or fired_algos:
            self._fire(fired_orders, fired_algos, time, events)
        self._store.prune(symbol)
        self._store.prune_algos(symbol)

    def _fire(
        self, fired_orders: list[SimOrder], fired_algos: list[AlgoOrder], time: int, events: list[AccountEvent]
    ) -> None:
        for order in fired_orders:
            if order.waits_for_trigger:
                self._fire_order(order, time, events)
        for algo in fired_algos:
            if algo.is_open:
                self._fire_algo(algo, time, events)

    # -- COIN-M plain conditionals -----------------------------------------------------------

    def _fire_order(self, order: SimOrder, time: int, events: list[AccountEvent]) -> None:
        try:
            # Sized while still waiting, so the margin check does not count it twice.
            order.quantity = self._size(order.symbol, order, order.quantity)
            order.triggered = True
            self._matcher.execute(order, time, events)
        except Rejected:
            order.triggered = True
            self._matcher.end(order, OrderStatus.EXPIRED, "EXPIRED", time, events)

    # -- USDⓈ-M algo orders ------------------------------------------------------------------

    def _fire_algo(self, algo: AlgoOrder, time: int, events: list[AccountEvent]) -> None:
        algo.trigger_time = algo.update_time = time
        child = SimOrder(
            order_id=0,
            client_order_id=algo.client_algo_id,
            symbol=algo.symbol,
            side=algo.side,
            position_side=algo.position_side,
            order_type=OrderType.LIMIT if algo.price is not None else OrderType.MARKET,
            time_in_force=algo.time_in_force,
            quantity=algo.quantity,
            price=algo.price,
            reduce_only=algo.reduce_only,
            closing=algo.reduce_only
            or algo.close_position
            or (self._account.hedge_mode and closes(algo.position_side, algo.side)),
            close_position=algo.close_position,
            time=time,
            algo_id=algo.algo_id,
            working_type=algo.trigger.working_type,
        )
        try:
            child.quantity = self._size(algo.symbol, child, algo.quantity)
        except Rejected as exc:
            algo.status = "CANCELED" if exc.code == -2022 else "REJECTED"
            algo.reason = REDUCE_ONLY_REJECT if exc.code == -2022 else exc.message
            events.append(algo_update(algo, time))
            return
        child.order_id = self._store.ids.next_order()
        algo.status, algo.order_id, algo.child = "TRIGGERED", child.order_id, child
        events.append(algo_update(algo, time))
        try:
            self._matcher.execute(child, time, events)
        except Rejected as exc:  # GTX would take / FOK cannot fill, at trigger time
            child.status = OrderStatus.REJECTED
            self._store.record(child)
            algo.status, algo.reason = "REJECTED", exc.message
            events.append(algo_update(algo, time))

    # -- shared -------------------------------------------------------------------------------

    def _size(self, symbol: str, order: SimOrder, quantity: Decimal) -> Decimal:
        """The quantity the triggered order executes with; raises what drops it."""
        if order.closing:
            pos = self._account.position(symbol, order.position_side)
            can_close = reducible(pos, order.side)
            if can_close == 0:
                raise rejected(-2022)
            return can_close if order.close_position else min(quantity, can_close)
        price = order.price
        quotes = self._quotes[symbol]
        if price is None:
            first = self._matcher.expected_price(symbol, order.side)
            price = assumed_market_price(order.side, quotes.bid, quotes.ask, quotes.mark, first)
        if price is not None:
            inst = self._instruments[symbol]
            candidate = Pending(order.side, order.position_side, quantity, price, -1)
            needed = self._exposure.order_margin(symbol, candidate) - self._exposure.order_margin(symbol)
            needed += open_loss(inst, order.side, quantity, price, quotes.mark)  # order cost
            if needed > 0 and needed > self._exposure.available(inst.margin_asset):
                raise rejected(-2019)
        return quantity
