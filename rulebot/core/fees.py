"""What trading and holding a position costs: maker/taker fees, funding, break-even price.

Amounts are in the margin asset, like `Instrument.notional`: quote asset (USDT) for USDⓈ-M,
the base coin for COIN-M (FACTS §11, §12; MARGIN.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import PositionSide, Side
from rulebot.core.instruments import Instrument, direction

ONE = Decimal(1)
# F = P + clamp(I - P, -0.05 %, +0.05 %) (FACTS §11).
FUNDING_CLAMP = Decimal("0.0005")


@dataclass(frozen=True, slots=True)
class FeeRates:
    """Commission rates as fractions of notional (0.0005 = 0.05 %)."""

    maker: Decimal
    taker: Decimal

    def rate(self, is_maker: bool) -> Decimal:
        """The rate for a fill that made (rested) or took liquidity."""
        return self.maker if is_maker else self.taker


# VIP 0 defaults, **unverified** (FACTS §12); read the account's own rates from
# `GET /fapi/v1/commissionRate` (`rulebot.binance.payloads.account.fee_rates_from_payload`) before trading.
DEFAULT_FEE_RATES = FeeRates(maker=Decimal("0.0002"), taker=Decimal("0.0005"))


def trading_fee(inst: Instrument, qty: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """Commission of a fill: `|notional at the fill price| * rate`, in the margin asset.

    USDⓈ-M: `qty * price * rate` USDT; COIN-M: `contracts * size / price * rate` coin.
    """
    return abs(inst.notional(qty, price)) * rate


def funding_fee(inst: Instrument, position_qty: Decimal, mark_price: Decimal, rate: Decimal) -> Decimal:
    """Wallet change of a position at a funding time, signed like Binance's FUNDING_FEE income.

    `position_qty` is the signed positionAmt. With a positive rate longs pay (negative result)
    and shorts receive; with a negative rate the reverse. Size is the notional at mark price.
    """
    return -inst.notional(position_qty, mark_price) * rate


def funding_rate(
    premium_index: Decimal,
    interest_rate: Decimal,
    *,
    cap: Decimal | None = None,
    floor: Decimal | None = None,
) -> Decimal:
    """Funding rate `F = P + clamp(I - P, -0.05 %, +0.05 %)`, then the symbol's cap/floor.

    Pass `cap`/`floor` from `adjustedFundingRateCap/Floor` (fundingInfo) where the symbol has
    them; Binance's default cap is unverified (FACTS §11), so none is applied without them.
    """
    rate = premium_index + min(max(interest_rate - premium_index, -FUNDING_CLAMP), FUNDING_CLAMP)
    if cap is not None:
        rate = min(rate, cap)
    if floor is not None:
        rate = max(rate, floor)
    return rate


def break_even_price(
    inst: Instrument,
    side: Side | PositionSide,
    entry_price: Decimal,
    open_rate: Decimal,
    close_rate: Decimal,
) -> Decimal:
    """Exit price at which a position's PnL pays its opening and closing fees exactly.

    Solves `pnl(entry, X) = fee(entry, open_rate) + fee(X, close_rate)`:
    linear long `EP*(1+fo)/(1-fc)` (MARGIN.md §3), short `EP*(1-fo)/(1+fc)`;
    inverse long `EP*(1+fc)/(1-fo)`, short `EP*(1-fc)/(1+fo)`.
    Funding is left out. Binance's own `breakEvenPrice` definition is unverified (MARGIN.md).
    """
    if inst.is_inverse:
        # In 1/price terms the inverse equation is the linear one with the two rates swapped.
        open_rate, close_rate = close_rate, open_rate
    d = direction(side)
    return entry_price * (ONE + d * open_rate) / (ONE - d * close_rate)
