"""exchangeInfo and leverageBracket as the fake exchange serves them, built from instruments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from rulebot.core.enums import Market
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable

# What Binance reports today (FACTS §4); the client's limiter keeps below these.
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def _f(value: object) -> str:
    return format(value, "f")


def symbol_json(inst: Instrument) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": _f(inst.price_filter.min_price),
            "maxPrice": _f(inst.price_filter.max_price),
            "tickSize": _f(inst.price_filter.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": _f(inst.lot_size.min_qty),
            "maxQty": _f(inst.lot_size.max_qty),
            "stepSize": _f(inst.lot_size.step_size),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": _f(inst.market_lot_size.min_qty),
            "maxQty": _f(inst.market_lot_size.max_qty),
            "stepSize": _f(inst.market_lot_size.step_size),
        },
    ]
    if inst.max_num_orders is not None:
        filters.append({"filterType": "MAX_NUM_ORDERS", "limit": inst.max_num_orders})
    if inst.max_num_algo_orders is not None:
        filters.append({"filterType": "MAX_NUM_ALGO_ORDERS", "limit": inst.max_num_algo_orders})
    if inst.min_notional is not None:
        filters.append({"filterType": "MIN_NOTIONAL", "notional": _f(inst.min_notional)})
    if inst.percent_price is not None:
        pp = inst.percent_price
        filters.append(
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": _f(pp.multiplier_up),
                "multiplierDown": _f(pp.multiplier_down),
                "multiplierDecimal": str(pp.multiplier_decimal),
            }
        )
    out: dict[str, Any] = {
        "symbol": inst.symbol,
        "pair": inst.pair or inst.symbol,
        "contractType": inst.contract_type or "PERPETUAL",
        "baseAsset": inst.base_asset,
        "quoteAsset": inst.quote_asset,
        "marginAsset": inst.margin_asset,
        "pricePrecision": inst.price_precision,
        "quantityPrecision": inst.quantity_precision,
        "filters": filters,
        "orderTypes": sorted(inst.order_types)
        or ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": sorted(inst.time_in_force) or ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }
    # The rest of a symbol entry as Binance fills it: the catalog's values, else usual ones.
    out |= {
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": _f(inst.trigger_protect or Decimal("0.0500")),
        "liquidationFee": _f(inst.liquidation_fee or Decimal("0.012500")),
        "marketTakeBound": _f(inst.market_take_bound or Decimal("0.05")),
        "maintMarginPercent": _f(inst.maint_margin_percent or Decimal("2.5000")),
        "requiredMarginPercent": _f(inst.required_margin_percent or Decimal("5.0000")),
    }
    if inst.market is Market.COINM:
        out["contractStatus"] = inst.status or "TRADING"
        out["contractSize"] = int(inst.contract_size)
        out["equalQtyPrecision"] = 4
    else:
        out["status"] = inst.status or "TRADING"
        out["settlePlan"] = 0
    return out


def exchange_info_json(
    instruments: Iterable[Instrument], market: Market, now: int, rate_limits: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    out = {
        "timezone": "UTC",
        "serverTime": now,
        "rateLimits": rate_limits or RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [symbol_json(i) for i in instruments],
    }
    if market is Market.USDM:  # single-asset mode: no multi-assets margin assets listed
        out |= {"futuresType": "U_MARGINED", "assets": []}
    return out


def brackets_json(tables: Mapping[str, BracketTable], market: Market, symbol: str | None) -> Any:
    def entry(t: BracketTable) -> dict[str, Any]:
        floor, cap = ("notionalFloor", "notionalCap") if market is Market.USDM else ("qtyFloor", "qtyCap")
        return {
            "symbol": t.symbol,
            "brackets": [
                {
                    "bracket": b.bracket,
                    "initialLeverage": b.initial_leverage,
                    cap: float(b.notional_cap),
                    floor: float(b.notional_floor),
                    "maintMarginRatio": float(b.maint_margin_ratio),
                    "cum": float(b.cum),
                }
                for b in t.brackets
            ],
        }

    if symbol is not None:
        table = tables.get(symbol)
        return entry(table) if market is Market.USDM and table is not None else [entry(table)] if table else []
    return [entry(t) for t in tables.values()]
