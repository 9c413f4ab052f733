"""The mandatory guards every intent passes before any order exists.

Each guard looks at one intent and the account as it is, and returns a `Verdict`: allow,
resize (with the new quantity) or reject, with a reason a person understands. Guards run in
a fixed order; a resize feeds the next guard; the first reject ends the check. Every verdict,
the allowing ones too, is returned for the journal. Exits are never blocked by a guard that
exists to stop new risk (stale data, daily loss, halt): closing must always be possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from rulebot.core.enums import MarginType, OrderType, Side, TimeInForce
from rulebot.core.fees import FeeRates
from rulebot.core.instruments import Instrument, check_order
from rulebot.core.intents import EnterIntent
from rulebot.core.margin import BracketTable
from rulebot.engine.daily_cap import round_trip_fees
from rulebot.engine.liquidation_guard import Holding, largest_entry
from rulebot.rulebook.guards import EffectiveRisk

VerdictKind = Literal["allow", "resize", "reject", "act"]  # act: the guard did something itself
ZERO = Decimal(0)
# While the breaker is tripped, a market order becomes an IOC limit this far through the last price.
VOLATILITY_BAND = Decimal("0.005")


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    guard: str
    reason: str
    quantity: Decimal | None = None  # the size after this guard

    @property
    def allowed(self) -> bool:
        return self.kind != "reject"


@dataclass(frozen=True, slots=True)
class AccountView:
    """What the guards need to know about the account and the market at this moment."""

    time: int
    instrument: Instrument
    last_price: Decimal
    mark_price: Decimal
    equity: Decimal  # margin asset
    position_notional: Decimal  # current, margin asset, at mark
    position_side: str  # long / short / none
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


@dataclass(frozen=True, slots=True)
class CheckedEntry:
    """An entry as the guards let it through, or `quantity is None` when refused."""

    quantity: Decimal | None
    price: Decimal | None  # for limit orders
    order_type: OrderType
    time_in_force: TimeInForce | None
    verdicts: list[Verdict]


class RiskEngine:
    """Checks entries against the merged guard settings of the rulebook."""

    def __init__(self, risk: EffectiveRisk) -> None:
        self.risk = risk

    def check_entry(self, intent: EnterIntent, view: AccountView) -> CheckedEntry:
        """The entry rounded, resized or converted as the guards require — or refused."""
        verdicts: list[Verdict] = []
        r = self.risk
        inst = view.instrument
        qty = intent.quantity
        side = Side.BUY if intent.side == "long" else Side.SELL
        order_type = intent.order
        tif = intent.time_in_force or (TimeInForce.GTC if order_type is OrderType.LIMIT else None)

        def reject(guard: str, reason: str) -> CheckedEntry:
            verdicts.append(Verdict("reject", guard, reason))
            return CheckedEntry(None, None, order_type, tif, verdicts)

        if view.halted:
            return reject("kill_switch", f"trading is halted ({view.halted}); no new entries")
        if view.daily_loss_breached:
            return reject("daily_loss_cap", "the daily loss cap was reached today; no entries until 00:00 UTC")
        cap_shown = f" {view.daily_loss_cap:.2f}" if view.daily_loss_cap is not None else ""
        verdicts.append(Verdict("allow", "daily_loss_cap", f"daily PnL {view.daily_pnl:.2f} within the cap{cap_shown}"))
        # Against the later of the data clock and the receive clock: a feed that arrives late
        # carries old times that agree with each other, and only the receive time shows the lag.
        age = max(view.time, view.received) - view.last_data_time
        if age > r.stale_after_ms:
            return reject(
                "stale_data",
                f"market data is {age / 1000:.1f}s old (limit {r.stale_after_ms / 1000:g}s); "
                "no new entries on stale prices",
            )
        if view.streams_down:
            return reject(
                "stale_data", f"stream {', '.join(view.streams_down)} is disconnected; no new entries until it is back"
            )
        if view.orders_last_minute >= r.max_orders_per_minute:
            return reject(
                "rate_limiter",
                f"{view.orders_last_minute} orders in the last minute "
                f"(budget {r.max_orders_per_minute}/min); entry skipped",
            )
        if view.open_orders >= r.max_open_orders:
            return reject("max_open_orders", f"{view.open_orders} working orders already (limit {r.max_open_orders})")
        funding = self._funding(intent.side, view)
        if funding is not None:
            return reject("funding_guard", funding)

        price = intent.price if intent.price is not None else view.last_price
        if intent.price is not None:
            price = inst.round_price(intent.price, side)  # a buy limit rounds down, a sell up
        if price <= 0 or view.mark_price <= 0:
            return reject("exchange_filters", "no valid price to size the order at")

        # Leverage: existing plus new notional may not exceed max_leverage x equity.
        if view.equity <= 0:
            return reject("max_leverage", "equity is not positive")
        adding = view.position_side in ("none", intent.side)
        if adding:
            cap = view.equity * min(r.max_leverage, view.leverage) - view.position_notional
            cap_guard = "max_leverage"
            if r.max_position_notional is not None:
                cap_n = _margin_units(inst, r.max_position_notional, price) - view.position_notional
                if cap_n < cap:
                    cap, cap_guard = cap_n, "max_position_notional"
            new_notional = abs(inst.notional(qty, price))
            if new_notional > cap:
                if cap <= 0:
                    return reject(
                        cap_guard,
                        "the position is already at the limit "
                        f"({_describe_cap(cap_guard, r.max_leverage, view.leverage)})",
                    )
                qty = _qty_for_notional(inst, cap, price)
                verdicts.append(
                    Verdict(
                        "resize",
                        cap_guard,
                        f"size cut to {qty} to stay within {_describe_cap(cap_guard, r.max_leverage, view.leverage)}",
                        qty,
                    )
                )
            else:
                verdicts.append(Verdict("allow", cap_guard, "within the leverage and notional limits", qty))

        if view.brackets is not None and view.holding is not None:
            direction = 1 if intent.side == "long" else -1
            allowed = largest_entry(
                inst,
                view.brackets,
                view.holding,
                qty,
                direction,
                price,
                view.mark_price,
                view.leverage,
                view.margin_type,
                r.min_liquidation_distance,
            )
            need = f"{(r.min_liquidation_distance * 100).normalize():f}%"
            if allowed < qty:
                allowed = inst.round_qty(allowed, order_type)
                if allowed <= 0:
                    return reject(
                        "liquidation_distance",
                        f"any position this size would be liquidated less than "
                        f"{need} from the mark price {view.mark_price}; lower the "
                        "leverage or the size",
                    )
                qty = allowed
                verdicts.append(
                    Verdict(
                        "resize",
                        "liquidation_distance",
                        f"size cut to {qty} to keep the liquidation price {need} from the mark",
                        qty,
                    )
                )
            else:
                verdicts.append(
                    Verdict("allow", "liquidation_distance", f"liquidation price at least {need} from the mark", qty)
                )

        if order_type is OrderType.MARKET and view.volatility_ratio > float(r.volatility_breaker):
            band = VOLATILITY_BAND
            limit = view.last_price * (1 + band) if side is Side.BUY else view.last_price * (1 - band)
            price = inst.round_price(limit, side)
            order_type, tif = OrderType.LIMIT, TimeInForce.IOC
            verdicts.append(
                Verdict(
                    "resize",
                    "volatility_breaker",
                    f"volatility {view.volatility_ratio:.1f}x its baseline: market order sent as an "
                    f"IOC limit at {price} ({(band * 100).normalize():f}% band)",
                    qty,
                )
            )

        rounded = inst.round_qty(qty, order_type)
        if rounded != qty:
            qty = rounded
        lot = inst.lot(order_type)
        if lot.max_qty > 0 and qty > lot.max_qty:
            qty = inst.round_qty(lot.max_qty, order_type)
            verdicts.append(
                Verdict("resize", "exchange_filters", f"size cut to the symbol's max quantity {lot.max_qty}", qty)
            )
        if qty <= 0:
            return reject("exchange_filters", f"size rounds to zero at step {lot.step_size}")
        violations = check_order(
            inst,
            side=side,
            order_type=order_type,
            quantity=qty,
            mark_price=view.mark_price,
            price=price if order_type is OrderType.LIMIT else None,
            time_in_force=tif,
            open_orders=view.open_orders,
        )
        if violations:
            return reject("exchange_filters", f"Binance would reject it: {violations[0]}")
        verdicts.append(Verdict("allow", "exchange_filters", "price and size pass the symbol's filters", qty))
        if view.daily_loss_cap is not None and view.fee_rates is not None:
            # The fees are lost the moment the order fills (and again when it closes): an entry
            # whose own fees reach the cap would breach it with no price move at all.
            fees = round_trip_fees(inst, qty, price, view.fee_rates, tif is TimeInForce.GTX)
            if view.daily_pnl - fees <= -view.daily_loss_cap:
                return reject(
                    "daily_loss_cap",
                    f"daily PnL {view.daily_pnl:.2f} less this entry's fees {fees:.2f} (to open and to close) "
                    f"would reach the cap {view.daily_loss_cap:.2f}",
                )
        return CheckedEntry(qty, price if order_type is OrderType.LIMIT else None, order_type, tif, verdicts)

    def _funding(self, side: str, view: AccountView) -> str | None:
        """Why the funding guard refuses this entry, or None."""
        r = self.risk
        rate, due = view.funding_rate, view.funding_in_ms
        if rate is None or due is None or due > r.funding_guard_window_ms or due < 0:
            return None
        pays = rate > 0 if side == "long" else rate < 0
        if not pays or abs(rate) < r.funding_guard_rate:
            return None
        return (
            f"funding of {(rate * 100).normalize():f}% is due in {due // 60_000}m{due // 1000 % 60:02d}s and a "
            f"{side} position would pay it (guard: {(r.funding_guard_rate * 100).normalize():f}% within "
            f"{r.funding_guard_window_ms // 60_000}m)"
        )

    def clamp_leverage(self, requested: int) -> tuple[int, Verdict]:
        cap = self.risk.max_leverage
        if requested > cap:
            return cap, Verdict("resize", "max_leverage", f"leverage {requested}x clamped to {cap}x")
        return requested, Verdict("allow", "max_leverage", f"{requested}x is within {cap}x")


def _margin_units(inst: Instrument, quote_amount: Decimal, price: Decimal) -> Decimal:
    """A quote-currency amount (USDT, or USD on COIN-M) in the margin asset."""
    return quote_amount / price if inst.is_inverse else quote_amount


def _qty_for_notional(inst: Instrument, notional: Decimal, price: Decimal) -> Decimal:
    qty = notional * price / inst.contract_size if inst.is_inverse else notional / price
    return qty.quantize(Decimal(1).scaleb(-12), rounding=ROUND_DOWN)


def _describe_cap(guard: str, max_leverage: int, leverage: int) -> str:
    if guard == "max_position_notional":
        return "risk.max_position_notional"
    return f"{min(max_leverage, leverage)}x leverage on equity"
