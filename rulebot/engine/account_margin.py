"""`available` and `liq_price` as conditions read them: the exchange's own figures, in floats.

`available` is Binance's availableBalance of the symbol's margin asset, as the exchange
simulator computes it (`exchange_sim/exposure.py`): the cross wallet (the wallet less what sits
in isolated positions' wallets) plus the cross positions' unrealized PnL, less their initial
margin at mark and less the initial margin of the open orders that can open exposure. An
isolated position's profit is not in it.

`liq_price` is the mark price at which the exchange liquidates the position: Binance's formula
(`core.margin.liquidation_price`, MARGIN.md §3.1 and §4) with the symbol's brackets, the
isolated wallet the venue reports (funding and margin changes included) or, in cross margin, the
cross wallet and the other cross positions at their marks, as the simulator's positionRisk shows it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from rulebot.core.enums import MarginType, PositionSide, Side
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, Position, UnderMaintenanceError, liquidation_price
from rulebot.engine.oms import OrderManager
from rulebot.engine.portfolio import Portfolio, PositionState

if TYPE_CHECKING:
    from rulebot.engine.state import SymbolRun

ZERO = Decimal(0)
_BUY, _BOTH, _LONG = Side.BUY, PositionSide.BOTH, PositionSide.LONG
_ISOLATED = MarginType.ISOLATED


def isolated_wallet(inst: Instrument, pos: PositionState, leverage: int) -> Decimal:
    """The position's isolated wallet as the venue reported it; the initial margin at entry when
    it has not said (as `account_view.holding`)."""
    wallet = pos.isolated_wallet
    if wallet <= 0:
        wallet = abs(inst.notional(pos.size, pos.entry_price)) / leverage
    return wallet


def order_margin(
    symbol: str, inst: Instrument, leverage: int, portfolio: Portfolio, oms: OrderManager, hedge: bool
) -> Decimal:
    """Initial margin of the symbol's open orders, as `Exposure.order_margin` takes it: resting
    orders with a price that are not reduce-only (untriggered conditional orders need none), for
    what is left of them at their price; in one-way mode the part of a BUY that would close a
    short (a SELL a long) is free, oldest order first, and the larger of the BUY and SELL sides is
    charged; in hedge mode the LONG BUYs and SHORT SELLs add up."""
    rows: list[tuple[bool, PositionSide, Decimal, Decimal]] = []
    for record in oms.open_orders(symbol):  # in the order they were placed
        cmd = record.command
        if cmd.reduce_only or cmd.close_position or cmd.price is None or cmd.quantity is None:
            continue
        if cmd.is_conditional and record.untriggered:
            continue
        left = cmd.quantity - record.filled_qty
        if left > 0:
            rows.append((cmd.side is _BUY, cmd.position_side, left, cmd.price))
    if not rows:
        return ZERO
    if hedge:
        total = ZERO
        for buy, ps, q, p in rows:
            if (ps is _LONG) == buy:
                total += abs(inst.notional(q, p)) / leverage
        return total
    held = portfolio.position(symbol, _BOTH).amount
    sides = []
    for side_buy, closable in ((True, max(ZERO, -held)), (False, max(ZERO, held))):
        total = ZERO
        for buy, _, q, p in rows:
            if buy is side_buy:
                closing = min(closable, q)
                closable -= closing
                total += abs(inst.notional(q - closing, p)) / leverage
        sides.append(total)
    return max(sides)


def open_order_margin(
    asset: str,
    portfolio: Portfolio,
    instruments: Mapping[str, Instrument],
    runs: Mapping[str, SymbolRun],
    oms: OrderManager,
    hedge: bool,
) -> Decimal:
    """The initial margin of the open orders of every symbol margined in `asset` (`order_margin`)."""
    total = ZERO
    for symbol, run in runs.items():
        inst = instruments[symbol]
        if inst.margin_asset == asset:
            total += order_margin(symbol, inst, run.leverage, portfolio, oms, hedge)
    return total


class LiqPrice:
    """One symbol's `liq_price`, kept until what it depends on changes (the Decimals it came from
    are compared by identity, as `AccountValues` does: they never change in place)."""

    __slots__ = (
        "_asset",
        "_isolated",
        "_key",
        "_value",
        "brackets",
        "instruments",
        "margin_type",
        "portfolio",
        "runs",
        "symbol",
    )

    def __init__(
        self,
        symbol: str,
        portfolio: Portfolio,
        instruments: Mapping[str, Instrument],
        runs: Mapping[str, SymbolRun],
        brackets: Mapping[str, BracketTable],
        margin_type: MarginType,
    ) -> None:
        self.symbol = symbol
        self.portfolio = portfolio
        self.instruments = instruments
        self.runs = runs
        self.brackets = brackets
        self.margin_type = margin_type
        self._isolated = margin_type is _ISOLATED
        self._asset = instruments[symbol].margin_asset
        self._key: tuple[object, ...] | None = None  # None: compute again (also while being liquidated)
        self._value = math.nan

    def __call__(self, pos: PositionState, leverage: int) -> float:
        """`pos`: the symbol's net position (`Portfolio.net_position`), held; `leverage`: the symbol's.
        What the price depends on is compared with the last call's, by identity (the Decimals are those
        the venue's last update brought): a rule reads it on every trade, it moves with an update."""
        k = self._key
        if self._isolated:
            if (
                k is not None
                and k[0] is pos
                and k[1] is pos.amount
                and k[2] is pos.entry_price
                and k[3] is pos.isolated_wallet
                and k[4] == leverage
            ):
                return self._value
            key: tuple[object, ...] = (pos, pos.amount, pos.entry_price, pos.isolated_wallet, leverage)
        else:
            pf = self.portfolio
            if len(pf.positions) == 1:  # one symbol, one-way: the position and the wallet alone
                wallet = pf.wallet.get(self._asset)
                if k is not None and k[0] is wallet and k[1] is pos and k[2] is pos.amount and k[3] is pos.entry_price:
                    return self._value
                key = (wallet, pos, pos.amount, pos.entry_price)
            else:
                key = self._cross_key()
                if key == k:
                    return self._value
        value, settled = self._compute(pos)
        self._key, self._value = key if settled else None, value
        return value

    @property
    def steady(self) -> bool:
        """Whether the last price holds until the position, its leverage or isolated wallet, or the
        wallet change (isolated; cross with no other position): nothing else moves it then."""
        return self._key is not None and (self._isolated or len(self.portfolio.positions) == 1)

    def _cross_key(self) -> tuple[object, ...]:
        """The cross wallet and every position of the asset (the others at their marks; the symbol's
        own mark only decides between two prices of a hedge pair)."""
        pf, symbol, instruments = self.portfolio, self.symbol, self.instruments
        asset = instruments[symbol].margin_asset
        marks = pf.marks
        key: list[object] = [pf.wallet.get(asset)]
        own = 0
        for (s, _), p in pf.positions.items():
            if p.amount and instruments[s].margin_asset == asset:
                if s == symbol:
                    own += 1
                    key += (p, p.amount, p.entry_price)
                else:
                    key += (p, p.amount, p.entry_price, p.isolated_wallet, marks.get(s))
        if own > 1:
            key.append(marks.get(symbol))
        return tuple(key)

    def _compute(self, pos: PositionState) -> tuple[float, bool]:
        """The price, and whether it holds until its inputs change (not the mark of a position
        being liquidated, nor before a mark is known)."""
        symbol, pf = self.symbol, self.portfolio
        inst, table = self.instruments[symbol], self.brackets[symbol]
        mark = pf.marks.get(symbol)
        try:
            if self._isolated:
                wallet = isolated_wallet(inst, pos, self.runs[symbol].leverage)
                legs = [Position(pos.amount, pos.entry_price, pos.position_side)]
                liq = liquidation_price(inst, table, legs, wallet, margin_type=_ISOLATED, mark_price=mark)
            else:
                liq = self._cross(inst, table, mark)
        except UnderMaintenanceError:
            return (float(mark) if mark is not None else math.nan), False  # being liquidated: the mark, as positionRisk
        settled = mark is not None
        if liq is None:  # no price liquidates it: a long never falls that far, a short never rises so
            return (0.0 if pos.amount > 0 else math.inf), settled
        return float(liq), settled

    def _cross(self, inst: Instrument, table: BracketTable, mark: Decimal | None) -> Decimal | None:
        """Cross: the symbol's legs share one price, backed by the cross wallet less the other cross
        positions' maintenance margin plus their unrealized PnL at their marks (MARGIN.md §3.1)."""
        symbol, pf = self.symbol, self.portfolio
        asset = inst.margin_asset
        wallet = pf.wallet.get(asset, ZERO)
        legs: list[Position] = []
        other_maint = other_upnl = ZERO
        for (s, side), p in pf.positions.items():
            if not p.amount or self.instruments[s].margin_asset != asset:
                continue
            if p.isolated_wallet > 0:  # an isolated position of the asset: its wallet is not cross
                wallet -= p.isolated_wallet
                continue
            if s == symbol:
                legs.append(Position(p.amount, p.entry_price, side))
                continue
            other = self.instruments[s]
            at = pf.marks.get(s, p.entry_price)
            other_maint += self.brackets[s].maintenance_margin(other.notional(p.size, at))
            other_upnl += other.signed_pnl(p.amount, p.entry_price, at)
        return liquidation_price(
            inst,
            table,
            legs,
            wallet,
            margin_type=MarginType.CROSSED,
            other_maint_margin=other_maint,
            other_unrealized_pnl=other_upnl,
            mark_price=mark,
        )
