"""What is still open when a backtest ends, valued as it could be sold: at the last price, less
the taker fee closing it would cost. Without that fee a strategy that never closes its last trade
looked one exit fee better than the same strategy closing it on the last bar."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from rulebot.core.enums import PositionSide
from rulebot.core.fees import FeeRates, trading_fee
from rulebot.core.instruments import Instrument
from rulebot.engine.portfolio import PositionState
from rulebot.exchange_sim.account import money

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenAtEnd:
    """A position (or, in hedge mode, one leg) open at the end, and the fee to close it."""

    symbol: str
    side: Literal["long", "short"]
    quantity: Decimal  # unsigned: base asset on USDⓈ-M, contracts on COIN-M
    unit: str  # what `quantity` counts: "BTC", or "contracts"
    price: Decimal  # the symbol's last price, which the exit fee is taken on
    exit_fee: Decimal  # in the margin asset: |notional at `price`| x the taker rate, booked as a fill's is


def open_at_end(
    positions: Mapping[tuple[str, PositionSide], PositionState],
    instruments: Mapping[str, Instrument],
    last_price: Mapping[str, Decimal],
    marks: Mapping[str, Decimal],
    fees: FeeRates,
) -> tuple[OpenAtEnd, ...]:
    """Each open position by symbol and side, its exit taken at the taker rate of `fees` on the
    last price (the mark where no price was seen), as a closing MARKET order would pay."""
    out = []
    for (symbol, side), pos in sorted(positions.items(), key=lambda kv: (kv[0][0], kv[0][1].value)):
        amount = pos.amount
        inst = instruments.get(symbol)
        price = last_price.get(symbol) or marks.get(symbol)
        if not amount or inst is None or not price:
            continue
        long = side is PositionSide.LONG or (side is PositionSide.BOTH and amount > 0)
        qty = abs(amount)
        fee = money(trading_fee(inst, qty, price, fees.taker))
        unit = "contracts" if inst.is_inverse else inst.base_asset
        out.append(OpenAtEnd(symbol, "long" if long else "short", qty, unit, price, fee))
    return tuple(out)


def exit_fee(opened: tuple[OpenAtEnd, ...], symbol: str | None = None) -> Decimal:
    """The fee to close everything open at the end (of `symbol` alone, given one)."""
    return sum((o.exit_fee for o in opened if symbol is None or o.symbol == symbol), ZERO)
