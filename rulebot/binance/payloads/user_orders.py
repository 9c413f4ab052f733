"""User-data-stream events about our orders (FACTS.md §10): `ORDER_TRADE_UPDATE`, `TRADE_LITE`
and `ALGO_UPDATE`, and the key that de-duplicates fills.

Fills are reported twice: `TRADE_LITE` is an early, fee-less copy of a fill that the
authoritative `ORDER_TRADE_UPDATE` (execution type TRADE or CALCULATED) reports again, in
either order. Both give the same `fill_key` = (symbol, order id, trade id). The engine books
fills, fees and realized PnL from `OrderUpdate` only; a `TradeLite` is an early notice it may
act on (at most once per key: keep the keys of recent fills, bounded) but never books. The
order id is in the key because a self-trade gives both of our orders the same trade id.
A USDⓈ-M connection can skip TRADE_LITE altogether by naming its events
(`/private/ws?listenKey=<k>&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/...`, FACTS.md §1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.payloads.common import (
    BOOL,
    DEC,
    DEC_OR_EMPTY,
    INT,
    OBJ,
    ORDER_STATUSES,
    ORDER_TYPES,
    POSITION_SIDES,
    SIDES,
    STR,
    TIME_IN_FORCE,
    WORKING_TYPES,
    PayloadError,
    Shape,
    decimal_or_none,
    is_decimal,
    json_name,
    one_of,
)
from rulebot.core.account_events import (
    AlgoUpdate,
    OrderUpdate,
)
from rulebot.core.enums import Side

D = Decimal
ZERO = Decimal(0)


FillKey = tuple[str, int, int]
"""(symbol, order id, trade id): one fill of one of our orders."""


@dataclass(frozen=True, slots=True)
class TradeLite:
    """`TRADE_LITE`: a fill, sent earlier than its `ORDER_TRADE_UPDATE` and without fee, PnL,
    cumulative quantity or status. An early notice, never a booking (see the module doc)."""

    symbol: str
    client_order_id: str
    order_id: int
    trade_id: int
    side: Side
    last_filled_qty: Decimal
    last_filled_price: Decimal
    quantity: Decimal  # the order's original quantity
    price: Decimal  # the order's original price (0 for market orders)
    is_maker: bool
    time: int  # T, transaction time

    @property
    def fill_key(self) -> FillKey:
        """The key the matching `OrderUpdate` also has (`fill_key(update)`)."""
        return (self.symbol, self.order_id, self.trade_id)


# Expiry reason `er` (FACTS.md §6.3), reported as OrderUpdate.reject_code / reject_reason.
EXPIRY_REASONS: dict[int, str] = {
    1: "self-trade prevention",
    2: "IOC order could not be filled completely; remainder canceled",
    3: "IOC order could not be filled completely because of self-trade prevention",
    4: "knocked out by a higher-priority reduce-only order, or it would reverse the position",
    5: "account liquidated",
    6: "GTE condition unsatisfied",
    7: "symbol delisted",
    8: "initial order expired after the stop order triggered",
    9: "market order could not be filled completely; remainder canceled",
}


# Client order ids Binance gives its own orders (FACTS.md §6.3).
_SYSTEM_PREFIXES = ("autoclose-", "adl_autoclose", "settlement_autoclose-")


def is_liquidation(update: OrderUpdate) -> bool:
    """True for Binance's own closing orders: liquidation (type LIQUIDATION, which parses as
    LIMIT; execution type CALCULATED), auto-deleverage and delivery/delisting settlement."""
    return update.execution_type == "CALCULATED" or update.client_order_id.startswith(_SYSTEM_PREFIXES)


def fill_key(event: OrderUpdate | TradeLite) -> FillKey | None:
    """The de-duplication key of the fill an event carries; None when it carries none."""
    if isinstance(event, TradeLite):
        return event.fill_key
    if event.trade_id is None or not event.last_filled_qty:
        return None
    return (event.symbol, event.order_id, event.trade_id)


_OTU = Shape("ORDER_TRADE_UPDATE", T=INT, o=OBJ)


_OTU_O = Shape(
    "ORDER_TRADE_UPDATE",
    "o.",
    s=STR,
    c=STR,
    S=one_of(SIDES),
    o=one_of(ORDER_TYPES),
    f=one_of(TIME_IN_FORCE),
    q=DEC,
    p=DEC,
    ap=DEC,
    sp=DEC,
    x=STR,
    X=one_of(ORDER_STATUSES),
    i=INT,
    l=DEC,
    z=DEC,
    L=DEC,
    t=INT,
    m=BOOL,
    R=BOOL,
    wt=one_of(WORKING_TYPES),
    ps=one_of(POSITION_SIDES),
    rp=DEC,
)


_TRAILING = ORDER_TYPES["TRAILING_STOP_MARKET"]


def parse_order_trade_update(d: Mapping[str, Any]) -> OrderUpdate:
    """`ORDER_TRADE_UPDATE` (USDⓈ-M or COIN-M) → `OrderUpdate`.

    - No `N`/`n` (no commission on this update) → commission 0, commission asset "".
    - Type `LIQUIDATION` → `OrderType.LIMIT` (see `parse_common.ORDER_TYPES`; `is_liquidation`).
    - Time in force `GTE_GTC` → None. `sp` "0", and `sp` of trailing stops (Binance: ignore
      it) → `trigger_price` None. `t` 0 (no trade) → `trade_id` None.
    - Expiry reason `er` other than "0" → `reject_code` = that number, `reject_reason` text.
    - `time` is the transaction time `T` of the event.
    """
    t, o = _OTU.values(d)
    (s, c, side, typ, tif, q, p, ap, sp, x, status, oid, last, cum, last_px, tid, maker, reduce, wt, ps, rp) = (
        _OTU_O.values(o)
    )
    # Optional: N/n are absent when the update carries no commission; er is newer than some
    # payloads (absent = no expiry reason).
    n, asset, er = o.get("n"), o.get("N", ""), o.get("er", "0")
    if (n is not None and type(n) is not str) or type(asset) is not str or type(er) is not str:
        raise _otu_error(o)
    try:
        order_type = ORDER_TYPES[typ]
        qty, price, avg, stop, filled = D(q), D(p), D(ap), D(sp), D(cum)
        fill_qty, fill_price, pnl = D(last), D(last_px), D(rp)
        fee = ZERO if n is None else D(n)
        code = int(er) if er != "0" else None
        # Decimal("NaN") does not raise; Binance never sends it, and this is what it costs
        # to be sure (a few ns per field).
        if (
            qty.is_finite()
            and price.is_finite()
            and avg.is_finite()
            and stop.is_finite()
            and filled.is_finite()
            and fill_qty.is_finite()
            and fill_price.is_finite()
            and pnl.is_finite()
            and fee.is_finite()
        ):
            return OrderUpdate(
                s,
                c,
                oid,
                SIDES[side],
                order_type,
                ORDER_STATUSES[status],
                x,
                qty,
                price,
                avg,
                filled,
                fill_qty,
                fill_price,
                fee,
                asset,
                pnl,
                maker,
                reduce,
                POSITION_SIDES[ps],
                TIME_IN_FORCE[tif],
                None if order_type is _TRAILING else stop or None,
                WORKING_TYPES[wt],
                tid or None,
                t,
                code,
                None if code is None else EXPIRY_REASONS.get(code, f"expiry reason {code}"),
            )
    except (KeyError, ArithmeticError, ValueError):
        pass
    raise _otu_error(o)


def _otu_error(o: Mapping[str, Any]) -> PayloadError:
    n, asset, er = o.get("n"), o.get("N", ""), o.get("er", "0")
    for field, value, ok, label in (
        ("o.n", n, n is None or is_decimal(n), "a decimal string"),
        ("o.N", asset, type(asset) is str, "a string"),
        ("o.er", er, type(er) is str and er.isdigit(), "a string of digits"),
    ):
        if not ok:
            reason = f"expected {label}, got {json_name(value)} {value!r:.60}"
            return PayloadError("ORDER_TRADE_UPDATE", field, reason)
    return _OTU_O.error(o)


_LITE = Shape(
    "TRADE_LITE",
    T=INT,
    s=STR,
    q=DEC,
    p=DEC,
    m=BOOL,
    c=STR,
    S=one_of(SIDES),
    L=DEC,
    l=DEC,
    t=INT,
    i=INT,
)


def parse_trade_lite(d: Mapping[str, Any]) -> TradeLite:
    """`TRADE_LITE` → `TradeLite` (`time` = transaction time `T`)."""
    t, s, q, p, m, c, side, last_px, last, tid, oid = _LITE.checked(d)
    return TradeLite(s, c, oid, tid, SIDES[side], D(last), D(last_px), D(q), D(p), m, t)


_ALGO = Shape("ALGO_UPDATE", T=INT, o=OBJ)


_ALGO_O = Shape(
    "ALGO_UPDATE",
    "o.",
    s=STR,
    caid=STR,
    aid=INT,
    o=one_of(ORDER_TYPES),
    S=one_of(SIDES),
    ps=one_of(POSITION_SIDES),
    X=STR,
    q=DEC,
    tp=DEC_OR_EMPTY,
    p=DEC_OR_EMPTY,
    R=BOOL,
    cp=BOOL,
    wt=one_of(WORKING_TYPES),
)


def _order_id(ai: Any) -> int | None:
    # `ai` (the order the algo placed once triggered) is a *string*, "" until then, while the
    # algo id `aid` is an integer; accept an integer too in case Binance aligns them.
    if type(ai) is int:
        return ai
    if type(ai) is str and (ai == "" or ai.isdigit()):
        return int(ai) if ai else None
    raise PayloadError("ALGO_UPDATE", "o.ai", f'expected an order id or "", got {ai!r:.60}')


def parse_algo_update(d: Mapping[str, Any]) -> AlgoUpdate:
    """`ALGO_UPDATE` → `AlgoUpdate` (`time` = transaction time `T`).

    Empty or zero trigger price / price → None; `ai` "" → `order_id` None; `rm` "" or absent →
    `reason` None.
    """
    t, o = _ALGO.values(d)
    s, caid, aid, typ, side, ps, status, q, tp, p, reduce, close, wt = _ALGO_O.checked(o)
    order_id = _order_id(o.get("ai", ""))
    rm = o.get("rm")
    if rm is not None and type(rm) is not str:
        raise PayloadError("ALGO_UPDATE", "o.rm", f"expected a string, got {json_name(rm)}")
    return AlgoUpdate(
        s,
        caid,
        aid,
        ORDER_TYPES[typ],
        SIDES[side],
        POSITION_SIDES[ps],
        status,
        D(q),
        decimal_or_none(tp, zero=True),
        decimal_or_none(p, zero=True),
        reduce,
        close,
        WORKING_TYPES[wt],
        order_id,
        rm or None,
        t,
    )
