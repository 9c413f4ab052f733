"""What Binance charges an order before it accepts it, and the market-order price band.

Order cost (Binance FAQ "How to Calculate the Cost Required to Open a Position in Perpetual
Futures Contracts", 2020-07-08, updated 2024): `cost = initial margin + open loss`, with
`open loss = qty * |min(0, direction * (mark price - order price))|`: a BUY above the mark (a
SELL below it) starts out losing the difference, and Binance wants that in margin up front so
the fill is not liquidated at once. A market order is costed at an assumed price: a BUY at
`ask[0] * (1 + 0.05%)`, a SELL at `max(bid[0], mark)` (same FAQ, market-order section).

-4131 (MARKET_ORDER_REJECT, "The counterparty's best price does not meet the PERCENT_PRICE filter
limit."): a MARKET order is refused when the best price it would take lies outside the
symbol's PERCENT_PRICE band around the mark (BUY: ask > mark * multiplierUp; SELL: bid < mark *
multiplierDown, FACTS §7). The band is also held to `marketTakeBound` (a market order may not
take more than that fraction away from the mark; FACTS §7): where both are given the tighter
one applies. The marketTakeBound part is this module's reading of Binance's one-line
description, not a documented rule.

priceProtect (FACTS §6, Binance FAQ "How to Enable the Price Protection Function"): a
STOP/TAKE_PROFIT order with priceProtect does not trigger while the last price and the mark
price differ by more than the symbol's `triggerProtect` (as a fraction of the mark: the base
of the fraction is not documented); it stays waiting and may trigger later.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.enums import Side
from rulebot.core.instruments import Instrument

ZERO = Decimal(0)
ONE = Decimal(1)
MARKET_BUY_BUFFER = Decimal("0.0005")  # the FAQ's ask[0] * (1 + 0.05%)
_BUY_FACTOR = ONE + MARKET_BUY_BUFFER  # exactly 1.0005: summed once, not on every market order
_BUY = Side.BUY  # `Side.BUY` through the class is a slow lookup on Python 3.11 (EnumType.__getattr__)


def open_loss(inst: Instrument, side: Side, qty: Decimal, price: Decimal, mark: Decimal | None) -> Decimal:
    """`qty * |min(0, direction * (mark - price))|` in the margin asset (0 without a mark).

    Spelled as the loss of a position of `qty` entered at `price` and valued at `mark`, which
    is the FAQ's formula on USDⓈ-M and its coin-margined counterpart on COIN-M.
    """
    if mark is None or qty <= 0:
        return ZERO
    return max(ZERO, -inst.pnl(side, qty, price, mark))


def assumed_market_price(
    side: Side, bid: Decimal | None, ask: Decimal | None, mark: Decimal | None, fallback: Decimal | None
) -> Decimal | None:
    """The price a MARKET order is costed at: BUY `ask * 1.0005`, SELL `max(bid, mark)`.

    Without a book (kline and trade data only), `fallback` (where the order would fill first)
    stands in for the missing quote.
    """
    if side is _BUY:
        base = ask if ask is not None else fallback
        return None if base is None else base * _BUY_FACTOR
    base = bid if bid is not None else fallback
    if base is None:
        return mark
    return base if mark is None else max(base, mark)


def outside_market_band(inst: Instrument, side: Side, best: Decimal | None, mark: Decimal | None) -> bool:
    """True if a MARKET order on `side` meeting `best` first must be refused with -4131."""
    if best is None or mark is None or mark <= 0:
        return False
    # The tighter of the two limits, without a list for min()/max() (every market order asks).
    pp, bound = inst.percent_price, inst.market_take_bound
    limit: Decimal | None = None
    if side is _BUY:
        if pp is not None and pp.multiplier_up > 0:
            limit = mark * pp.multiplier_up
        if bound is not None and bound > 0:
            cap = mark * (ONE + bound)
            limit = cap if limit is None or cap < limit else limit
        return limit is not None and best > limit
    if pp is not None and pp.multiplier_down > 0:
        limit = mark * pp.multiplier_down
    if bound is not None and bound > 0:
        floor = mark * (ONE - bound)
        limit = floor if limit is None or floor > limit else limit
    return limit is not None and best < limit


def trigger_protected(inst: Instrument, last: Decimal | None, mark: Decimal | None) -> bool:
    """True while a priceProtect order must not trigger: |last - mark| / mark > triggerProtect.

    Without both prices, or without a threshold for the symbol, nothing holds it back.
    """
    threshold = inst.trigger_protect
    if threshold is None or last is None or mark is None or mark <= 0:
        return False
    return abs(last - mark) / mark > threshold
