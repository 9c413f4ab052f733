"""Values the simulator hands out: its fill model, query views and the reply to a command.

Views are snapshots (frozen), shaped after what Binance's REST endpoints return, so the fake
server can serialize them field by field and the paper venue can read them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import (
    MarginType,
    PositionSide,
)

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FillModel:
    """How market data turns into fills. Never better than the data allows.

    Taker fills (MARKET, the marketable part of a LIMIT, triggered stops):
      * with a book top seen (`on_book`), at the opposite best quote up to its quantity; the
        rest at that quote made `slippage_bps` worse (depth beyond the top is not in the data),
        or, with `top_qty_only`, not at all (a market remainder expires, a limit rests).
        What a taker fill takes from the top is gone until the next `on_book`.
      * without a book, or when the last trade printed beyond the book's quote (a buyer's
        trade above the ask: the book is stale), at the last trade price made
        `slippage_bps` worse, any quantity.
      * with neither, nothing fills (a market order expires).
      A limit order is marketable when its price reaches the best quote (no book: the last
      trade); its taker fills never go beyond its price. Slipped prices are rounded to the
      tick against the taker.
    Maker fills (resting LIMIT orders, triggered STOP/TAKE_PROFIT that rest), always at the
    order's own price:
      * a trade printing strictly through the price fills up to the trade's quantity, shared by
        the resting orders in price-time priority; a trade at exactly the price fills only with
        `fill_at_touch`, and only when its aggressor was on the other side
        (`is_buyer_maker` for resting buys, not `is_buyer_maker` for resting sells).
      * with `fill_on_book_cross`, a book top quoting strictly through the price (an ask below
        a resting buy) fills up to the quoted quantity; at the price only with `fill_at_touch`.
    Triggers: CONTRACT_PRICE orders watch trades (`on_trade`), MARK_PRICE orders watch
    `on_mark_price`; book tops trigger nothing.
    """

    slippage_bps: Decimal = ZERO
    fill_at_touch: bool = False
    fill_on_book_cross: bool = True
    top_qty_only: bool = False

    def __post_init__(self) -> None:
        if self.slippage_bps < 0:
            raise ValueError(f"slippage_bps must not be negative, got {self.slippage_bps}")


@dataclass(frozen=True, slots=True)
class PositionView:
    """One position as `GET /fapi/v2/positionRisk` shows it (amounts in the margin asset)."""

    symbol: str
    position_side: PositionSide
    amount: Decimal  # signed positionAmt
    entry_price: Decimal
    break_even_price: Decimal
    mark_price: Decimal  # the last mark seen (last trade before any mark; 0 with neither)
    unrealized_pnl: Decimal
    liquidation_price: Decimal | None  # None where Binance prints 0 / the UI shows "--"
    leverage: int
    max_notional: Decimal
    margin_type: MarginType
    isolated_wallet: Decimal
    isolated_margin: Decimal  # isolated wallet + unrealized PnL
    notional: Decimal  # signed, at mark
    realized_pnl: Decimal  # accumulated, before fees
    update_time: int


@dataclass(frozen=True, slots=True)
class BalanceView:
    """One margin asset as `GET /fapi/v2/balance` shows it."""

    asset: str
    wallet_balance: Decimal
    cross_wallet_balance: Decimal
    cross_unrealized_pnl: Decimal
    available_balance: Decimal
    update_time: int


@dataclass(frozen=True, slots=True)
class AccountView:
    """Account totals of one margin asset, as the `total*` fields of `GET /fapi/v2/account`."""

    asset: str
    wallet_balance: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    position_initial_margin: Decimal
    open_order_initial_margin: Decimal
    maint_margin: Decimal  # cross and isolated
    available_balance: Decimal
    cross_margin_ratio: Decimal  # cross maintenance / cross margin balance (1 = liquidation)

    @property
    def initial_margin(self) -> Decimal:
        """`totalInitialMargin`: positions plus open orders."""
        return self.position_initial_margin + self.open_order_initial_margin


@dataclass(frozen=True, slots=True)
class SimResult:
    """The reply to a command: accepted (`ok`) or refused with Binance's `code` and `message`.

    `order`/`algo` is the order's state once the call is done (like newOrderRespType=RESULT;
    the first OrderUpdate in `events` is the NEW an ACK reply would show). `events` holds
    everything the call caused, in order, also for a refused command (a dead man's switch
    that fired first, for example).
    """

    ok: bool
    code: int | None = None
    message: str | None = None
    order: OrderView | None = None
    algo: AlgoOrderView | None = None
    events: tuple[AccountEvent, ...] = ()
