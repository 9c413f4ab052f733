"""From a rule's numbers (floats, fractions, notionals) to exact order quantities and prices.

Conditions and expressions work in floats; what goes to the exchange is Decimal. The one
crossing point is here: a float is turned into a Decimal through its shortest repr (so 0.1
stays 0.1), its float noise dropped at 12 significant digits (so 0.7 + 0.1 is 0.8), and then
rounded by the instrument, in the direction stated at each call.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Context, Decimal

from rulebot.core.enums import Rounding
from rulebot.core.instruments import Instrument
from rulebot.rulebook.compiled import Size

_ONE = Decimal(1)


class SizingError(ValueError):
    """An expression gave no usable number (NaN, infinite, not positive)."""


# A float carries ~16 significant digits, and arithmetic leaves noise in the last few: 0.7 + 0.1 is
# 0.7999999999999999, which quantized down onto a 0.001 step was 0.799. Rounded to 12 significant
# digits it is 0.8. Steps and ticks are far coarser than a 12th significant digit of any size or
# price, so nothing real is lost, and a value within a few ulps of a step counts as that step.
_FLOAT_DIGITS = Context(prec=12, rounding=ROUND_HALF_EVEN)


def to_decimal(x: float | int | Decimal, what: str) -> Decimal:
    """A rule's number as a Decimal: a Decimal or an int exactly; a float through its shortest repr,
    rounded to 12 significant digits (float noise dropped: 0.7 + 0.1 is 0.8, 0.1 stays 0.1)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise SizingError(f"{what} is {x!r}, not a finite number")
    if not isinstance(x, float):
        return Decimal(x)
    exact = Decimal(repr(x))
    short = _FLOAT_DIGITS.plus(exact)
    if short == exact:
        return exact  # written as before: 0.1, 100.0, 1E+20
    short = short.normalize()  # 0.800000000000 -> 0.8; a whole number kept without an exponent
    exponent = short.as_tuple().exponent
    return short.quantize(_ONE) if isinstance(exponent, int) and exponent > 0 else short


def entry_quantity(
    size: Size, inst: Instrument, env: dict[str, object], price: Decimal, equity: Decimal, leverage: int
) -> Decimal:
    """The order quantity for an `enter` size, before the guards (unrounded)."""
    if size.kind == "qty":
        assert size.expr is not None
        value = size.expr.fn(env)
        qty = to_decimal(value, f"size {size.expr.text!r}")
    elif size.kind == "equity_fraction":
        assert size.amount is not None
        margin = equity * size.amount
        notional = margin * leverage  # in the margin asset
        qty = notional * price / inst.contract_size if inst.is_inverse else notional / price
    else:
        assert size.amount is not None
        # A notional in USDT (linear) or USD (inverse, where a contract is contract_size USD).
        qty = size.amount / inst.contract_size if inst.is_inverse else size.amount / price
    if qty <= 0:
        raise SizingError(f"size is {qty}, not above zero")
    return qty


def trigger_price(inst: Instrument, value: float | Decimal, what: str) -> Decimal:
    price = to_decimal(value, what)
    if price <= 0:
        raise SizingError(f"{what} is {price}, not above zero")
    return inst.round_price(price, Rounding.NEAREST)
