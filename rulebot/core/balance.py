"""The largest starting wallet the money math keeps exact.

Money is Decimal with 28 significant digits: a wallet of 1e300 ran, lost every fee and PnL below its
own last digit (net PnL 0.00) and showed the difference as unrealized PnL with nothing open. A
trillion keeps well over the 8 decimals of a Binance amount, with room for price times quantity.
"""

from __future__ import annotations

from decimal import Decimal

MAX_BALANCE = Decimal(10) ** 12


def balance_too_large(amount: Decimal) -> str:
    return (
        f"a starting balance of {amount} is beyond what the money math keeps exact to the last digit "
        f"(at most {MAX_BALANCE:,f})"
    )
