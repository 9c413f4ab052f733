"""How the summary, the JSON and the report write times, money, prices and ratios."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal

# Margin assets worth about a dollar: cents are enough. Coin margins (BTC, ETH) need satoshis.
_DOLLAR_LIKE = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "USD", ""})


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def span(start: int | None, end: int | None) -> str:
    """`2024-06-03 15:07 → 22:16` when both fall on one day, else both in full."""
    first, last = when(start), when(end)
    if first[:10] == last[:10] and start is not None:
        last = last[11:]
    return f"{first} → {last}"


def places_for(asset: str) -> int:
    return 2 if asset in _DOLLAR_LIKE else 6


def money(value: Decimal | None, asset: str = "", places: int | None = None) -> str:
    if value is None:
        return "-"
    digits = places_for(asset) if places is None else places
    text = f"{value:,.{digits}f}"
    if text.startswith("-") and not value.quantize(Decimal(1).scaleb(-digits)):
        text = text[1:]  # a tiny loss that rounds to nothing is not "-0.00"
    return f"{text} {asset}".strip()


def price(value: Decimal) -> str:
    """Enough digits for BTC at 60,000 and for ADA at 0.35."""
    size = abs(value)
    digits = 2 if size >= 100 else 4 if size >= 1 else 6
    return f"{value:,.{digits}f}"


def exact(value: Decimal) -> str:
    """A quantity or an order's price, every digit kept but none the step's or tick's exponent
    added: Decimal("0.010") (0.01 rounded to a 0.001 step) -> 0.01, 57000.10 -> 57,000.1."""
    if not value:
        return "0"  # never "-0", nor "0.00000000"
    # normalize() rounds to the context's 28 digits; a context as wide as the number keeps them all.
    return f"{value.normalize(Context(prec=len(value.as_tuple().digits))):,f}"


def number_text(value: object, places: int | None = None) -> str:
    """A Decimal string of a journal or a status, for a table: exactly (`places` None: a quantity,
    a price) or to `places` (an amount); "-" for None, anything that is no finite number as it is."""
    if value is None:
        return "-"
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if not number.is_finite():
        return str(value)
    return exact(number) if places is None else money(number, places=places)


def order_prices(price: object, trigger: object, none: str) -> str:
    """An order's prices: a LIMIT's limit, a STOP_MARKET's trigger, and both for a STOP or
    TAKE_PROFIT ("trigger 59,800, limit 59,700"), whose trigger decides when it acts and whose
    limit where it then rests; `none` for a market order."""
    shown_trigger = f"trigger {number_text(trigger)}" if trigger else None
    limit = number_text(price) if price else None
    return f"{shown_trigger}, limit {limit}" if shown_trigger and limit else limit or shown_trigger or none


def pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def fpct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:,.2f}%"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def rate(value: Decimal) -> str:
    """A fee rate as an exact percentage: 0.0002 -> 0.02%."""
    return f"{(value * 100).normalize():f}%"


def duration(ms: int) -> str:
    minutes = ms // 60_000
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    return f"{days}d {hours}h {mins}m" if days else f"{hours}h {mins}m"
