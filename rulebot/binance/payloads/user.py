"""Binance Futures user-data-stream frames (FACTS.md §10) routed by their event type `e` to the
parsers in `user_orders.py` (our orders and fills) and `user_account.py` (balances, positions,
account settings, the listen key). USDⓈ-M and COIN-M share the shapes; COIN-M adds an account
alias (`i`) and the order's margin asset (`ma`), not kept. The names callers use are all
importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rulebot.binance.payloads.common import PayloadError, json_name, loads
from rulebot.binance.payloads.user_account import (
    ListenKeyExpired,
    MarginCalls,
    MultiAssetsModeChanged,
    parse_account_config_update,
    parse_account_update,
    parse_listen_key_expired,
    parse_margin_call,
)
from rulebot.binance.payloads.user_orders import (
    EXPIRY_REASONS,
    FillKey,
    TradeLite,
    fill_key,
    is_liquidation,
    parse_algo_update,
    parse_order_trade_update,
    parse_trade_lite,
)
from rulebot.core.account_events import AccountUpdate, AlgoUpdate, LeverageChanged, OrderUpdate

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


UserMessage = (
    OrderUpdate
    | TradeLite
    | AlgoUpdate
    | AccountUpdate
    | MarginCalls
    | LeverageChanged
    | MultiAssetsModeChanged
    | ListenKeyExpired
)


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
