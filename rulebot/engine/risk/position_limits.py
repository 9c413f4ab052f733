"""Position limits: existing plus new notional may not exceed max_leverage x equity, nor
risk.max_position_notional; an entry that would is cut to what fits."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from rulebot.core.enums import OrderType, PositionSide, Side
from rulebot.core.instruments import Instrument
from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk

ZERO, ONE = Decimal(0), Decimal(1)
MARKET_BUY_BUFFER = Decimal("0.0005")  # the cost FAQ's ask[0] * (1 + 0.05%) for market buys
_MARKET, _BUY, _BOTH = (
    OrderType.MARKET,
    Side.BUY,
    PositionSide.BOTH,
)  # slow lookups on Python 3.11 (EnumType.__getattr__)


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    inst, price = view.instrument, draft.price
    if view.equity <= 0:
        return Verdict("reject", "max_leverage", "equity is not positive")
    if intent.position_side is _BOTH and view.position_direction not in (None, intent.side):
        return None  # one-way, reducing or reversing: the cap is for adding risk
    # In hedge mode an entry on the other side opens its own leg beside the held one (its own margin, and
    # the pair's notional is what the limits bound): it adds risk, as any entry there does.
    lev = min(risk.max_leverage, view.leverage)
    # Each limit: its guard, how it is described, the room left in the margin asset, and the price
    # the order's notional is taken at. The leverage cap is on what the order costs, its notional
    # at the price `_costed_at` gives: a market buy of `size: 100%` fit the notional but not the
    # cost, and was sent to be refused with -2019 every time. The others are on the notional.
    limits = [
        (
            "max_leverage",
            f"{lev}x leverage on equity",
            view.equity * lev - view.position_notional,
            _costed_at(inst, draft, price, lev, view.mark_price),
        )
    ]
    if view.available is not None:
        # What Binance lets the order cost: the available balance, where an isolated position's profit is not
        # (its PnL stays in its own wallet), and the other symbols' margin is taken. On equity alone, a 0.1 BTC
        # isolated long 300 USDT in profit let a 1.526 BTC add through at 10x that Binance refused with -2019.
        shown = f"{view.available:.{8 if inst.is_inverse else 2}f} {inst.margin_asset}"
        limits.append(
            (
                "max_leverage",
                f"the margin available ({shown}) at {view.leverage}x",
                view.available * view.leverage,
                _costed_at(inst, draft, price, view.leverage, view.mark_price),
            )
        )
    if risk.max_position_notional is not None:
        cap_n = _margin_units(inst, risk.max_position_notional, price) - view.position_notional
        limits.append(("max_position_notional", "risk.max_position_notional", cap_n, price))
    if view.brackets is not None:
        # Binance's brackets allow at most this position at the account's leverage (-2027 past it;
        # BTCUSD_PERP: 80 BTC at 10x): an entry past it is refused whatever the equity.
        try:
            top = view.brackets.max_notional(view.leverage)
        except ValueError:
            top = None
        if top is not None:
            shown = f"{top.normalize():f} {inst.margin_asset}"
            described = f"the leverage brackets' largest position at {view.leverage}x ({shown})"
            limits.append(("max_leverage", described, top - view.position_notional, _bracket_price(inst, draft, price)))
    over = [limit for limit in limits if abs(inst.notional(draft.quantity, limit[3])) > limit[2]]
    if not over:
        guard = min(limits, key=lambda limit: limit[2])[0]
        return Verdict("allow", guard, "within the leverage and notional limits", draft.quantity)
    cut: tuple[str, str, Decimal] | None = None
    for guard, described, cap, at in over:
        if cap <= 0:
            return Verdict("reject", guard, f"the position is already at the limit ({described})")
        # On the lot step here, not only at lot_size: the journaled reason names the size the order
        # is sent with (as liquidation_distance does), not the cap's 12-digit quotient.
        fits = inst.round_qty(_qty_for_notional(inst, cap, at), draft.order_type)
        if cut is None or fits < cut[2]:
            cut = (guard, described, fits)
    assert cut is not None
    guard, described, fits = cut
    if fits <= 0:
        step = inst.lot(draft.order_type).step_size
        return Verdict("reject", guard, f"the room left within {described} is less than one lot step ({step})")
    draft.quantity = fits
    return Verdict("resize", guard, f"size cut to {draft.quantity} to stay within {described}", draft.quantity)


def _bracket_price(inst: Instrument, draft: Draft, price: Decimal) -> Decimal:
    """The price Binance's -2027 check takes an order's notional at: a market buy at
    ask * (1 + 0.05%), more notional on a linear contract (on an inverse one, less: `price`)."""
    if draft.order_type is _MARKET and draft.side is _BUY and not inst.is_inverse:
        return price * (1 + MARKET_BUY_BUFFER)
    return price


def _costed_at(inst: Instrument, draft: Draft, price: Decimal, lev: int, mark: Decimal) -> Decimal:
    """The price at which an order's notional is `lev` times what Binance charges to open it.

    Binance costs a market buy at a = ask * (1 + 0.05%) plus the open loss against the mark
    (exchange_sim/order_cost.py). Linear, per unit a / L + (a - price) of margin: the price
    a + L * (a - price). Inverse, per contract CS / (a * L) + CS * (1/price - 1/a) coin: the price
    whose notional CS / p is L times that, 1 / (1/a + L * (1/price - 1/a)). A limit costs its initial
    margin at its price plus its own open loss against the mark (a buy above the mark, a sell below
    it): sized on the margin alone, a limit buy 0.4% above the mark at 10x was refused with -2019.
    A market sell costs its initial margin at `price`.
    """
    if draft.order_type is _MARKET:
        if draft.side is not _BUY:
            return price
        assumed = price * (1 + MARKET_BUY_BUFFER)
        if inst.is_inverse:
            return 1 / (1 / assumed + lev * (1 / price - 1 / assumed))
        return assumed + lev * (assumed - price)
    loss = -inst.pnl(draft.side, ONE, price, mark) if mark > 0 else ZERO
    if loss <= 0:
        return price
    per_unit = abs(inst.notional(ONE, price)) + lev * loss  # lev times the cost of one unit
    return inst.contract_size / per_unit if inst.is_inverse else per_unit


def _margin_units(inst: Instrument, quote_amount: Decimal, price: Decimal) -> Decimal:
    """A quote-currency amount (USDT, or USD on COIN-M) in the margin asset."""
    return quote_amount / price if inst.is_inverse else quote_amount


def _qty_for_notional(inst: Instrument, notional: Decimal, price: Decimal) -> Decimal:
    qty = notional * price / inst.contract_size if inst.is_inverse else notional / price
    return qty.quantize(Decimal(1).scaleb(-12), rounding=ROUND_DOWN)
