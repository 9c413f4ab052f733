"""Liquidation by mark price as Binance does it, and the margin call that warns before it.

Binance's liquidation protocol (sources: `docs/backtest-liquidation.md`), and what is modelled:
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
    wallet is spent, the other positions at their marks and a taker's commission on the
    close counted, since the commission comes out of the same wallet), checked before anything fills
    there. Any fill of the position at that price (a last-price stop, a market exit) would
    lose more than the margin behind it, which Binance never lets a position do: on the way
    to that price the mark crossed the liquidation price, so the position is liquidated first.
  * The liquidation order: type LIQUIDATION, IOC, its limit the bankruptcy price on the tick
    grid (rounded toward the user: a sell up, a buy down, so it never loses more than the
    margin). It fills where a market order of the same side would (the simulator's fill
    model), or at its limit when the market is already past it: there the insurance fund
    takes the position over at the bankruptcy price.
  * The clearance fee (Binance's "liquidation fee", `liquidationFee` in exchangeInfo, 1.25% of
    BTCUSDT's notional in the built-in catalog) is charged on the notional liquidated, at most
    what is left of the position's margin after the fill: a user never loses more than the
    margin behind the position. It is the fill's commission (`n`), so every ledger that sums
    commissions counts it; the backtest summary shows it on its own.
  * Tiers ("Binance avoids full liquidation whenever possible"): an isolated position above
    the first leverage bracket is first cut down to the floor of its bracket, one tier at a
    time, each cut a LIQUIDATION order with its own fee; liquidation stops as soon as what is
    left is margin compliant (ratio < 1 at mark). Cross positions are closed whole.
  * In cross, every cross position of the asset is closed: the other symbols at their mark
    price (on the tick, rounded toward the user), the symbol whose mark triggered it last, like
    an isolated position, against what is left of the wallet.
  * Events (in the facade): open orders of the liquidated symbols expire first, then an
    OrderUpdate per fill with client id `autoclose-<orderId>`, execution type CALCULATED,
    type LIQUIDATION, then an ACCOUNT_UPDATE (ORDER).
  * Margin call: a MarginCall per position at risk when the ratio first reaches the warning
    level (0.8 by default), before any liquidation; re-armed when the ratio falls back below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from rulebot.core.account_events import MarginCall
from rulebot.core.enums import Rounding, Side
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.exchange_sim.account import Account, PositionState, money
from rulebot.exchange_sim.exposure import Exposure

ZERO = Decimal(0)
ONE = Decimal(1)
# When exchangeInfo gives no `liquidationFee`: BTCUSDT's rate in the built-in catalog.
DEFAULT_CLEARANCE_RATE = Decimal("0.0125")

# Where a market order of `side` on a symbol would fill now (the fill model), if anywhere.
MarketPrice = Callable[[str, Side], Decimal | None]


@dataclass(frozen=True, slots=True)
class Closure:
    """One liquidation fill: `qty` of `position` at `price` (an IOC order limited at `limit`),
    booking `realized` and the clearance `fee`."""

    position: PositionState
    qty: Decimal
    price: Decimal
    limit: Decimal
    realized: Decimal
    fee: Decimal = ZERO


def clearance_rate(inst: Instrument) -> Decimal:
    return inst.liquidation_fee if inst.liquidation_fee is not None else DEFAULT_CLEARANCE_RATE


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


def _closing_side(pos: PositionState) -> Side:
    return Side.SELL if pos.qty > 0 else Side.BUY


def order_limit(inst: Instrument, pos: PositionState, bankrupt: Decimal) -> Decimal:
    """The liquidation order's limit: the bankruptcy price on the tick, rounded toward the user."""
    return inst.round_price(bankrupt, Rounding.UP if pos.qty > 0 else Rounding.DOWN)


def fill_at(pos: PositionState, limit: Decimal, market: Decimal | None) -> Decimal:
    """An IOC liquidation order fills at the market when the market is within its limit, else
    the insurance fund takes the position at the limit."""
    if market is None:
        return limit
    within = market >= limit if pos.qty > 0 else market <= limit
    return market if within else limit


def _fee(inst: Instrument, qty: Decimal, price: Decimal, left: Decimal) -> Decimal:
    """The clearance fee on `qty` liquidated at `price`, at most `left` (the margin remaining)."""
    fee = money(abs(inst.notional(qty, price)) * clearance_rate(inst))
    return max(ZERO, min(fee, money(left)))


def _close(inst: Instrument, pos: PositionState, qty: Decimal, equity: Decimal, market: Decimal | None) -> Closure:
    """Close `qty` of `pos` (all of it, or a tier's cut) against `equity`, the margin behind it:
    at the market within the bankruptcy price of the whole position, never losing more than
    `equity`; the fee takes at most what is left."""
    bankrupt = bankruptcy_price(inst, [pos], equity)
    if bankrupt is None:  # the margin covers any price: a plain close at the market
        price = limit = market if market is not None else pos.entry_price
    else:
        limit = order_limit(inst, pos, bankrupt)
        price = fill_at(pos, limit, market)
    realized = money(inst.pnl(pos.as_position().side, qty, pos.entry_price, price))
    if qty == pos.size:
        realized = max(realized, -equity)  # the insurance fund covers a rounding past bankruptcy
    return Closure(pos, qty, price, limit, realized, _fee(inst, qty, price, equity + realized))


def _compliant(inst: Instrument, table: BracketTable, pos: PositionState, wallet: Decimal, mark: Decimal) -> bool:
    """Margin ratio of `pos` with `wallet` below 1 at `mark`."""
    upnl = inst.pnl(pos.as_position().side, pos.size, pos.entry_price, mark)
    mm = table.maintenance_margin(inst.notional(pos.qty, mark))
    return mm < wallet + upnl


def isolated_liquidation(
    exposure: Exposure, inst: Instrument, pos: PositionState, market: Decimal | None, tiered: bool = True
) -> list[Closure]:
    """The liquidation fills of an isolated position whose margin ratio reached 1, else []."""
    if pos.qty == 0 or exposure.isolated_ratio(pos) < ONE:
        return []
    table, mark = exposure.brackets(pos.symbol), exposure.price(pos)
    closures: list[Closure] = []
    left, wallet = pos, pos.isolated_wallet
    unit = abs(inst.notional(ONE, mark))  # notional per unit of quantity at mark
    while tiered:
        bracket = table.for_notional(inst.notional(left.qty, mark))
        if bracket is table.brackets[0] or unit == 0:
            break
        keep = inst.round_qty(bracket.notional_floor / unit)
        if not ZERO < keep < left.size:
            break
        cut = _close(inst, left, left.size - keep, wallet, market)
        closures.append(replace(cut, position=pos))  # the account closes the real position
        wallet += cut.realized - cut.fee
        left = replace(left, qty=keep if left.qty > 0 else -keep)
        if _compliant(inst, table, left, wallet, mark):
            return closures
    closures.append(replace(_close(inst, left, left.size, wallet, market), position=pos))
    return closures


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
    return _close(inst, pos, pos.size, pos.isolated_wallet, price)


def cross_liquidation(
    account: Account,
    exposure: Exposure,
    instruments: dict[str, Instrument],
    asset: str,
    trigger_symbol: str,
    market: MarketPrice,
) -> list[Closure]:
    """Closures of every cross position of `asset` if its margin ratio reached 1, else []."""
    positions = [p for p in account.open_positions(asset) if not account.is_isolated(p.symbol)]
    if not positions or exposure.cross_ratio(asset) < ONE:
        return []
    last_symbol = trigger_symbol
    if all(p.symbol != trigger_symbol for p in positions):
        last_symbol = positions[-1].symbol
    return _cross_closures(account, exposure, instruments, asset, positions, last_symbol, market)


def cross_bankrupt_at(
    account: Account,
    exposure: Exposure,
    instruments: dict[str, Instrument],
    asset: str,
    symbol: str,
    sell: Decimal | None,
    buy: Decimal | None,
    close_fee_rate: Decimal = ZERO,
) -> list[Closure]:
    """Closures of every cross position of `asset` when a trade or book top of `symbol` reached
    the price at which the cross wallet is spent (the others valued at their marks), else [].
    A long of `symbol` is valued at `sell` (it closes by selling), a short at `buy`. Spent counts
    the commission of closing there at `close_fee_rate`: a stop that fills a hair inside the
    bankruptcy price would otherwise pay its fee out of a wallet that is already empty."""
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
        balance -= abs(inst.notional(p.size, price)) * close_fee_rate
    if balance > 0:
        return []

    def at_quote(sym: str, side: Side) -> Decimal | None:
        return (sell if side is Side.SELL else buy) if sym == symbol else None

    return _cross_closures(account, exposure, instruments, asset, positions, symbol, at_quote)


def _cross_closures(
    account: Account,
    exposure: Exposure,
    instruments: dict[str, Instrument],
    asset: str,
    positions: list[PositionState],
    last_symbol: str,
    market: MarketPrice,
) -> list[Closure]:
    """Every cross position closed: the others at their marks (on the tick, toward the user),
    `last_symbol`'s legs last, at the market within the bankruptcy price of what is left of
    the wallet. Clearance fees come out of what is left, in that order."""
    closures: list[Closure] = []
    for p in positions:
        if p.symbol == last_symbol:
            continue
        inst = instruments[p.symbol]
        price = order_limit(inst, p, exposure.price(p))
        realized = money(inst.pnl(p.as_position().side, p.size, p.entry_price, price))
        closures.append(Closure(p, p.size, price, price, realized))
    equity = account.cross_wallet(asset) + sum((c.realized for c in closures), ZERO)
    legs = [p for p in positions if p.symbol == last_symbol]
    inst = instruments[last_symbol]
    bankrupt = bankruptcy_price(inst, legs, equity)
    net = replace(legs[0], qty=sum((p.qty for p in legs), ZERO))
    hedged = len({p.qty > 0 for p in legs}) > 1
    for p in legs:
        if bankrupt is None:  # a perfect hedge: PnL does not depend on the price; close at mark
            price = limit = order_limit(inst, p, exposure.price(p))
        elif hedged:  # a hedge pair closes together, at the bankruptcy price of the pair
            price = limit = order_limit(inst, net, bankrupt)
        else:
            limit = order_limit(inst, p, bankrupt)
            price = fill_at(p, limit, market(last_symbol, _closing_side(p)))
        realized = money(inst.pnl(p.as_position().side, p.size, p.entry_price, price))
        closures.append(Closure(p, p.size, price, limit, realized))
    left = account.cross_wallet(asset) + sum((c.realized for c in closures), ZERO)
    if left < 0:  # rounding past bankruptcy: the insurance fund covers it on the last fill
        last = closures[-1]
        closures[-1] = replace(last, realized=last.realized - left)
        left = ZERO
    out = []
    for c in closures:
        fee = _fee(instruments[c.position.symbol], c.qty, c.price, left)
        left -= fee
        out.append(replace(c, fee=fee))
    return out


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
