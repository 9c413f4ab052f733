"""The simulator's order store: open and past orders per symbol, algo orders, id counters.

Order ids, algo ids, trade ids and book priorities are counters from 1, so the same inputs
always give the same ids (determinism).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from rulebot.core.enums import WorkingType
from rulebot.exchange_sim.orders import AlgoOrder, SimOrder


@dataclass(slots=True)
class Counters:
    order_id: int = 0
    algo_id: int = 0
    trade_id: int = 0
    priority: int = 0

    def next_order(self) -> int:
        self.order_id += 1
        return self.order_id

    def next_algo(self) -> int:
        self.algo_id += 1
        return self.algo_id

    def next_trade(self) -> int:
        self.trade_id += 1
        return self.trade_id

    def next_priority(self) -> int:
        self.priority += 1
        return self.priority


def all_open(orders: list[SimOrder] | list[AlgoOrder]) -> bool:
    """Every order of the list is open: what the prunes ask on every walked price and quiet candle,
    and almost always true. A loop, as a generator in any() costs more than the test itself."""
    for order in orders:  # noqa: SIM110 - see above
        if not order.is_open:
            return False
    return True


# Final orders stay queryable by id and client id, the newest KEEP_FINAL of each kind at least
# (Binance too forgets old ones: a cancelled order without fills after 3 days, any after 90).
# Without a bound a year's backtest kept every order it ever placed (issue 14).
KEEP_FINAL = 1000


class OrderStore:
    """The simulator's open orders and its recent final ones. Open lists keep placement order."""

    def __init__(self, keep_final: int | None = None) -> None:
        self.ids = Counters()
        self._open: dict[str, list[SimOrder]] = {}
        self._open_ids: set[int] = set()
        self._by_client: dict[tuple[str, str], SimOrder] = {}
        self._by_id: dict[int, SimOrder] = {}
        self._algos: dict[str, list[AlgoOrder]] = {}
        self._algo_by_client: dict[tuple[str, str], AlgoOrder] = {}
        self._algo_by_id: dict[int, AlgoOrder] = {}
        # Final orders in the order they ended, oldest first: the ones beyond `_keep` are forgotten.
        self._keep = KEEP_FINAL if keep_final is None else keep_final
        self._final: deque[SimOrder] = deque()
        self._final_algos: deque[AlgoOrder] = deque()

    # -- plain orders ----------------------------------------------------------------------

    def add(self, order: SimOrder) -> None:
        """Put an order on the symbol's open list (once: a triggered stop is already there)."""
        if order.order_id not in self._open_ids:
            self._open_ids.add(order.order_id)
            orders = self._open.get(order.symbol)  # not setdefault: that builds a list on every order
            if orders is None:
                self._open[order.symbol] = [order]
            else:
                orders.append(order)
        self._by_client[(order.symbol, order.client_order_id)] = order
        self._by_id[order.order_id] = order

    def record(self, order: SimOrder) -> None:
        """Remember an order that never rested (filled or expired on arrival) for queries."""
        self._by_client[(order.symbol, order.client_order_id)] = order
        self._by_id[order.order_id] = order
        self._retire(order)

    def prune(self, symbol: str) -> None:
        """Drop final orders from the symbol's open list (they stay queryable a while: `_retire`)."""
        orders = self._open.get(symbol)
        if orders and not all_open(orders):
            kept: list[SimOrder] = []
            self._open[symbol] = kept
            for o in orders:  # one pass, in order: the open ones stay, the rest are final (as prune_algos)
                if o.is_open:
                    kept.append(o)
                else:
                    self._open_ids.discard(o.order_id)
                    self._retire(o)

    def _retire(self, order: SimOrder) -> None:
        """A final order: queryable until `_keep` newer ones have ended (checked in batches)."""
        final = self._final
        final.append(order)
        if len(final) > 2 * self._keep:
            by_client, by_id = self._by_client, self._by_id
            for _ in range(len(final) - self._keep):
                old = final.popleft()
                key = (old.symbol, old.client_order_id)
                if by_client.get(key) is old:  # a client id may have been reused since
                    del by_client[key]
                if by_id.get(old.order_id) is old:
                    del by_id[old.order_id]

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        """Open plain orders, by symbol then placement order."""
        if symbol is not None:  # one symbol (every order placed asks): no list of symbols to walk
            orders = self._open.get(symbol)
            return [o for o in orders if o.is_open] if orders else []
        return [o for s in sorted(self._open) for o in self._open.get(s, ()) if o.is_open]

    def open_counts(self, symbol: str) -> tuple[int, int]:
        """The symbol's open orders as the order-count filters see them: plain orders, and conditional
        ones (plain orders with a trigger, COIN-M, and algo orders). Counted, not listed: every order
        placed asks, and there are usually none."""
        plain = conditional = 0
        for o in self._open.get(symbol, ()):
            if o.is_open:
                if o.trigger is None:
                    plain += 1
                else:
                    conditional += 1
        for a in self._algos.get(symbol, ()):
            if a.is_open:
                conditional += 1
        return plain, conditional

    def idle(self, symbol: str) -> bool:
        """No plain or algo order of the symbol is open (closed ones may linger until pruned)."""
        return not self._open.get(symbol) and not self._algos.get(symbol)

    def out_of_reach(self, symbol: str, working_type: WorkingType) -> bool:
        """No plain order of the symbol is listed and every algo order is open and watches another
        price than `working_type`: a price of that type can fill, trigger or prune nothing (what a
        trade meets while only mark-price stops work, on every trade of a held position)."""
        if self._open.get(symbol):
            return False
        for algo in self._algos.get(symbol, ()):
            if algo.status != "NEW" or algo.trigger.working_type is working_type:
                return False
        return True

    def resting(self, symbol: str) -> list[SimOrder]:
        orders = self._open.get(symbol)
        return [o for o in orders if o.rests] if orders else []

    def waiting(self, symbol: str) -> list[SimOrder]:
        """Conditional plain orders (COIN-M) not yet triggered."""
        return [o for o in self._open.get(symbol, ()) if o.waits_for_trigger]

    def find(self, symbol: str, client_order_id: str) -> SimOrder | None:
        """The latest order with that client id, open or not."""
        return self._by_client.get((symbol, client_order_id))

    def by_id(self, order_id: int) -> SimOrder | None:
        return self._by_id.get(order_id)

    def symbols(self) -> Iterator[str]:
        return iter(sorted(set(self._open) | set(self._algos)))

    # -- algo orders -----------------------------------------------------------------------

    def add_algo(self, algo: AlgoOrder) -> None:
        algos = self._algos.get(algo.symbol)  # as in `add`
        if algos is None:
            self._algos[algo.symbol] = [algo]
        else:
            algos.append(algo)
        self._algo_by_client[(algo.symbol, algo.client_algo_id)] = algo
        self._algo_by_id[algo.algo_id] = algo

    def open_algos(self, symbol: str | None = None) -> list[AlgoOrder]:
        if symbol is not None:  # as open_orders
            algos = self._algos.get(symbol)
            return [a for a in algos if a.is_open] if algos else []
        return [a for s in sorted(self._algos) for a in self._algos.get(s, ()) if a.is_open]

    def find_algo(self, symbol: str, client_algo_id: str) -> AlgoOrder | None:
        return self._algo_by_client.get((symbol, client_algo_id))

    def algo_by_id(self, algo_id: int) -> AlgoOrder | None:
        return self._algo_by_id.get(algo_id)

    def prune_algos(self, symbol: str) -> None:
        algos = self._algos.get(symbol)
        if algos and not all_open(algos):
            kept: list[AlgoOrder] = []
            self._algos[symbol] = kept
            final = self._final_algos
            for a in algos:  # one pass, in order: the open ones stay, the rest are final
                if a.is_open:
                    kept.append(a)
                else:
                    final.append(a)
            if len(self._final_algos) > 2 * self._keep:
                self._forget_algos()

    def _forget_algos(self) -> None:
        """The oldest algo orders that ended, beyond `_keep`; a triggered one waits for its
        order, which looks it up by id to finish it (matching.py)."""
        final, waiting = self._final_algos, []
        by_client, by_id = self._algo_by_client, self._algo_by_id
        for _ in range(len(final) - self._keep):
            old = final.popleft()
            if old.status == "TRIGGERED":
                waiting.append(old)
                continue
            key = (old.symbol, old.client_algo_id)
            if by_client.get(key) is old:
                del by_client[key]
            if by_id.get(old.algo_id) is old:
                del by_id[old.algo_id]
        final.extendleft(reversed(waiting))

    def remembered(self) -> tuple[int, int]:
        """How many plain and algo orders are kept (open or final): bounded, whatever the run."""
        return len(self._by_id), len(self._algo_by_id)

    def client_id_in_use(self, symbol: str, client_id: str) -> bool:
        """Binance refuses a client id already used by an open order or open algo order."""
        order = self._by_client.get((symbol, client_id))
        algo = self._algo_by_client.get((symbol, client_id))
        return (order is not None and order.is_open) or (algo is not None and algo.is_open)
