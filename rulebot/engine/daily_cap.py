"""The daily loss cap in numbers: how much, what an entry's fees leave of it, and the mark
price at which a position would reach it.

The cap is `daily_loss_cap` of the day's start equity (00:00 UTC), or the fixed amount when
that is smaller. Daily PnL is equity (wallet + unrealized PnL at mark) less the start
equity, so fees already paid count. Three places use these numbers:

* the entry guard counts the fees an order will pay (to open, and to close again at a
  market order) before it is sent: an entry whose own fees would breach the cap is refused;
* the engine keeps, per open position, a reduce-only close-position STOP_MARKET on the
  exchange at the mark price where daily PnL would reach the cap, exit fee included. It is a
  real exchange order, so the cap holds through a gap in the data and while the bot is dead,
  in backtests (the simulator walks every price), dry-runs and live alike. It is re-priced
  when that moves the loss at its trigger by more than half a percent of the cap (another
  symbol's fee does not cancel and re-place it on every fill);
* the engine checks daily PnL at every price it sees and flattens on a breach.

What remains beyond the cap is the price move between the trigger and the fill: a stop fires
at the first mark past its trigger and fills at the market then, so a gap (or a bar that the
simulator walks in one step) adds `size * |fill - trigger|` and its fee.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.enums import Rounding
from rulebot.core.fees import FeeRates
from rulebot.core.instruments import Instrument

ZERO = Decimal(0)
# Margin assets worth about a dollar: cents are enough. A coin margin (COIN-M) needs more digits:
# 0.004 BTC is hundreds of dollars, and "0.00" said nothing (as backtest/text.py's `money`).
_DOLLAR_LIKE = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "USD"})


def amount_text(value: Decimal, asset: str) -> str:
    """An amount of the margin asset for a message: `-12.34 USDT`, `-0.004321 BTC`."""
    places = 2 if asset in _DOLLAR_LIKE else 6
    return f"{value:.{places}f} {asset}"


def cap_amount(start_equity: Decimal, fraction: Decimal, amount: Decimal | None) -> Decimal:
    """The day's cap in the margin asset: `fraction` of the start equity, or `amount` if less."""
    cap = start_equity * fraction
    return min(cap, amount) if amount is not None else cap


def round_trip_fees(inst: Instrument, qty: Decimal, price: Decimal, rates: FeeRates, maker_entry: bool) -> Decimal:
    """What opening `qty` at `price` and closing it again with a market order costs.

    The entry pays the maker rate only when it cannot take (post-only); the exit is priced as
    the taker fill a stop or a flatten is.
    """
    notional = abs(inst.notional(qty, price))
    return notional * (rates.rate(maker_entry) + rates.taker)


def cap_price(
    inst: Instrument,
    qty: Decimal,
    entry: Decimal,
    equity_without: Decimal,
    floor_equity: Decimal,
    taker: Decimal,
) -> Decimal | None:
    """The mark price at which closing this position leaves equity at `floor_equity`.

    `qty` is signed (positionAmt), `equity_without` is the equity without this position's
    unrealized PnL (wallet + the others' PnL at their marks), and `floor_equity` is the day's
    start equity less the cap. The close is charged the taker fee at that price. Solves
    `equity_without + pnl(P) - fee(P) = floor_equity`:

    * linear: `P = (floor - E + q*EP) / (q - |q|*f)`
    * inverse: `P = (q + |q|*f) * CS / (E - floor + q*CS/EP)`

    None when no positive price reaches the floor (a long whose whole value is less than the
    room left, say).
    """
    if qty == 0:
        return None
    size = abs(qty)
    if inst.is_inverse:
        cs = inst.contract_size
        # A long's numerator is positive, a short's negative: the price is positive only when the
        # denominator has the same sign (a short whose room is less than its coin notional).
        denominator = equity_without - floor_equity + qty * cs / entry
        if denominator == 0:
            return None
        price = (qty + size * taker) * cs / denominator
    else:
        denominator = qty - size * taker
        if denominator == 0:
            return None
        price = (floor_equity - equity_without + qty * entry) / denominator
    return price if price > 0 else None


def cap_trigger(inst: Instrument, price: Decimal, long: bool) -> Decimal:
    """The stop's trigger on the tick grid, rounded toward the market: it fires no later
    than the cap (a long's stop rounds up, a short's down). A cap price beyond PRICE_FILTER's
    bounds (a small position on a large account) is moved onto the bound, nearer the market: Binance
    refuses a stop price past them (-4007, -4013), and there the stop still fires before the cap."""
    trigger = inst.round_price(price, Rounding.UP if long else Rounding.DOWN)
    pf = inst.price_filter
    if pf.max_price and trigger > pf.max_price:
        trigger = inst.round_price(pf.max_price, Rounding.DOWN)
    if pf.min_price and trigger < pf.min_price:
        trigger = inst.round_price(pf.min_price, Rounding.UP)
    return trigger
