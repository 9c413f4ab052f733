"""exchangeInfo (`/fapi/v1/exchangeInfo`, `/dapi/v1/exchangeInfo`) into core `Instrument`s."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rulebot.core.enums import Market
from rulebot.core.instruments import ONE, Instrument, LotSize, PercentPrice, PriceFilter


class InstrumentParseError(ValueError):
    """An exchangeInfo symbol entry lacks a field or holds one that is not a number."""


def _dec(raw: Any, symbol: str, field: str) -> Decimal:
    # JSON numbers may arrive as float (json.load) or Decimal (parse_float=Decimal); str() of a
    # float is its shortest repr, so 0.004 becomes Decimal("0.004"), not the binary expansion.
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise InstrumentParseError(f"{symbol}: {field} is not a number: {raw!r}")
    try:
        value = Decimal(str(raw))
    except ArithmeticError as exc:
        raise InstrumentParseError(f"{symbol}: {field} is not a number: {raw!r}") from exc
    if not value.is_finite():  # NaN failed far away; an infinite min notional refused every order
        raise InstrumentParseError(f"{symbol}: {field} is not a finite number: {raw!r}")
    return value


def _opt_dec(info: Mapping[str, Any], key: str, symbol: str) -> Decimal | None:
    raw = info.get(key)
    return None if raw is None else _dec(raw, symbol, key)


def _lot(f: Mapping[str, Any], symbol: str) -> LotSize:
    name = str(f.get("filterType"))
    return LotSize(
        _dec(f.get("minQty"), symbol, f"{name}.minQty"),
        _dec(f.get("maxQty"), symbol, f"{name}.maxQty"),
        _dec(f.get("stepSize"), symbol, f"{name}.stepSize"),
    )


def instrument_from_exchange_info(symbol_info: Mapping[str, Any], market: Market) -> Instrument:
    """Parse one entry of `symbols[]` from `/fapi/v1/exchangeInfo` or `/dapi/v1/exchangeInfo`.

    Unknown filter types are ignored (Binance adds filters over time); a missing PRICE_FILTER
    or LOT_SIZE, or COIN-M without `contractSize`, raises `InstrumentParseError`.
    """
    symbol = str(symbol_info.get("symbol", "?"))
    filters = {str(f.get("filterType")): f for f in symbol_info.get("filters", ())}
    for required in ("PRICE_FILTER", "LOT_SIZE"):
        if required not in filters:
            raise InstrumentParseError(f"{symbol}: exchangeInfo has no {required} filter")
    pf = filters["PRICE_FILTER"]
    lot = _lot(filters["LOT_SIZE"], symbol)
    # No MARKET_LOT_SIZE means market orders are held to LOT_SIZE.
    market_lot = _lot(filters["MARKET_LOT_SIZE"], symbol) if "MARKET_LOT_SIZE" in filters else lot
    percent = None
    if "PERCENT_PRICE" in filters:
        pp = filters["PERCENT_PRICE"]
        percent = PercentPrice(
            _dec(pp.get("multiplierUp"), symbol, "PERCENT_PRICE.multiplierUp"),
            _dec(pp.get("multiplierDown"), symbol, "PERCENT_PRICE.multiplierDown"),
            int(pp.get("multiplierDecimal", 0)),
        )
    if market is Market.COINM:
        if "contractSize" not in symbol_info:
            raise InstrumentParseError(f"{symbol}: COIN-M symbol without contractSize")
        contract_size = _dec(symbol_info["contractSize"], symbol, "contractSize")
    else:
        contract_size = ONE

    def limit(name: str) -> int | None:
        return int(filters[name]["limit"]) if name in filters else None

    min_notional = None
    if "MIN_NOTIONAL" in filters:
        mn = filters["MIN_NOTIONAL"]
        # Futures name the field `notional`; spot's `minNotional` is accepted as a fallback.
        min_notional = _dec(mn.get("notional", mn.get("minNotional")), symbol, "MIN_NOTIONAL")
    return Instrument(
        symbol=symbol,
        market=market,
        base_asset=str(symbol_info.get("baseAsset", "")),
        quote_asset=str(symbol_info.get("quoteAsset", "")),
        margin_asset=str(symbol_info.get("marginAsset", "")),
        price_filter=PriceFilter(
            _dec(pf.get("minPrice"), symbol, "PRICE_FILTER.minPrice"),
            _dec(pf.get("maxPrice"), symbol, "PRICE_FILTER.maxPrice"),
            _dec(pf.get("tickSize"), symbol, "PRICE_FILTER.tickSize"),
        ),
        lot_size=lot,
        market_lot_size=market_lot,
        contract_size=contract_size,
        price_precision=int(symbol_info.get("pricePrecision", 8)),
        quantity_precision=int(symbol_info.get("quantityPrecision", 8)),
        min_notional=min_notional,
        percent_price=percent,
        max_num_orders=limit("MAX_NUM_ORDERS"),
        max_num_algo_orders=limit("MAX_NUM_ALGO_ORDERS"),
        maint_margin_percent=_opt_dec(symbol_info, "maintMarginPercent", symbol),
        required_margin_percent=_opt_dec(symbol_info, "requiredMarginPercent", symbol),
        liquidation_fee=_opt_dec(symbol_info, "liquidationFee", symbol),
        market_take_bound=_opt_dec(symbol_info, "marketTakeBound", symbol),
        trigger_protect=_opt_dec(symbol_info, "triggerProtect", symbol),
        pair=str(symbol_info.get("pair", "")),
        contract_type=str(symbol_info.get("contractType", "")),
        # USDⓈ-M says `status`, COIN-M says `contractStatus`.
        status=str(symbol_info.get("status", symbol_info.get("contractStatus", ""))),
        order_types=frozenset(str(t) for t in symbol_info.get("orderTypes", ())),
        time_in_force=frozenset(str(t) for t in symbol_info.get("timeInForce", ())),
    )


def instruments_from_exchange_info(payload: Mapping[str, Any], market: Market) -> dict[str, Instrument]:
    """Parse every symbol of an exchangeInfo response, keyed by symbol."""
    return {
        inst.symbol: inst for inst in (instrument_from_exchange_info(s, market) for s in payload.get("symbols", ()))
    }
