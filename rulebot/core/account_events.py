"""Events about the account: orders, fills, positions, balances, funding, margin calls.

The same types come from every venue: parsed from Binance's user data stream, emitted by the
exchange simulator for paper trading and backtests, and sent by the fake exchange over the
wire. Fields follow ORDER_TRADE_UPDATE / ALGO_UPDATE / ACCOUNT_UPDATE (FACTS.md §10).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import MarginType, OrderStatus, OrderType, PositionSide, Side, TimeInForce, WorkingType
from rulebot.core.frozen import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed: new, (partially) filled, canceled, expired, rejected.

    `last_filled_qty` > 0 means this update carries a fill of that size at `last_filled_price`.
    """

    symbol: str
    client_order_id: str
    order_id: int
    side: Side
    order_type: OrderType
    status: OrderStatus
    execution_type: str  # NEW, TRADE, CANCELED, EXPIRED, CALCULATED (liquidation), AMENDMENT
    quantity: Decimal
    price: Decimal
    average_price: Decimal
    filled_qty: Decimal  # cumulative
    last_filled_qty: Decimal
    last_filled_price: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    is_maker: bool
    reduce_only: bool
    position_side: PositionSide
    time_in_force: TimeInForce | None
    trigger_price: Decimal | None
    working_type: WorkingType | None
    trade_id: int | None
    time: int  # transaction time (ms)
    reject_code: int | None = None
    reject_reason: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class AlgoUpdate:
    """USDT-M conditional orders live in the algo service (since 2025-12-09) and report here.

    When it triggers, the algo service places a plain order (`order_id`) whose own updates
    then arrive as OrderUpdate events.
    """

    symbol: str
    client_algo_id: str
    algo_id: int
    order_type: OrderType
    side: Side
    position_side: PositionSide
    status: str  # NEW, TRIGGERING, TRIGGERED, FINISHED, CANCELED, EXPIRED, REJECTED
    quantity: Decimal
    trigger_price: Decimal | None
    price: Decimal | None
    reduce_only: bool
    close_position: bool
    working_type: WorkingType | None
    order_id: int | None  # the matching engine's order, once triggered
    reason: str | None  # rm: why it was rejected or canceled
    time: int


@fast_init
@dataclass(frozen=True, slots=True)
class BalanceChange:
    asset: str
    wallet_balance: Decimal
    cross_wallet_balance: Decimal
    balance_change: Decimal  # excluding PnL and commission


@fast_init
@dataclass(frozen=True, slots=True)
class PositionChange:
    symbol: str
    position_side: PositionSide
    amount: Decimal  # signed: negative is short
    entry_price: Decimal
    break_even_price: Decimal
    realized_pnl: Decimal  # accumulated, before fees
    unrealized_pnl: Decimal
    margin_type: MarginType
    isolated_wallet: Decimal


# The reason of the account update a reconciliation makes from what REST reads (not one of Binance's):
# stamped with an estimate of the exchange's clock, not by the exchange (engine/reports.py).
RECONCILE = "RECONCILE"


@fast_init
@dataclass(frozen=True, slots=True)
class AccountUpdate:
    reason: str  # ORDER, FUNDING_FEE, DEPOSIT, ... (FACTS.md §10), or RECONCILE
    balances: tuple[BalanceChange, ...]
    positions: tuple[PositionChange, ...]
    time: int


@dataclass(frozen=True, slots=True)
class MarginCall:
    symbol: str
    position_side: PositionSide
    amount: Decimal
    mark_price: Decimal
    maintenance_margin: Decimal
    time: int


@dataclass(frozen=True, slots=True)
class LeverageChanged:
    symbol: str
    leverage: int
    time: int


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """A market or user stream connected, disconnected or found a gap (for the stale-data guard)."""

    stream: str
    connected: bool
    time: int
    detail: str = ""


AccountEvent = OrderUpdate | AlgoUpdate | AccountUpdate | MarginCall | LeverageChanged | StreamStatus
