"""The order desk: accepts and cancels orders, plain (`/fapi/v1/order`) and algo
(`/fapi/v1/algoOrder`), once the gatekeeper has let them through.
"""

from __future__ import annotations

from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.account_events import AccountEvent
from rulebot.core.commands import CancelOrder, PlaceOrder
from rulebot.core.enums import OrderStatus
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.errors import rejected
from rulebot.exchange_sim.matching import Matcher
from rulebot.exchange_sim.orders import AlgoOrder, SimOrder, algo_update, algo_view, order_view
from rulebot.exchange_sim.placement import Gatekeeper


class OrderDesk:
    """Places, cancels and mass-cancels orders; every change goes out as an event."""

    def __init__(self, gate: Gatekeeper, store: OrderStore, matcher: Matcher) -> None:
        self._gate = gate
        self._store = store
        self._matcher = matcher

    def place(self, cmd: PlaceOrder, time: int, events: list[AccountEvent], view: bool = True) -> OrderView | None:
        """A plain order: LIMIT/MARKET run now; a COIN-M stop waits in the book. Its view (the
        REST answer) only if `view`: a backtest reads the events, never the answer."""
        ok = self._gate.check(cmd, algo=False)
        order_id = self._store.ids.next_order()
        # Positional, in the fields' order (named in the comments): every order placed builds one.
        order = SimOrder(
            order_id,
            cmd.client_order_id or f"sim_{order_id}",  # client_order_id
            cmd.symbol,
            cmd.side,
            cmd.position_side,
            cmd.order_type,
            ok.time_in_force,
            ok.quantity,
            cmd.price if cmd.order_type.has_limit_price else None,  # price
            cmd.reduce_only,
            ok.closing,
            cmd.close_position,
            time,
            ok.trigger,
        )
        order.working_type = cmd.working_type
        if order.trigger is not None:
            order.update_time = time
            self._store.add(order)
            self._matcher.announce(order, time, events)
        else:
            self._matcher.execute(order, time, events, ok.levels)
        return order_view(ok.inst, order) if view else None

    def place_algo(
        self, cmd: PlaceOrder, time: int, events: list[AccountEvent], view: bool = True
    ) -> AlgoOrderView | None:
        """A USDⓈ-M conditional order: held by the algo service until its trigger (its view if `view`)."""
        ok = self._gate.check(cmd, algo=True)
        assert ok.trigger is not None
        algo_id = self._store.ids.next_algo()
        # Positional, in the fields' order (named in the comments), as SimOrder above.
        algo = AlgoOrder(
            algo_id,
            cmd.client_order_id or f"sim_algo_{algo_id}",  # client_algo_id
            cmd.symbol,
            cmd.side,
            cmd.position_side,
            cmd.order_type,
            ok.quantity,
            cmd.price if cmd.order_type.has_limit_price else None,  # price
            ok.time_in_force,
            cmd.reduce_only,
            cmd.close_position,
            ok.trigger,
            time,
        )
        algo.update_time = time
        self._store.add_algo(algo)
        events.append(algo_update(algo, time))
        return algo_view(ok.inst, algo) if view else None

    def cancel(
        self, cmd: CancelOrder, time: int, events: list[AccountEvent], view: bool = True
    ) -> tuple[OrderView | None, AlgoOrderView | None]:
        """Cancel by client id: an open plain order, else an open algo order; else -2011 (views if `view`)."""
        inst = self._gate.instrument(cmd.symbol)
        order = self._store.find(cmd.symbol, cmd.client_order_id)
        if order is not None and order.is_open:
            self._matcher.end(order, OrderStatus.CANCELED, "CANCELED", time, events)
            self._store.prune(cmd.symbol)
            return (order_view(inst, order) if view else None), None
        algo = self._store.find_algo(cmd.symbol, cmd.client_order_id)
        if algo is not None and algo.is_open:
            self.end_algo(algo, "CANCELED", None, time, events)
            return None, (algo_view(inst, algo) if view else None)
        raise rejected(-2011)

    def cancel_all(
        self,
        symbol: str,
        time: int,
        events: list[AccountEvent],
        status: OrderStatus = OrderStatus.CANCELED,
        reason: str | None = None,
    ) -> None:
        """End every open plain and algo order of the symbol (CANCELED, or EXPIRED)."""
        for order in self._store.open_orders(symbol):
            if order.is_open:
                self._matcher.end(order, status, status.value, time, events)
        for algo in self._store.open_algos(symbol):
            self.end_algo(algo, status.value, reason, time, events)
        self._store.prune(symbol)

    def end_algo(
        self,
        algo: AlgoOrder,
        status: str,
        reason: str | None,
        time: int,
        events: list[AccountEvent],
    ) -> None:
        algo.status, algo.reason, algo.update_time = status, reason, time
        events.append(algo_update(algo, time))
        self._store.prune_algos(algo.symbol)
