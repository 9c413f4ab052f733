"""Where a walked price can make the simulator act: the band of quiet prices (the fast backtest path).

The backtest walks each candle as a few prices (`venues/paper.py`). Between two commands or
fills the simulator's state is fixed, so the prices at which it would do anything at all form
known thresholds: stop and take-profit triggers, resting limits, the bankruptcy price, and the
margin ratio at which a margin call or a liquidation starts. `quiet_band` returns the open
interval (lo, hi) strictly inside all of them; a candle whose low is above lo and whose high is
below hi changes nothing but the last and mark prices, which the fast path sets directly.
Anything the band cannot bound exactly (a dead man's switch, a warned or cross position, hedge
mode, an inverse contract) gives None: the caller walks the candle point by point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from decimal import Decimal

from rulebot.core.enums import OrderType, Side
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, FloatBrackets
from rulebot.exchange_sim import conditional
from rulebot.exchange_sim.account import Account
from rulebot.exchange_sim.book import OrderStore
from rulebot.exchange_sim.exposure import Exposure
from rulebot.exchange_sim.liquidation import bankruptcy_price
from rulebot.exchange_sim.orders import Trigger

Band = tuple[Decimal | None, Decimal | None]  # open interval; None: unbounded on that side
_STOP_LIKE = frozenset({OrderType.STOP, OrderType.STOP_MARKET})
_TP_LIKE = frozenset({OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET})
# Members at hand: a member read through its class is a slow lookup on Python 3.11 (EnumType.__getattr__),
# and the band is drawn again after every fill, over every working order.
_BUY, _TRAILING = Side.BUY, OrderType.TRAILING_STOP_MARKET
# The float margin-ratio estimates are trusted only this far inside the 2% slack the code they
# stand for keeps (`isolated_ratio_clearly_below`): far above any float rounding.
_RATIO_SAFETY = 0.999
_EDGE = 1e-9  # relative distance kept from a bracket edge, where the float tiers may disagree

# Each table's float brackets and tier edges, built once per table: the band is drawn again after
# every fill, and a table has a dozen brackets. Keyed by identity with the table kept beside them: a
# table is frozen, so they cannot go stale, and a kept table's id cannot be reused while cached.
_TABLES: dict[int, tuple[BracketTable, FloatBrackets, tuple[Decimal, ...]]] = {}


def table_floats(table: BracketTable) -> tuple[FloatBrackets, tuple[Decimal, ...]]:
    """`FloatBrackets(table)` and the notional caps of its brackets, ascending."""
    hit = _TABLES.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1], hit[2]
    floats, tiers = FloatBrackets(table), tuple(b.notional_cap for b in table.brackets)
    if len(_TABLES) >= 64:  # a reload brings new tables: keep the cache small
        _TABLES.clear()
    _TABLES[id(table)] = (table, floats, tiers)
    return floats, tiers


def tighten(band: Band, lo: Decimal | None, hi: Decimal | None) -> Band:
    """The band with `lo` (prices must stay above it) and `hi` (below it) added."""
    b_lo, b_hi = band
    if lo is not None and (b_lo is None or lo > b_lo):
        b_lo = lo
    if hi is not None and (b_hi is None or hi < b_hi):
        b_hi = hi
    return b_lo, b_hi


def trigger_band(trigger: Trigger) -> Band | None:
    """Prices at which a stop or take-profit does not trigger (None for a trailing stop, whose
    state moves with the price: the caller replays it, `trailing_quiet`)."""
    stop = trigger.stop_price
    if trigger.order_type is _TRAILING or stop is None:
        return None
    # condition_holds: a STOP triggers at price >= stop for a BUY, <= stop for a SELL, inclusive;
    # a TAKE_PROFIT the other way round.
    if trigger.order_type in _STOP_LIKE:
        return (None, stop) if trigger.side is _BUY else (stop, None)
    if trigger.order_type in _TP_LIKE:
        return (stop, None) if trigger.side is _BUY else (None, stop)
    return None


def limit_band(side: Side, price: Decimal) -> Band:
    """Prices at which a resting limit does not fill, at touch or through (`crossed_by_trade`)."""
    return (price, None) if side is _BUY else (None, price)


def ratio_band(
    inst: Instrument,
    brackets: FloatBrackets,
    tiers: Iterable[Decimal],
    qty: Decimal,
    entry: Decimal,
    wallet: Decimal,
    limit: float,
    now: Decimal,
    band: Band,
) -> Band | None:
    """The part of `band` around `now` where an isolated position's float margin ratio stays
    clearly below `limit` (as `isolated_ratio_clearly_below` decides it at every price inside).

    Within one maintenance bracket the ratio is (a*p + b) / (c*p + d) in the price p, monotonic
    wherever the balance is positive, so its largest value on an interval is at an end: the band
    is cut to the current bracket and each end is checked, moved toward `now` by bisection when
    it fails. None when `now` itself is not clearly below (or the figures are not usable).
    """
    if inst.is_inverse or qty == 0 or entry <= 0 or wallet <= 0 or now <= 0:
        return None
    q, e, w, target = float(qty), float(entry), float(wallet), limit * 0.98 * _RATIO_SAFETY

    size = abs(q)
    maintenance = brackets.maintenance

    def safe(p: float) -> bool:
        # `float_pnl_and_notional` of a linear contract (an inverse one returned above), inlined:
        # the same operations, without a call and a tuple at each of the few points checked.
        balance = w + q * (p - e)
        return balance > 0 and maintenance(size * p) / balance < target

    p0 = float(now)
    if not safe(p0):
        return None
    floor, cap = 0.0, math.inf
    for edge in tiers:  # bracket edges in notional, ascending: the bracket of `now`
        at = float(edge) / size
        if at <= p0:
            floor = at * (1 + _EDGE)
        else:
            cap = at * (1 - _EDGE)
            break
    b_lo, b_hi = band
    lo = max(floor, float(b_lo)) if b_lo is not None else floor
    hi = min(cap, float(b_hi)) if b_hi is not None else cap
    if not lo < p0 < hi:
        return None
    lo = lo if lo > 0 else p0 * 1e-6
    hi = hi if math.isfinite(hi) else p0 * 1e6

    def root(edge: float) -> float | None:
        """Where the ratio reaches the target between `p0` and `edge`: in one bracket the
        maintenance margin and the balance are both linear in the price."""
        m0 = brackets.maintenance(size * p0)
        slope = (brackets.maintenance(size * edge) - m0) / (edge - p0)
        den = slope - target * q
        return None if den == 0 else (target * (w - q * e) - m0 + slope * p0) / den

    lo = _inner_safe(safe, p0, lo, root)
    hi = _inner_safe(safe, p0, hi, root)
    # Back to Decimal on the safe side: rounding toward `now` keeps every price inside checked.
    d_lo, d_hi = Decimal(repr(lo)), Decimal(repr(hi))
    if d_lo < Decimal(lo):
        d_lo = d_lo.next_plus()
    if d_hi > Decimal(hi):
        d_hi = d_hi.next_minus()
    return tighten(band, d_lo, d_hi)


def _inner_safe(safe: Callable[[float], bool], p0: float, edge: float, root: Callable[[float], float | None]) -> float:
    """`edge` if the ratio is clearly below there, else a point between `p0` and `edge` where it is:
    just inside the computed `root` when the check there agrees (nearly always: two checks instead
    of a bisection's forty after every fill), else by bisection."""
    if safe(edge):
        return edge
    at = root(edge)
    if at is not None and math.isfinite(at):
        at += (p0 - at) * 1e-9  # toward `p0`: the root itself is the limit, not under it
        if min(p0, edge) < at < max(p0, edge) and safe(at):
            return at
    good, bad = p0, edge
    for _ in range(40):
        mid = (good + bad) / 2
        if safe(mid):
            good = mid
        else:
            bad = mid
    return good


def trailing_quiet(triggers: list[Trigger], prices: list[Decimal], inst: Instrument) -> list[Trigger] | None:
    """Replay `prices` on copies of trailing-stop triggers: the copies when none triggers (the
    caller keeps their moved stops), None when one would (the caller walks the candle)."""
    out = []
    for trigger in triggers:
        copy = replace(trigger)
        for price in prices:
            if conditional.update(copy, price, inst):
                return None
        out.append(copy)
    return out


def replay(triggers: list[Trigger], prices: list[Decimal], inst: Instrument) -> None:
    """Feed `prices` to trailing-stop triggers known not to trigger on them (`trailing_quiet`)."""
    for trigger in triggers:
        for price in prices:
            conditional.update(trigger, price, inst)


def trailing_triggers(store: OrderStore, symbol: str) -> list[Trigger]:
    """The triggers of the symbol's working trailing stops, plain (COIN-M) and algo (USDⓈ-M)."""
    out = [
        o.trigger
        for o in store.open_orders(symbol)
        if o.trigger is not None and o.waits_for_trigger and o.trigger.order_type is _TRAILING
    ]
    out += [a.trigger for a in store.open_algos(symbol) if a.trigger.order_type is _TRAILING]
    return out


def sim_band(
    symbol: str,
    inst: Instrument,
    store: OrderStore,
    account: Account,
    exposure: Exposure,
    warn_at: Decimal,
    warned: bool,
    countdown: bool,
) -> Band | None:
    """Where the simulator's `on_trade` and `on_mark_price` of `symbol` do nothing but note the price."""
    if countdown or warned:
        return None  # a dead man's switch fires on the clock; a warned position's warning re-arms
    band: Band = (None, None)
    for order in store.open_orders(symbol):
        if order.waits_for_trigger:
            assert order.trigger is not None
            if order.trigger.order_type is _TRAILING:
                continue  # replayed price by price (`trailing_quiet`)
            edges = trigger_band(order.trigger)
        elif order.rests and order.price is not None:
            edges = limit_band(order.side, order.price)
        else:
            return None
        if edges is None:
            return None
        band = tighten(band, *edges)
    for algo in store.open_algos(symbol):
        if algo.trigger.order_type is _TRAILING:
            continue
        edges = trigger_band(algo.trigger)
        if edges is None:
            return None
        band = tighten(band, *edges)
    legs = [p for p in account.legs(symbol) if p.qty != 0]
    if not legs:
        return band
    if len(legs) > 1 or not account.is_isolated(symbol) or inst.is_inverse:
        return None
    pos = legs[0]
    # check_fill_prices: a trade at or beyond the bankruptcy price liquidates before anything fills.
    bankrupt = bankruptcy_price(inst, [pos], pos.isolated_wallet)
    if bankrupt is not None:
        band = tighten(band, bankrupt, None) if pos.qty > 0 else tighten(band, None, bankrupt)
    floats, tiers = table_floats(exposure.brackets(symbol))
    return ratio_band(
        inst,
        floats,
        tiers,
        pos.qty,
        pos.entry_price,
        pos.isolated_wallet,
        float(warn_at),
        exposure.price(pos),
        band,
    )
