"""Liquidation by mark price, and the margin call that warns before it.

Model (Binance's insurance-fund details are not public; this is the stated simplification):
  * Trigger, checked on every mark price: an isolated position when its maintenance margin
    reaches its isolated wallet + unrealized PnL (margin ratio >= 1); the cross positions of
    a margin asset when their maintenance margin reaches the cross wallet + their unrealized
    PnL. Every PnL here is at mark price, so the test is the same as "mark crossed the
    liquidation price" of `margin.liquidation_price`. The check runs before the stops that
    the same mark triggers: a mark that gapped past both a stop and the liquidation price
    (a 40% candle) crossed the liquidation price on its way, so the liquidation engine has
    the position first.
  * A last trade or book top alone does not liquidate, with one exception: a price at or
    beyond an isolated position's bankruptcy price (cross: the price at which the cross
    wallet is spent, the other positions at their marks), checked before anything fills
    there. Any fill of the position at that price (a last-price stop, a market exit) would
    lose more than the margin behind it, which Binance never lets a position do: on the way
    to that price the mark crossed the liquidation price, so the position is liquidated first.
  * Execution: the position is closed whole at its bankruptcy price, where its margin balance
    is exactly 0: the user loses the whole isolated wallet (isolated) or the whole cross
    wallet of that asset (cross), never more, never less. Whatever the position's margin
    above zero would have bought back goes to the insurance fund, which is Binance's
    liquidation clearance fee at its largest; no separate commission is charged. In cross,
    every cross position of the asset is closed: the other symbols at their mark price, the
    symbol whose mark triggered it last, at the bankruptcy price of what is left.
  * Events (in the facade): open orders of the liquidated symbols expire first, then an
    OrderUpdate per position with client id `autoclose-<orderId>`, execution type CALCULATED,
    type LIQUIDATION (MARKET until the core enum has it), then an ACCOUNT_UPDATE (ORDER).
  * Margin call: a MarginCall per position at risk when the ratio first reaches the warning
    level (0.8 by default), before any liquidation; re-armed when the ratio falls back below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.account_events import MarginCall
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim.account import Account, PositionState, money
from rulebot.exchange_sim.exposure import Exposure

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Closure:
    """One position closed by the liquidation engine: at `price`, booking `realized`."""

    position: PositionState
    price: Decimal
    realized: Decimal


def bankruptcy_price(inst: Instrument, legs: Sequence[PositionState], equity: Decimal) -> Decimal | None:
    """Price at which `equity + sum of the legs' PnL` is 0; None if there is none.

    Linear: `P = (sum q*EP - equity) / sum q`; inverse, from
    `equity + sum q*CS*(1/EP - 1/P) = 0`: `1/P = (equity + CS * sum q/EP) / (CS * sum q)`,
    with q the signed positionAmt.
    """
    signed = sum((p.qty for p in legs), ZERO)
    if signed == 0:
        return None
    if inst.is_inverse:
        cs = inst.contract_size
        inverse = (equity + cs * sum((p.qty / p.entry_price for p in legs), ZERO)) / (cs * signed)
        return ONE / inverse if inverse > 0 else None
    price = (sum((p.qty * p.entry_price for p in legs), ZERO) - equity) / signed
    return price if price > 0 else None


def isolated_liquidation(exposure: Exposure, inst: Instrument, pos: PositionState) -> Closure | None:
    """The closure of an isolated position whose margin ratio reached 1, else None."""
    if pos.qty == 0 or exposure.isolated_ratio(pos) < ONE:
        return None
    price = bankruptcy_price(inst, [pos], pos.isolated_wallet) or exposure.price(pos)
    return Closure(pos, price, -pos.isolated_wallet)


def bankrupt_at(inst: Instrument, pos: PositionState, price: Decimal) -> Closure | None:
    """The closure of an isolated position whose bankruptcy price `price` (a trade, a bid
    or an ask) reached, else None: a fill there would lose its whole margin or more."""
    if pos.qty == 0:
        return None
    bankrupt = bankruptcy_price(inst, [pos], pos.isolated_wallet)
    if bankrupt is None:
        return None
    if (price > bankrupt) if pos.qty > 0 else (price < bankrupt):
        return None
    return Closure(pos, bankrupt, -pos.isolated_wallet)


def cross_liquidation(
    account: Account,
    exposure: Exposure,
    instruments: dict[str, Instrument],
    asset: str,
    trigger_symbol: str,
) -> list[Closure]:
    """Closures of every cross position of `asset` if its margin ratio reached 1, else []."""
    positions = [p for p in account.open_positions(asset) if not account.is_isolated(p.symbol)]
    if not positions or exposure.cross_ratio(asset) < ONE:
        return []
    last_symbol = trigger_symbol
    if all(p.symbol != trigger_symbol for p in positions):
        last_symbol = positions[-1].symbol
    return _cross_closures(account, exposure, instruments, asset, positions, last_symbol)


def cross_bankrupt_at(
    account: Account,
    exposure: Exposure,
    instruments: dict[str, Instrument],
    asset: str,
    symbol: str,
    sell: Decimal | None,
    buy: Decimal | None,
) -> list[Closure]:
    """Closures of every cross position of `asset` when a trade or book top of `symbol` reached
    the price at which the cross wallet is spent (the others valued at their marks), else [].
    A long of `symbol` is valued at `sell` (it closes by selling), a short at `buy`."""
    positions = [p for p in account.open_positions(asset) if not account.is_isolated(p.symbol)]
    legs = [p for p in positions if p.symbol == symbol]
    if not legs:
        return []
    inst = instruments[symbol]
    balance = account.cross_wallet(asset)
    balance += sum((exposure.unrealized(p) for p in positions if p.symbol != symbol), ZERO)
    for p in legs:
        price = sell if p.qty > 0 else buy
        if price is None:
            return []
        balance += inst.pnl(p.as_position().side, p.size, p.entry_price, price)
    if balance > 0:
        return []
    return _cross_closures(account, exposure, instruments, asset, positions, symbol)


def _cross_closures(
    account: Account,
    exposure: Exposure,
    instruments: dict[str, Instrument],
    asset: str,
    positions: list[PositionState],
    last_symbol: str,
) -> list[Closure]:
    """Every cross position closed: the others at their marks, `last_symbol`'s legs last, at
    the bankruptcy price of what is left of the wallet."""
    first = [p for p in positions if p.symbol != last_symbol]
    closures = [Closure(p, exposure.price(p), money(exposure.unrealized(p))) for p in first]
    equity = account.cross_wallet(asset) + sum((c.realized for c in closures), ZERO)
    legs = [p for p in positions if p.symbol == last_symbol]
    inst = instruments[last_symbol]
    price = bankruptcy_price(inst, legs, equity)
    if price is None:  # a perfect hedge: PnL does not depend on the price; close at mark
        mark = exposure.price(legs[0])
        return closures + [Closure(p, mark, money(exposure.unrealized(p))) for p in legs]
    realized = [money(inst.pnl(p.as_position().side, p.size, p.entry_price, price)) for p in legs]
    # The legs together lose exactly `equity`; the last one absorbs the division's rounding.
    realized[-1] = -equity - sum(realized[:-1], ZERO)
    return closures + [Closure(p, price, r) for p, r in zip(legs, realized, strict=True)]


def margin_calls(exposure: Exposure, positions: Sequence[PositionState], time: int) -> list[MarginCall]:
    """MARGIN_CALL entries for `positions`, at their current mark."""
    return [
        MarginCall(
            symbol=p.symbol,
            position_side=p.position_side,
            amount=p.qty,
            mark_price=exposure.price(p),
            maintenance_margin=exposure.maint_margin(p),
            time=time,
        )
        for p in positions
    ]
