"""Built-in contract specs for backtests and simulations when no exchangeInfo is at hand.

Values are Binance's as published for these symbols (tick, step, min notional); brackets come
from a dated snapshot of Binance's own leverageBracket answer. They drift: a live run loads the
exchange's own exchangeInfo and the account's brackets at start, and `--exchange-info FILE` and
`--brackets FILE` replace them for a backtest. A symbol not listed
here gets a generic spec whose tick and step are inferred from the data, and the backtest
says so.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from importlib import resources
from typing import Any

from rulebot.binance.payloads.account import brackets_from_payload
from rulebot.binance.payloads.exchange_info import instruments_from_exchange_info
from rulebot.core.enums import Market
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable

_CONDITIONAL = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]


def _usdm(
    symbol: str,
    base: str,
    tick: str,
    step: str,
    min_qty: str,
    max_qty: str,
    market_max: str,
    min_notional: str,
    min_price: str,
    max_price: str,
    price_prec: int,
    qty_prec: int,
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "status": "TRADING",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": price_prec,
        "quantityPrecision": qty_prec,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "triggerProtect": "0.0500",
        "orderTypes": _CONDITIONAL,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": min_price, "maxPrice": max_price, "tickSize": tick},
            {"filterType": "LOT_SIZE", "stepSize": step, "maxQty": max_qty, "minQty": min_qty},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": step, "maxQty": market_max, "minQty": min_qty},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": min_notional},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
    }


def _coinm(symbol: str, base: str, tick: str, contract_size: int, price_prec: int) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": symbol.split("_")[0],
        "contractType": "PERPETUAL",
        "contractStatus": "TRADING",
        "baseAsset": base,
        "quoteAsset": "USD",
        "marginAsset": base,
        "contractSize": contract_size,
        "pricePrecision": price_prec,
        "quantityPrecision": 0,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "liquidationFee": "0.010000",
        "marketTakeBound": "0.05",
        "triggerProtect": "0.0500",
        "orderTypes": _CONDITIONAL,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "4520958", "tickSize": tick},
            {"filterType": "LOT_SIZE", "stepSize": "1", "maxQty": "1000000", "minQty": "1"},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": "1", "maxQty": "60000", "minQty": "1"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
    }


USDM_EXCHANGE_INFO: dict[str, Any] = {
    "symbols": [
        _usdm("BTCUSDT", "BTC", "0.10", "0.001", "0.001", "1000", "120", "100", "556.80", "4529764", 2, 3),
        _usdm("ETHUSDT", "ETH", "0.01", "0.001", "0.001", "10000", "2000", "20", "39.86", "306177", 2, 3),
        _usdm("SOLUSDT", "SOL", "0.0100", "1", "1", "1000000", "5000", "5", "0.4200", "6857", 4, 0),
        _usdm("ADAUSDT", "ADA", "0.00010", "1", "1", "10000000", "1000000", "5", "0.01740", "2000", 5, 0),
    ]
}
COINM_EXCHANGE_INFO: dict[str, Any] = {
    "symbols": [
        _coinm("BTCUSD_PERP", "BTC", "0.1", 100, 1),
        _coinm("ETHUSD_PERP", "ETH", "0.01", 10, 2),
    ]
}

# COIN-M brackets are in coin (qty floors/caps). Binance's BTCUSD_PERP table as this catalog has
# always carried it; ../shared holds no real COIN-M snapshot to check it against, so it is named
# as unverified in every backtest that uses it, and no other COIN-M symbol borrows it.
_COINM_BTCUSD_BRACKETS = [
    (125, 0, 5, "0.004", "0"),
    (100, 5, 10, "0.005", "0.005"),
    (50, 10, 20, "0.01", "0.055"),
    (20, 20, 40, "0.025", "0.355"),
    (10, 40, 80, "0.05", "1.355"),
    (5, 80, 160, "0.1", "5.355"),
    (4, 160, 200, "0.125", "9.355"),
    (3, 200, 300, "0.15", "14.355"),
    (2, 300, 500, "0.25", "44.355"),
    (1, 500, 1000, "0.5", "169.355"),
]

# The built-in USD-M brackets: Binance's own `GET /fapi/v1/leverageBracket` answer of 2024-10-24
# for 349 symbols (shipped as package data; source and checks in ../shared/binance/brackets/README.md).
# Brackets drift without notice, so every backtest names this snapshot, `--brackets FILE` replaces
# it, and a live run uses the account's own brackets.
BRACKETS_SNAPSHOT = "fapi_v1_leverageBracket-2024-10-24.json"
BRACKETS_SOURCE = {
    Market.USDM: "built-in snapshot of Binance GET /fapi/v1/leverageBracket, 2024-10-24 (349 USD-M symbols, "
    "from freqtrade's binance_leverage_tiers.json)",
    Market.COINM: "built-in COIN-M table for BTCUSD_PERP only (source unverified: no COIN-M snapshot shipped)",
}
BRACKETS_HINT = (
    "pass --brackets FILE, a saved leverageBracket response (GET /fapi/v1/leverageBracket for USD-M, "
    "GET /dapi/v2/leverageBracket for COIN-M, signed with your API key)"
)


def _bracket_payload(symbol: str, rows: list[tuple[int, int, int, str, str]]) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "brackets": [
            {
                "bracket": i + 1,
                "initialLeverage": lev,
                "qtyFloor": floor,
                "qtyCap": cap,
                "maintMarginRatio": mmr,
                "cum": cum,
            }
            for i, (lev, floor, cap, mmr, cum) in enumerate(rows)
        ],
    }


@functools.cache
def _usdm_snapshot() -> dict[str, BracketTable]:
    raw = resources.files("rulebot.feeds").joinpath("brackets", BRACKETS_SNAPSHOT).read_text(encoding="utf-8")
    return brackets_from_payload(json.loads(raw), Market.USDM)


def builtin_instruments(market: Market) -> dict[str, Instrument]:
    info = USDM_EXCHANGE_INFO if market is Market.USDM else COINM_EXCHANGE_INFO
    return instruments_from_exchange_info(info, market)


def builtin_brackets(market: Market) -> dict[str, BracketTable]:
    """The built-in brackets per symbol (a fresh dict: callers may add to it)."""
    if market is Market.USDM:
        return dict(_usdm_snapshot())
    return brackets_from_payload([_bracket_payload("BTCUSD_PERP", _COINM_BTCUSD_BRACKETS)], market)


# What a symbol outside `listed_symbols` is not in, for the compiler's "unknown symbol" message.
BUILT_IN_UNKNOWN = "not in the built-in catalog nor in the built-in leverage brackets"


def listed_symbols(market: Market) -> frozenset[str]:
    """Every symbol the built-in data knows Binance lists: the catalog's and the brackets snapshot's.
    A backtest runs any of them (a symbol outside the catalog on a grid inferred from its data)."""
    return frozenset(builtin_instruments(market)) | frozenset(builtin_brackets(market))


def brackets_for(
    symbols: Iterable[str], market: Market, tables: Mapping[str, BracketTable], source: str
) -> dict[str, BracketTable]:
    """`symbols`' own brackets from `tables`; a symbol without any is the user's to provide,
    never another symbol's table in its place."""
    missing = [s for s in symbols if s not in tables]
    if missing:
        raise BracketsMissing(f"no leverage brackets for {', '.join(missing)} in the {source}; {BRACKETS_HINT}")
    return {s: tables[s] for s in symbols}


class BracketsMissing(ValueError):
    """A symbol has no brackets from any source given."""


def _places(value: Decimal) -> int:
    """Digits after the point of a finite tick or step (0.10 -> 1, 1E+1 -> 0)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def generic_instrument(symbol: str, market: Market, tick: Decimal, step: Decimal) -> Instrument:
    """A spec for a symbol the catalog lacks, with tick and step taken from the data."""
    if market is Market.USDM:
        base = symbol.removesuffix("USDT").removesuffix("USDC") or symbol
        prec_p, prec_q = _places(tick), _places(step)
        info = _usdm(
            symbol,
            base,
            str(tick),
            str(step),
            str(step),
            "100000000",
            "100000000",
            "5",
            str(tick),
            "100000000",
            int(prec_p),
            int(prec_q),
        )
        return instruments_from_exchange_info({"symbols": [info]}, market)[symbol]
    base = symbol.split("USD_")[0]
    info = _coinm(symbol, base, str(tick), int(coinm_contract_size(symbol)), _places(tick))
    return instruments_from_exchange_info({"symbols": [info]}, market)[symbol]


def coinm_contract_size(symbol: str) -> Decimal:
    """USD per contract of a COIN-M symbol the catalog lacks: 100 for the BTCUSD pair (perpetual
    and delivery alike), 10 for the others (FACTS §5; exchangeInfo's `contractSize` decides)."""
    return Decimal(100) if symbol.split("_")[0] == "BTCUSD" else Decimal(10)
