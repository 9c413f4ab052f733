"""The risk watch run on every mark price: margin calls, then liquidations (`liquidation.py`
states the model), with the order expiries and fill events a liquidation brings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import OrderStatus, Side, TimeInForce
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim.account import Account, PositionState
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.desk import OrderDesk
from rulebot.exchange_sim.exposure import Exposure
from rulebot.exchange_sim.liquidation import (
    Closure,
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
        self._warned: set[tuple[str, str, str]] = set()
        self._float_brackets: dict[str, list[tuple[float, float, float]]] = {}

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
                closure = isolated_liquidation(exposure, inst, pos)
                if closure is not None:
                    self._liquidate([closure], time, events)
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
        closures = cross_liquidation(account, exposure, self._instruments, asset, symbol)
        if closures:
            self._liquidate(closures, time, events)
            self._warned.discard(key)

    def _clearly_safe(self, inst: Instrument, pos: PositionState) -> bool:
        """The isolated margin ratio, in floats, is far below the margin-call level.

        Runs on every mark price of every open position; the exact Decimal check (and the
        liquidation search) only runs when the float estimate comes within 2% of the
        warning level, where exactness matters.
        """
        mark = self._exposure.price(pos)
        qty, entry, mark_f = float(pos.qty), float(pos.entry_price), float(mark)
        if entry <= 0 or mark_f <= 0:
            return False
        if inst.is_inverse:
            cs = float(inst.contract_size)
            notional = abs(qty) * cs / mark_f
            upnl = qty * cs * (1 / entry - 1 / mark_f)
        else:
            notional = abs(qty) * mark_f
            upnl = qty * (mark_f - entry)
        balance = float(pos.isolated_wallet) + upnl
        if balance <= 0:
            return False
        maint = self._float_maint(pos.symbol, notional)
        return maint / balance < float(self._warn_at) * 0.98

    def _float_maint(self, symbol: str, notional: float) -> float:
        table = self._float_brackets.get(symbol)
        if table is None:
            table = self._float_brackets[symbol] = [
                (float(b.notional_cap), float(b.maint_margin_ratio), float(b.cum))
                for b in self._exposure.brackets(symbol).brackets
            ]
        for cap, mmr, cum in table:
            if notional < cap:
                return notional * mmr - cum
        cap, mmr, cum = table[-1]
        return notional * mmr - cum

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
        qty = pos.size
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
            price=closure.price,
            reduce_only=True,
            closing=True,
            close_position=False,
            time=time,
            status=OrderStatus.FILLED,
            executed=qty,
            cum_notional=abs(inst.notional(qty, closure.price)),
            update_time=time,
        )
        self._account.close_at(inst, pos, closure.realized, time)
        fill = Fill(qty, closure.price, False, ZERO, closure.realized, self._store.ids.next_trade())
        self._store.record(order)
        events.append(order_update(inst, order, "CALCULATED", time, fill))
        events.append(self._reporter.account_update("ORDER", inst.margin_asset, (pos,), time))
