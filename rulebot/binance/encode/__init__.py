"""Core values as Binance's JSON: what the fake exchange sends, in the real payloads' shapes.

Each stream encoder mirrors one payload in `../shared/binance/payloads/` key for key (COIN-M's
user events add `i` and `ma`, as Binance's do); a test compares every one with its payload and
round-trips it through the project's own parsers. Decimals are printed as Binance prints them
(strings), booleans as JSON booleans. Fields a core value does not carry get Binance's neutral
value ("0", false, "NONE").

A package, one module per surface: `rest`, `user` (the user data stream), `market` (market
streams), and `requests`: the other direction, the order parameters the venue sends; every
encoder is importable from here (`from rulebot.binance import encode as enc`).
"""

from __future__ import annotations

from rulebot.binance.encode.market import (
    agg_trade,
    book_ticker,
    continuous_kline,
    depth_diff,
    depth_update,
    force_order,
    kline,
    mark_price_update,
    market_payload,
    market_streams_of,
    stream_name,
)
from rulebot.binance.encode.requests import order_params
from rulebot.binance.encode.rest import (
    algo_json,
    balance_json,
    order_json,
    position_json,
)
from rulebot.binance.encode.user import (
    account_config_update,
    account_update,
    algo_update,
    listen_key_expired,
    margin_call,
    order_trade_update,
    trade_lite,
    user_payload,
)

__all__ = [
    "account_config_update",
    "account_update",
    "agg_trade",
    "algo_json",
    "algo_update",
    "balance_json",
    "book_ticker",
    "continuous_kline",
    "depth_diff",
    "depth_update",
    "force_order",
    "kline",
    "listen_key_expired",
    "margin_call",
    "mark_price_update",
    "market_payload",
    "market_streams_of",
    "order_json",
    "order_params",
    "order_trade_update",
    "position_json",
    "stream_name",
    "trade_lite",
    "user_payload",
]
