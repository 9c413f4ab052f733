"""Binance Futures user-data-stream events (FACTS.md §10) parsed into core account events.

`parse_user_message` routes a raw frame by its event type `e`. USDⓈ-M and COIN-M share the
shapes; COIN-M adds an account alias (`i`) and the order's margin asset (`ma`), not kept.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.payloads.common import (
    BOOL,
    DEC,
    DEC_OR_EMPTY,
    INT,
    LIST,
    MARGIN_TYPES,
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
    each,
    is_decimal,
    json_name,
    loads,
    one_of,
)
from rulebot.core.account_events import (
    AccountUpdate,
    AlgoUpdate,
    BalanceChange,
    LeverageChanged,
    MarginCall,
    OrderUpdate,
    PositionChange,
)
from rulebot.core.enums import Side

__all__ = [
    "EXPIRY_REASONS",
    "FillKey",
    "ListenKeyExpired",
    "MarginCalls",
    "MultiAssetsModeChanged",
    "TradeLite",
    "UserMessage",
    "fill_key",
    "is_liquidation",
    "parse_account_config_update",
    "parse_account_update",
    "parse_algo_update",
    "parse_listen_key_expired",
    "parse_margin_call",
    "parse_order_trade_update",
    "parse_trade_lite",
    "parse_user_message",
]

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


@dataclass(frozen=True, slots=True)
class MarginCalls:
    """`MARGIN_CALL`: positions near liquidation, one `MarginCall` each.

    `cross_wallet_balance` is sent for cross margin only. Guidance: liquidation may already be
    under way by the time it arrives.
    """

    calls: tuple[MarginCall, ...]
    cross_wallet_balance: Decimal | None
    time: int


@dataclass(frozen=True, slots=True)
class MultiAssetsModeChanged:
    """`ACCOUNT_CONFIG_UPDATE` with `ai`: multi-assets margin mode switched on or off."""

    enabled: bool
    time: int


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    """The user stream's listenKey lapsed: no more user events until a new key is connected.

    Not a disconnect: the socket may stay open and silent, so the venue must act on this.
    """

    listen_key: str
    time: int


UserMessage = (
    OrderUpdate | TradeLite | AlgoUpdate | AccountUpdate | MarginCalls | LeverageChanged
    | MultiAssetsModeChanged | ListenKeyExpired
)  # fmt: skip

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


# -- ORDER_TRADE_UPDATE -------------------------------------------------------------------------

_OTU = Shape("ORDER_TRADE_UPDATE", T=INT, o=OBJ)
_OTU_O = Shape(
    "ORDER_TRADE_UPDATE", "o.", s=STR, c=STR, S=one_of(SIDES), o=one_of(ORDER_TYPES),
    f=one_of(TIME_IN_FORCE), q=DEC, p=DEC, ap=DEC, sp=DEC, x=STR, X=one_of(ORDER_STATUSES),
    i=INT, l=DEC, z=DEC, L=DEC, t=INT, m=BOOL, R=BOOL, wt=one_of(WORKING_TYPES),
    ps=one_of(POSITION_SIDES), rp=DEC,
)  # fmt: skip
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
    (s, c, side, typ, tif, q, p, ap, sp, x, status, oid, last, cum, last_px, tid, maker,
     reduce, wt, ps, rp) = _OTU_O.values(o)  # fmt: skip
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
        if (qty.is_finite() and price.is_finite() and avg.is_finite() and stop.is_finite()
                and filled.is_finite() and fill_qty.is_finite() and fill_price.is_finite()
                and pnl.is_finite() and fee.is_finite()):  # fmt: skip
            return OrderUpdate(
                s, c, oid, SIDES[side], order_type, ORDER_STATUSES[status], x, qty, price, avg,
                filled, fill_qty, fill_price, fee, asset, pnl, maker, reduce, POSITION_SIDES[ps],
                TIME_IN_FORCE[tif], None if order_type is _TRAILING else stop or None,
                WORKING_TYPES[wt], tid or None, t, code,
                None if code is None else EXPIRY_REASONS.get(code, f"expiry reason {code}"),
            )  # fmt: skip
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


# -- TRADE_LITE ----------------------------------------------------------------------------------

_LITE = Shape(
    "TRADE_LITE", T=INT, s=STR, q=DEC, p=DEC, m=BOOL, c=STR, S=one_of(SIDES), L=DEC, l=DEC,
    t=INT, i=INT,
)  # fmt: skip


def parse_trade_lite(d: Mapping[str, Any]) -> TradeLite:
    """`TRADE_LITE` → `TradeLite` (`time` = transaction time `T`)."""
    t, s, q, p, m, c, side, last_px, last, tid, oid = _LITE.checked(d)
    return TradeLite(s, c, oid, tid, SIDES[side], D(last), D(last_px), D(q), D(p), m, t)


# -- ACCOUNT_UPDATE ------------------------------------------------------------------------------

_AU = Shape("ACCOUNT_UPDATE", T=INT, a=OBJ)
_AU_A = Shape("ACCOUNT_UPDATE", "a.", m=STR, B=LIST)
_AU_B = Shape("ACCOUNT_UPDATE", a=STR, wb=DEC, cw=DEC, bc=DEC)
_AU_P = Shape(
    "ACCOUNT_UPDATE", s=STR, pa=DEC, ep=DEC, bep=DEC, cr=DEC, up=DEC,
    mt=one_of(MARGIN_TYPES), iw=DEC, ps=one_of(POSITION_SIDES),
)  # fmt: skip


def _balance(b: Any) -> BalanceChange:
    asset, wb, cw, bc = _AU_B.checked(b)
    return BalanceChange(asset, D(wb), D(cw), D(bc))


def _position(p: Any) -> PositionChange:
    s, pa, ep, bep, cr, up, mt, iw, ps = _AU_P.checked(p)
    return PositionChange(s, POSITION_SIDES[ps], D(pa), D(ep), D(bep), D(cr), D(up),
                          MARGIN_TYPES[mt], D(iw))  # fmt: skip


def parse_account_update(d: Mapping[str, Any]) -> AccountUpdate:
    """`ACCOUNT_UPDATE` → `AccountUpdate` (`time` = transaction time `T`).

    `P` lists changed positions only, and is empty or absent when only balances moved (cross
    funding fees). `i` (COIN-M account alias) is not kept.
    """
    t, a = _AU.values(d)
    reason, balances = _AU_A.values(a)
    return AccountUpdate(
        reason,
        each(balances, "ACCOUNT_UPDATE", _balance, "a.B"),
        each(a.get("P", []), "ACCOUNT_UPDATE", _position, "a.P"),
        t,
    )


# -- ALGO_UPDATE ---------------------------------------------------------------------------------

_ALGO = Shape("ALGO_UPDATE", T=INT, o=OBJ)
_ALGO_O = Shape(
    "ALGO_UPDATE", "o.", s=STR, caid=STR, aid=INT, o=one_of(ORDER_TYPES), S=one_of(SIDES),
    ps=one_of(POSITION_SIDES), X=STR, q=DEC, tp=DEC_OR_EMPTY, p=DEC_OR_EMPTY, R=BOOL, cp=BOOL,
    wt=one_of(WORKING_TYPES),
)  # fmt: skip


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
        s, caid, aid, ORDER_TYPES[typ], SIDES[side], POSITION_SIDES[ps], status, D(q),
        decimal_or_none(tp, zero=True), decimal_or_none(p, zero=True), reduce, close,
        WORKING_TYPES[wt], order_id, rm or None, t,
    )  # fmt: skip


# -- the rarer events ----------------------------------------------------------------------------

_MC = Shape("MARGIN_CALL", E=INT, p=LIST)
_MC_P = Shape("MARGIN_CALL", s=STR, ps=one_of(POSITION_SIDES), pa=DEC, mp=DEC, mm=DEC)


def _margin_call(time: int) -> Callable[[Any], MarginCall]:
    def parse(p: Any) -> MarginCall:
        s, ps, pa, mp, mm = _MC_P.checked(p)
        return MarginCall(s, POSITION_SIDES[ps], D(pa), D(mp), D(mm), time)

    return parse


def parse_margin_call(d: Mapping[str, Any]) -> MarginCalls:
    """`MARGIN_CALL` → `MarginCalls` (`time` = event time `E`: the event has no `T`).

    Its `mt` says "CROSSED"/"ISOLATED" where ACCOUNT_UPDATE says "cross"/"isolated".
    """
    e, positions = _MC.values(d)
    calls = each(positions, "MARGIN_CALL", _margin_call(e), "p")
    cw = d.get("cw")
    if cw is not None and not is_decimal(cw):
        raise PayloadError("MARGIN_CALL", "cw", f"expected a decimal string, got {cw!r:.60}")
    return MarginCalls(calls, None if cw is None else D(cw), e)


_ACU = Shape("ACCOUNT_CONFIG_UPDATE", E=INT, T=INT)
_ACU_AC = Shape("ACCOUNT_CONFIG_UPDATE", "ac.", s=STR, l=INT)


def parse_account_config_update(
    d: Mapping[str, Any],
) -> LeverageChanged | MultiAssetsModeChanged:
    """`ACCOUNT_CONFIG_UPDATE` → `LeverageChanged` (`ac`) or `MultiAssetsModeChanged` (`ai`).

    Binance sends one of the two; a message with both or neither raises `PayloadError`.
    """
    _e, t = _ACU.values(d)
    ac, ai = d.get("ac"), d.get("ai")
    if (ac is None) == (ai is None):
        raise PayloadError("ACCOUNT_CONFIG_UPDATE", "", "expected exactly one of 'ac' and 'ai'")
    if ac is not None:
        s, leverage = _ACU_AC.values(ac)
        return LeverageChanged(s, leverage, t)
    j = ai.get("j") if isinstance(ai, Mapping) else ai
    if type(j) is not bool:
        field = "ai.j" if isinstance(ai, Mapping) else "ai"
        raise PayloadError("ACCOUNT_CONFIG_UPDATE", field, f"expected a boolean, got {j!r:.60}")
    return MultiAssetsModeChanged(j, t)


def parse_listen_key_expired(d: Mapping[str, Any]) -> ListenKeyExpired:
    """`listenKeyExpired` → `ListenKeyExpired` (`time` = event time `E`)."""
    key, e = d.get("listenKey"), d.get("E")
    # Older docs print E as a string here ("E": "1576653824250"); accept that spelling.
    if type(e) is str and e.isdigit():
        e = int(e)
    if type(e) is not int:
        raise PayloadError("listenKeyExpired", "E", f"expected an integer, got {e!r:.60}")
    if type(key) is not str:
        raise PayloadError("listenKeyExpired", "listenKey", f"expected a string, got {key!r:.60}")
    return ListenKeyExpired(key, e)


# -- routing --------------------------------------------------------------------------------------

_BY_EVENT: dict[str, Callable[[Mapping[str, Any]], UserMessage]] = {
    "ORDER_TRADE_UPDATE": parse_order_trade_update,
    "TRADE_LITE": parse_trade_lite,
    "ACCOUNT_UPDATE": parse_account_update,
    "ALGO_UPDATE": parse_algo_update,
    "MARGIN_CALL": parse_margin_call,
    "ACCOUNT_CONFIG_UPDATE": parse_account_config_update,
    "listenKeyExpired": parse_listen_key_expired,
}


def parse_user_message(
    raw: bytes | bytearray | memoryview | str | Mapping[str, Any],
) -> UserMessage | None:
    """Parse one user-data-stream frame (text, bytes or decoded object) into its event.

    A frame in the combined wrapper `{"stream": <listenKey>, "data": {...}}` (the multi-key
    `/private/stream` endpoint) is unwrapped. Returns None for event types not parsed here
    (`CONDITIONAL_ORDER_TRIGGER_REJECT`, deprecated since 2025-12-15; `STRATEGY_UPDATE`,
    `GRID_UPDATE`, ...; and types Binance adds later): unknown types are skipped, never fatal.
    Raises `PayloadError` for non-JSON and for a known event with a missing or mistyped field.
    """
    d: Any = raw
    if isinstance(raw, bytes | bytearray | memoryview | str):
        d = loads(raw, "user message")
    if not isinstance(d, Mapping):
        raise PayloadError("user message", "", f"expected an object, got {json_name(d)}")
    e = d.get("e")
    if e is None and "data" in d and "stream" in d:
        try:
            return parse_user_message(d["data"])
        except PayloadError as exc:
            raise exc.within("data") from None
    parser = _BY_EVENT.get(e) if type(e) is str else None
    return None if parser is None else parser(d)
