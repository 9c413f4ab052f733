"""The matching engine: runs orders against the market data per the `FillModel`, books fills.

A new (or just triggered) order first takes what it can as a taker, then rests (GTC, GTX)
or expires (IOC, market remainder); resting limits fill as makers from trades and book tops.
Every fill books commission and realized PnL on the account and emits an OrderUpdate
(TRADE) followed by an AccountUpdate (ORDER) with the asset's balance and the position.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import OrderStatus, Side, TimeInForce
from rulebot.core.fees import FeeRates, trading_fee
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim.account import Account, money, reducible
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.errors import rejected
from rulebot.exchange_sim.liquidity import Liquidity, impacted, room_bps
from rulebot.exchange_sim.market import (
    Level,
    Quotes,
    crossed_by_book,
    crossed_by_trade,
    marketable,
    plan_taker,
    reaches,
    taker_levels,
    use_top,
)
from rulebot.exchange_sim.model import FillModel
from rulebot.exchange_sim.orders import Fill, SimOrder, algo_update, order_update
from rulebot.exchange_sim.updates import Reporter

ZERO = Decimal(0)
# Members at hand: a member read through its class is a slow lookup on Python 3.11 (EnumType.__getattr__),
# and every fill sets a status.
_FILLED, _PARTIALLY_FILLED = OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED


class Matcher:
    """Executes orders and books their fills. Holds no state of its own."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        account: Account,
        reporter: Reporter,
        store: OrderStore,
        quotes: Mapping[str, Quotes],
        fill_model: FillModel,
        fee_rates: FeeRates,
        liquidity: Liquidity | None = None,
    ) -> None:
        self._instruments = instruments
        self._account = account
        self._reporter = reporter
        self._store = store
        self._quotes = quotes
        self._model = fill_model
        self._fees = fee_rates
        self._liquidity = liquidity  # the realistic model's cap per bar and impact

    def fillable(self, order: SimOrder) -> Decimal:
        """What the order may still fill: its remainder, and for a closing order no more
        than the position it closes (reduce-only orders shrink to the position)."""
        if not order.closing:
            return order.remaining
        pos = self._account.position(order.symbol, order.position_side)
        return min(order.remaining, reducible(pos, order.side))

    def levels(self, symbol: str, side: Side) -> list[Level]:
        """The levels a taker on `side` meets now (`taker_levels`)."""
        return taker_levels(self._instruments[symbol], self._quotes[symbol], side, self._model)

    def expected_price(self, symbol: str, side: Side, levels: list[Level] | None = None) -> Decimal | None:
        """Where a market order on `side` would fill first (for margin checks); `levels`: what
        `levels(symbol, side)` gives now, when the caller has them."""
        for level in self.levels(symbol, side) if levels is None else levels:
            if level.qty != 0:
                return level.price
        return self._quotes[symbol].reference()

    # -- new orders ------------------------------------------------------------------------

    def announce(self, order: SimOrder, time: int, events: list[AccountEvent]) -> None:
        """NEW for an order that only waits (a COIN-M stop before its trigger)."""
        events.append(order_update(self._instruments[order.symbol], order, "NEW", time))

    def execute(
        self, order: SimOrder, time: int, events: list[AccountEvent], levels: list[Level] | None = None
    ) -> None:
        """Run a new order, or a conditional that just triggered: NEW, then what it takes.
        `levels`: what `levels(order.symbol, order.side)` gives now, when the caller has them
        (the gatekeeper's margin check of a market order has just built them).

        Raises -5022 for a post-only (GTX) order that would take and -5021 for a FOK order
        that cannot fill whole, before anything happened (Binance rejects both outright).
        """
        inst, quotes = self._instruments[order.symbol], self._quotes[order.symbol]
        if levels is None:
            levels = taker_levels(inst, quotes, order.side, self._model)
        limit = order.price
        takes = marketable(levels, order.side, limit)
        plan = plan_taker(levels, order.side, self.fillable(order), limit) if takes else []
        if plan and self._liquidity is not None:
            plan = self._within_liquidity(inst, order, plan)
        if limit is not None:
            if order.time_in_force is TimeInForce.GTX and takes:
                raise rejected(-5022)
            if order.time_in_force is TimeInForce.FOK and (sum((qty for _, _, qty in plan), ZERO) < order.remaining):
                raise rejected(-5021)
        order.update_time = time
        events.append(order_update(inst, order, "NEW", time))
        self._store.add(order)
        for level, price, qty in plan:
            if not order.is_open:
                break
            if self._liquidity is not None:
                self._liquidity.use(order.symbol, qty)
            self.fill(order, qty, price, False, time, events)
            if level.top:
                use_top(quotes, order.side, qty)
        if order.is_open:
            # Time priority starts when the order reaches the book (a stop: at its trigger).
            order.priority = self._store.ids.next_priority()
            keeps = limit is not None and order.time_in_force in (TimeInForce.GTC, TimeInForce.GTX)
            if not keeps or (order.closing and self.fillable(order) == 0):
                # IOC remainder, market remainder (nothing more to take), or a closing order
                # left with no position to close.
                self.end(order, OrderStatus.EXPIRED, "EXPIRED", time, events)
        self._store.prune(order.symbol)

    def _within_liquidity(
        self, inst: Instrument, order: SimOrder, plan: list[tuple[Level, Decimal, Decimal]]
    ) -> list[tuple[Level, Decimal, Decimal]]:
        """The taker plan cut to the bar's cap and priced with impact (liquidity.py).

        A book top's quoted quantity is observed and taken as planned; beyond it every fill is
        capped and pays square-root impact, and a limit takes only what keeps it within its price.
        """
        liq = self._liquidity
        assert liq is not None
        out: list[tuple[Level, Decimal, Decimal]] = []
        planned = ZERO  # capped quantity planned so far (not yet booked as used)
        for level, price, qty in plan:
            if level.top:
                out.append((level, price, qty))
                planned += qty
                continue
            room = liq.left(inst, order.symbol) - planned
            take = min(qty, room)
            if order.price is not None:  # a market order takes whatever the impact (no bound to ask for)
                within = liq.most_within(inst, order.symbol, room_bps(price, order.side, order.price) or ZERO)
                if within is not None:
                    take = min(take, within - planned)
            if take <= 0:
                break
            bps = liq.impact_bps(order.symbol, planned + take)
            worse = impacted(inst, price, order.side, bps)
            if order.price is not None and not reaches(order.side, order.price, worse):
                worse = order.price  # rounding to the tick never pushes past the limit
            out.append((level, worse, take))
            planned += take
        return out

    # -- fills -------------------------------------------------------------------------------

    def fill(
        self,
        order: SimOrder,
        qty: Decimal,
        price: Decimal,
        is_maker: bool,
        time: int,
        events: list[AccountEvent],
    ) -> None:
        inst = self._instruments[order.symbol]
        fees = self._fees
        commission = money(trading_fee(inst, qty, price, fees.maker if is_maker else fees.taker))  # fees.rate()
        realized = self._account.apply_fill(inst, order.position_side, order.side, qty, price, commission, time)
        order.executed += qty
        order.cum_notional += abs(inst.notional(qty, price))
        order.status = _FILLED if order.remaining == 0 else _PARTIALLY_FILLED
        order.update_time = time
        fill = Fill(qty, price, is_maker, commission, realized, self._store.ids.next_trade())
        events.append(order_update(inst, order, "TRADE", time, fill))
        pos = self._account.position(order.symbol, order.position_side)
        events.append(self._reporter.account_update("ORDER", inst.margin_asset, (pos,), time))
        if not order.is_open:
            self._finish_algo(order, time, events)
        self._expire_stranded(order.symbol, time, events)

    def _expire_stranded(self, symbol: str, time: int, events: list[AccountEvent]) -> None:
        """Resting closing orders with nothing left to close expire (FACTS §6.3 `er` 4)."""
        for order in self._store.resting(symbol):
            if order.closing and self.fillable(order) == 0:
                self.end(order, OrderStatus.EXPIRED, "EXPIRED", time, events)

    def on_trade(
        self,
        symbol: str,
        price: Decimal,
        qty: Decimal,
        is_buyer_maker: bool,
        time: int,
        events: list[AccountEvent],
    ) -> None:
        """Fill resting limits a trade printed through, up to the trade's quantity per side."""
        resting = self._store.resting(symbol)
        if not resting:
            self._store.prune(symbol)
            return  # only stops and algo orders are working: nothing rests on the book
        touch = self._model.fill_at_touch
        for side in (Side.BUY, Side.SELL):
            crossed = [
                o
                for o in resting
                if o.side is side
                and o.is_open
                and o.price is not None
                and crossed_by_trade(side, o.price, price, is_buyer_maker, touch)
            ]
            if crossed:
                self._fill_makers(crossed, side, qty, time, events)
        self._store.prune(symbol)

    def on_book(self, symbol: str, time: int, events: list[AccountEvent]) -> None:
        """Fill resting limits the new book top quotes through, up to the quoted quantity."""
        quotes, touch = self._quotes[symbol], self._model.fill_at_touch
        for side, quote, budget in (
            (Side.BUY, quotes.ask, quotes.ask_qty),
            (Side.SELL, quotes.bid, quotes.bid_qty),
        ):
            if quote is None:
                continue
            crossed = [
                o
                for o in self._store.resting(symbol)
                if o.side is side and o.price is not None and crossed_by_book(side, o.price, quote, touch)
            ]
            used = self._fill_makers(crossed, side, budget, time, events)
            use_top(quotes, side, used)  # resting BUYs used up the ask, SELLs the bid
        self._store.prune(symbol)

    def _fill_makers(
        self,
        orders: list[SimOrder],
        side: Side,
        budget: Decimal,
        time: int,
        events: list[AccountEvent],
    ) -> Decimal:
        """Fill `orders` at their own prices in price-time priority; returns what was used."""

        def rank(o: SimOrder) -> tuple[Decimal, int]:
            assert o.price is not None
            return (-o.price if side is Side.BUY else o.price, o.priority)

        if not orders:
            return ZERO
        symbol = orders[0].symbol
        if self._liquidity is not None:
            # Our place in the queue is unknown: makers share the bar's cap with takers.
            budget = min(budget, self._liquidity.left(self._instruments[symbol], symbol))
        used = ZERO
        for order in sorted(orders, key=rank):
            if used >= budget:
                break
            if not order.rests:  # expired by an earlier fill of this same print
                continue
            take = min(self.fillable(order), budget - used)
            if take <= 0:
                continue
            assert order.price is not None
            if self._liquidity is not None:
                self._liquidity.use(symbol, take)
            self.fill(order, take, order.price, True, time, events)
            used += take
        return used

    # -- ends ----------------------------------------------------------------------------------

    def end(
        self,
        order: SimOrder,
        status: OrderStatus,
        execution_type: str,
        time: int,
        events: list[AccountEvent],
    ) -> None:
        """Cancel or expire an open order."""
        order.status = status
        order.update_time = time
        events.append(order_update(self._instruments[order.symbol], order, execution_type, time))
        self._finish_algo(order, time, events)

    def _finish_algo(self, order: SimOrder, time: int, events: list[AccountEvent]) -> None:
        """The algo order that placed `order` is FINISHED once that order is final."""
        if order.algo_id is None:
            return
        algo = self._store.algo_by_id(order.algo_id)
        if algo is not None and algo.status == "TRIGGERED":
            algo.status = "FINISHED"
            algo.update_time = time
            events.append(algo_update(algo, time))
