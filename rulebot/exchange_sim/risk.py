"""The risk watch run on every mark price: margin calls, then liquidations (`liquidation.py`
states the model), with the order expiries and fill events a liquidation brings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import OrderStatus, PositionSide, Side, TimeInForce
from rulebot.core.instruments import Instrument
from rulebot.core.margin import FloatBrackets, float_ratio_clearly_below
from rulebot.exchange_sim.account import Account, PositionState
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.desk import OrderDesk
from rulebot.exchange_sim.exposure import Exposure
from rulebot.exchange_sim.liquidation import (
    Closure,
    MarketPrice,
    bankrupt_at,
    bankruptcy_price,
    cross_bankrupt_at,
    cross_liquidation,
    isolated_liquidation,
    margin_calls,
)
from rulebot.exchange_sim.orders import (
    LIQUIDATION_TYPE,
    Fill,
    SimOrder,
    order_update,
)
from rulebot.exchange_sim.updates import Reporter

ZERO = Decimal(0)
ONE = Decimal(1)


class RiskWatch:
    """Checks the margin of what a new mark price touches, warns and liquidates."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        account: Account,
        exposure: Exposure,
        reporter: Reporter,
        store: OrderStore,
        desk: OrderDesk,
        margin_call_ratio: Decimal,
        market: MarketPrice,
        tiered: bool = True,
        close_fee_rate: Decimal = ZERO,
    ) -> None:
        if not ZERO < margin_call_ratio <= ONE:
            raise ValueError(f"margin_call_ratio must be in (0, 1], got {margin_call_ratio}")
        self._instruments = dict(instruments)
        self._account = account
        self._exposure = exposure
        self._reporter = reporter
        self._store = store
        self._desk = desk
        self._warn_at = margin_call_ratio
        self._market = market  # where a liquidation order would fill now (the fill model)
        self._tiered = tiered
        self._close_fee_rate = close_fee_rate  # a market close's commission (cross_bankrupt_at)
        self._warned: set[tuple[str, str, str]] = set()
        self._float_brackets: dict[str, FloatBrackets] = {}
        self._warn_float = float(margin_call_ratio)
        self._leg_floats: dict[tuple[str, PositionSide], tuple[Decimal, Decimal, Decimal, float, float, float]] = {}
        # An isolated leg's bankruptcy price with the Decimals it came from (qty, entry, wallet):
        # every trade of a held position asks, and it moves only with a fill or a margin change.
        self._bankrupt: dict[tuple[str, PositionSide], tuple[Decimal, Decimal, Decimal, Decimal | None]] = {}

    @property
    def warn_at(self) -> Decimal:
        """The margin ratio at which a margin call goes out."""
        return self._warn_at

    @property
    def warned(self) -> bool:
        """A margin call went out and the ratio has not fallen back below the level since."""
        return bool(self._warned)

    def check(self, symbol: str, time: int, events: list[AccountEvent]) -> None:
        """After a mark price of `symbol`: its isolated positions, or its asset's cross account."""
        inst = self._instruments[symbol]
        account, exposure = self._account, self._exposure
        if account.is_isolated(symbol):
            for pos in account.legs(symbol):
                if pos.qty == 0:
                    continue
                key = ("isolated", symbol, pos.position_side.value)
                if self._clearly_safe(inst, pos):
                    self._warned.discard(key)
                    continue
                self._warn(key, exposure.isolated_ratio(pos), [pos], time, events)
                market = self._market(symbol, Side.SELL if pos.qty > 0 else Side.BUY)
                closures = isolated_liquidation(exposure, inst, pos, market, self._tiered)
                if closures:
                    self._liquidate(closures, time, events)
                    self._warned.discard(key)
            return
        asset = inst.margin_asset
        cross = [p for p in account.open_positions(asset) if not account.is_isolated(p.symbol)]
        if not cross:
            return
        key = ("cross", asset, "")
        ratio = exposure.cross_ratio(asset)
        self._warn(key, ratio, cross, time, events)
        if ratio < ONE:
            return
        closures = cross_liquidation(account, exposure, self._instruments, asset, symbol, self._market)
        if closures:
            self._liquidate(closures, time, events)
            self._warned.discard(key)

    def check_fill_prices(
        self, symbol: str, sell: Decimal | None, buy: Decimal | None, time: int, events: list[AccountEvent]
    ) -> None:
        """Before a trade or book top of `symbol` fills anything: liquidate the isolated
        positions whose bankruptcy price it reached (`liquidation.py` says why). A long
        closes by selling at `sell` (the trade, the bid), a short by buying at `buy`."""
        inst = self._instruments[symbol]
        if not self._account.is_isolated(symbol):
            asset = inst.margin_asset
            closures = cross_bankrupt_at(
                self._account, self._exposure, self._instruments, asset, symbol, sell, buy, self._close_fee_rate
            )
            if closures:
                self._liquidate(closures, time, events)
                self._warned.discard(("cross", asset, ""))
            return
        for pos in self._account.legs(symbol):
            qty = pos.qty
            price = sell if qty > 0 else buy
            if price is None or not qty:
                continue
            bankrupt = self._bankruptcy(inst, pos)
            if bankrupt is None or ((price > bankrupt) if qty > 0 else (price < bankrupt)):
                continue  # as bankrupt_at finds, without its Decimal work
            closure = bankrupt_at(inst, pos, price)
            if closure is not None:
                self._liquidate([closure], time, events)
                self._warned.discard(("isolated", symbol, pos.position_side.value))

    def _bankruptcy(self, inst: Instrument, pos: PositionState) -> Decimal | None:
        """`bankruptcy_price` of an isolated leg, kept while its qty, entry and wallet are the same
        Decimals (they never change in place)."""
        key = (pos.symbol, pos.position_side)
        kept = self._bankrupt.get(key)
        qty, entry, wallet = pos.qty, pos.entry_price, pos.isolated_wallet
        if kept is not None and kept[0] is qty and kept[1] is entry and kept[2] is wallet:
            return kept[3]
        bankrupt = bankruptcy_price(inst, [pos], wallet)
        self._bankrupt[key] = (qty, entry, wallet, bankrupt)
        return bankrupt

    def _clearly_safe(self, inst: Instrument, pos: PositionState) -> bool:
        """The isolated margin ratio, in floats, is far below the margin-call level.

        Runs on every mark price of every open position; the exact Decimal check (and the
        liquidation search) only runs when the float estimate comes within 2% of the
        warning level, where exactness matters.
        """
        brackets = self._float_brackets.get(pos.symbol)
        if brackets is None:
            brackets = self._float_brackets[pos.symbol] = FloatBrackets(self._exposure.brackets(pos.symbol))
        # isolated_ratio_clearly_below, with the leg's floats kept while its Decimals are the same
        key = (pos.symbol, pos.position_side)
        kept = self._leg_floats.get(key)
        qty, entry, wallet = pos.qty, pos.entry_price, pos.isolated_wallet
        if kept is None or kept[0] is not qty or kept[1] is not entry or kept[2] is not wallet:
            kept = self._leg_floats[key] = (qty, entry, wallet, float(qty), float(entry), float(wallet))
        mark = float(self._exposure.price(pos))
        return float_ratio_clearly_below(inst, brackets, kept[3], kept[4], kept[5], mark, self._warn_float)

    def _warn(
        self,
        key: tuple[str, str, str],
        ratio: Decimal,
        positions: Sequence[PositionState],
        time: int,
        events: list[AccountEvent],
    ) -> None:
        if ratio < self._warn_at:
            self._warned.discard(key)
        elif key not in self._warned:
            self._warned.add(key)
            events.extend(margin_calls(self._exposure, positions, time))

    def _liquidate(self, closures: list[Closure], time: int, events: list[AccountEvent]) -> None:
        for symbol in sorted({c.position.symbol for c in closures}):
            # Binance takes the symbol's open orders off before it liquidates (`er` 5).
            self._desk.cancel_all(symbol, time, events, OrderStatus.EXPIRED, "liquidation")
        for closure in closures:
            self._close(closure, time, events)

    def _close(self, closure: Closure, time: int, events: list[AccountEvent]) -> None:
        pos = closure.position
        inst = self._instruments[pos.symbol]
        qty = closure.qty
        order_id = self._store.ids.next_order()
        order = SimOrder(
            order_id=order_id,
            client_order_id=f"autoclose-{order_id}",
            symbol=pos.symbol,
            side=Side.SELL if pos.qty > 0 else Side.BUY,
            position_side=pos.position_side,
            order_type=LIQUIDATION_TYPE,
            time_in_force=TimeInForce.IOC,
            quantity=qty,
            price=closure.limit,
            reduce_only=True,
            closing=True,
            close_position=False,
            time=time,
            status=OrderStatus.FILLED,
            executed=qty,
            cum_notional=abs(inst.notional(qty, closure.price)),
            update_time=time,
        )
        self._account.liquidate(inst, pos, qty, closure.realized, closure.fee, time)
        # The clearance fee is the fill's commission: every ledger that sums commissions counts it.
        fill = Fill(qty, closure.price, False, closure.fee, closure.realized, self._store.ids.next_trade())
        self._store.record(order)
        events.append(order_update(inst, order, "CALCULATED", time, fill))
        events.append(self._reporter.account_update("ORDER", inst.margin_asset, (pos,), time))
