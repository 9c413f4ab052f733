"""From a rule's numbers (floats, fractions, notionals) to exact order quantities and prices.

Conditions and expressions work in floats; what goes to the exchange is Decimal. The one
crossing point is here: a float is turned into a Decimal through its shortest repr (so 0.1
stays 0.1) and then rounded by the instrument, in the direction stated at each call.
"""

from __future__ import annotations

import math
from decimal import Decimal

from rulebot.core.enums import Rounding
from rulebot.core.instruments import Instrument
from rulebot.rulebook.compiled import Size


class SizingError(ValueError):
    """An expression gave no usable number (NaN, infinite, not positive)."""


def to_decimal(x: float | int | Decimal, what: str) -> Decimal:
    if isinstance(x, Decimal):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise SizingError(f"{what} is {x!r}, not a finite number")
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


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
