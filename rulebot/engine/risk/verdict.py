"""The types every guard shares: the verdict it returns, the account it reads, the draft it resizes.

A guard is `check(draft, intent, view, risk) -> Verdict | None`. It reads the intent, the account
view and the merged guard settings, and the `Draft` as the guards before it left it. It returns
None when it has nothing to say, an allow or resize verdict for the journal (a resize has
already updated the draft), or a reject, which ends the check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from rulebot.core.enums import Direction, MarginType, OrderType, Side, TimeInForce
from rulebot.core.fees import FeeRates
from rulebot.core.frozen import fast_init
from rulebot.core.instruments import Instrument
from rulebot.core.intents import EnterIntent
from rulebot.core.margin import BracketTable
from rulebot.engine.liquidation_guard import Holding
from rulebot.rulebook.guards import EffectiveRisk

VerdictKind = Literal["allow", "resize", "reject", "act"]  # act: the guard did something itself
_LIMIT, _GTC = OrderType.LIMIT, TimeInForce.GTC  # slow lookups on Python 3.11 (EnumType.__getattr__)


@fast_init
@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    guard: str
    reason: str
    quantity: Decimal | None = None  # the size after this guard

    @property
    def allowed(self) -> bool:
        return self.kind != "reject"


@fast_init
@dataclass(frozen=True, slots=True)
class AccountView:
    """What the guards need to know about the account and the market at this moment."""

    time: int
    instrument: Instrument
    last_price: Decimal
    mark_price: Decimal
    equity: Decimal  # margin asset
    position_notional: Decimal  # current, margin asset, at mark
    position_direction: Direction | None  # of the position held; None when flat
    open_orders: int
    last_data_time: int
    leverage: int
    halted: str | None  # why trading is halted, or None
    daily_loss_breached: bool
    daily_pnl: Decimal
    orders_last_minute: int = 0
    streams_down: tuple[str, ...] = ()
    funding_rate: Decimal | None = None
    funding_in_ms: int | None = None
    volatility_ratio: float = 1.0
    brackets: BracketTable | None = None
    holding: Holding | None = None
    margin_type: MarginType = MarginType.ISOLATED
    received: int = 0  # the latest receive stamp of live data (exchange clock), 0 when not stamped
    daily_loss_cap: Decimal | None = None  # today's cap in the margin asset (positive)
    fee_rates: FeeRates | None = None  # to count what an entry will pay before it is sent
    available: Decimal | None = None  # Binance's availableBalance (margin asset); None: not known


@fast_init
@dataclass(frozen=True, slots=True)
class CheckedEntry:
    """An entry as the guards let it through, or `quantity is None` when refused."""

    quantity: Decimal | None
    price: Decimal | None  # for limit orders
    order_type: OrderType
    time_in_force: TimeInForce | None
    verdicts: list[Verdict]


@dataclass(slots=True)
class Draft:
    """The entry as the guards so far have shaped it; each guard may resize or convert it."""

    side: Side
    quantity: Decimal
    price: Decimal  # the intent's limit price, or the last price to size a market order at
    order_type: OrderType
    time_in_force: TimeInForce | None

    @classmethod
    def of(cls, intent: EnterIntent, view: AccountView) -> Draft:
        order_type = intent.order
        return cls(  # positional, in the fields' order: side, quantity, price, order_type, time_in_force
            intent.side.entry_side,
            intent.quantity,
            intent.price if intent.price is not None else view.last_price,
            order_type,
            intent.time_in_force or (_GTC if order_type is _LIMIT else None),
        )


GuardCheck = Callable[[Draft, EnterIntent, AccountView, EffectiveRisk], Verdict | None]


@dataclass(frozen=True, slots=True)
class EntryGuard:
    """One row of the entry table: a name for people and the check that runs."""

    name: str
    check: GuardCheck
