"""User-data-stream events about the account (FACTS.md §10): `ACCOUNT_UPDATE` (balances and
positions), `MARGIN_CALL`, `ACCOUNT_CONFIG_UPDATE` (leverage, multi-assets mode) and
`listenKeyExpired`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.payloads.common import (
    DEC,
    INT,
    LIST,
    MARGIN_TYPES,
    OBJ,
    POSITION_SIDES,
    STR,
    PayloadError,
    Shape,
    each,
    is_decimal,
    one_of,
)
from rulebot.core.account_events import (
    AccountUpdate,
    BalanceChange,
    LeverageChanged,
    MarginCall,
    PositionChange,
)

D = Decimal
ZERO = Decimal(0)


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


_AU = Shape("ACCOUNT_UPDATE", T=INT, a=OBJ)


_AU_A = Shape("ACCOUNT_UPDATE", "a.", m=STR, B=LIST)


_AU_B = Shape("ACCOUNT_UPDATE", a=STR, wb=DEC, cw=DEC, bc=DEC)


_AU_P = Shape(
    "ACCOUNT_UPDATE",
    s=STR,
    pa=DEC,
    ep=DEC,
    bep=DEC,
    cr=DEC,
    up=DEC,
    mt=one_of(MARGIN_TYPES),
    iw=DEC,
    ps=one_of(POSITION_SIDES),
)


def _balance(b: Any) -> BalanceChange:
    asset, wb, cw, bc = _AU_B.checked(b)
    return BalanceChange(asset, D(wb), D(cw), D(bc))


def _position(p: Any) -> PositionChange:
    s, pa, ep, bep, cr, up, mt, iw, ps = _AU_P.checked(p)
    return PositionChange(s, POSITION_SIDES[ps], D(pa), D(ep), D(bep), D(cr), D(up), MARGIN_TYPES[mt], D(iw))


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
