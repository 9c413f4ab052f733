"""Values the simulator hands out: its fill model, the account totals and the reply to a command.

Its other views are Binance's own wire objects from `rulebot.binance.payloads` (`OrderView`,
`AlgoOrderView`, `PositionRisk`, `AssetBalance`): one dataclass per REST answer, which the venue
parses Binance's JSON into, the simulator answers with and `binance.encode` prints for the fake
server. `AccountView` stays here: the project parses no `GET /account` answer, so it has no twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.account_events import AccountEvent
from rulebot.core.frozen import fast_init

ZERO = Decimal(0)

# The realistic model's defaults (docs/fill-model.md says why these values).
DEFAULT_PARTICIPATION = Decimal("0.1")
DEFAULT_IMPACT_BPS = Decimal(10)
MAX_PRICE_BPS = Decimal(10000)  # 100%: the slippage, spread or impact that prices a sell at zero
FILL_MODELS = ("ideal", "realistic")


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

    The `realistic` model (`FillModel.realistic()`, docs/fill-model.md) adds, on top of the above:
      * a spread on kline and trade data (no book top seen, or a stale one): a taker pays the
        last trade made `half_spread_bps` worse (None: one tick), and a limit must reach that
        price to take at all;
      * a size cap per bar: our fills in one bar (the candle walked; on trade data the minute)
        never exceed `participation` of the bar's volume, except the quantity a real book top
        quoted; what a taker cannot get expires (IOC, MARKET: Binance's `er` 2 and 9), is refused
        (FOK: -5021) or rests (GTC/GTX limits, which then fill as makers in later bars, under the
        same cap);
      * square-root impact beyond the book top: `impact_bps * sqrt(participation)` worse, where
        participation is our bar's fills including this one over the bar's volume; a limit takes
        only as much as keeps the impacted price within its limit.
    """

    slippage_bps: Decimal = ZERO
    fill_at_touch: bool = False
    fill_on_book_cross: bool = True
    top_qty_only: bool = False
    name: str = "ideal"
    kline_spread: bool = False  # a spread on data without a book top (realistic)
    half_spread_bps: Decimal | None = None  # with kline_spread: None means one tick
    participation: Decimal | None = None  # cap per bar as a share of its volume; None: no cap
    impact_bps: Decimal = ZERO  # square-root impact at 100% participation

    def __post_init__(self) -> None:
        # 10000 bps worse is a sell at zero: past it a loss exceeds anything an account can hold
        for knob in ("slippage_bps", "half_spread_bps", "impact_bps"):
            value = getattr(self, knob)
            if value is not None and value >= MAX_PRICE_BPS:
                raise ValueError(f"{knob} must be below {MAX_PRICE_BPS} (100%), got {value}")
        if self.slippage_bps < 0:
            raise ValueError(f"slippage_bps must not be negative, got {self.slippage_bps}")
        if self.half_spread_bps is not None and self.half_spread_bps < 0:
            raise ValueError(f"half_spread_bps must not be negative, got {self.half_spread_bps}")
        if self.participation is not None and not 0 < self.participation <= 1:
            raise ValueError(f"participation must be above 0 and at most 1, got {self.participation}")
        if self.impact_bps < 0:
            raise ValueError(f"impact_bps must not be negative, got {self.impact_bps}")

    @classmethod
    def realistic(
        cls,
        *,
        slippage_bps: Decimal = ZERO,
        half_spread_bps: Decimal | None = None,
        participation: Decimal = DEFAULT_PARTICIPATION,
        impact_bps: Decimal = DEFAULT_IMPACT_BPS,
    ) -> FillModel:
        """Spread on kline data, a cap per bar, square-root impact (docs/fill-model.md)."""
        return cls(
            slippage_bps=slippage_bps,
            name="realistic",
            kline_spread=True,
            half_spread_bps=half_spread_bps,
            participation=participation,
            impact_bps=impact_bps,
        )

    def parameters(self) -> dict[str, str | None]:
        """The model's knobs as exact strings, for the summary, the JSON and the report."""
        out: dict[str, str | None] = {"slippage_bps": str(self.slippage_bps)}
        if self.kline_spread:
            out["half_spread_bps"] = None if self.half_spread_bps is None else str(self.half_spread_bps)
        if self.participation is not None:
            out["participation"] = str(self.participation)
            out["impact_bps"] = str(self.impact_bps)
        return out

    def describe(self) -> str:
        """One line for people: which model ran and what it assumed."""
        slip = f"slippage {self.slippage_bps.normalize():f} bps"
        if self.participation is None and not self.kline_spread:
            return f"{self.name}: any size at the quote or last trade, {slip}"
        parts = [self.name + ":"]
        if self.kline_spread:
            hs = "one tick" if self.half_spread_bps is None else f"{self.half_spread_bps.normalize():f} bps"
            parts.append(f"spread from bookTicker, else half-spread {hs} on klines/trades,")
        if self.participation is not None:
            parts.append(
                f"at most {(self.participation * 100).normalize():f}% of each bar's volume, "
                f"impact {self.impact_bps.normalize():f} bps x sqrt(participation),"
            )
        parts.append(slip)
        return " ".join(parts)


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


@fast_init
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
