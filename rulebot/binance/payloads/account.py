"""Account-level REST answers: leverage brackets (`leverageBracket`) and commission rates
(`commissionRate`), USD-M and COIN-M, into core values."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from rulebot.binance.payloads.exchange_info import InstrumentParseError
from rulebot.core.enums import Market
from rulebot.core.fees import FeeRates
from rulebot.core.margin import Bracket, BracketTable


def _num(raw: Any, where: str) -> Decimal:
    # Bracket payloads are JSON numbers; str() of a float is its shortest repr (0.004, not the
    # binary expansion), so Decimal(str(x)) is exact for what Binance sent.
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise InstrumentParseError(f"{where} is not a number: {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():  # "abc" said only "[<class 'decimal.ConversionSyntax'>]"; "NaN" passed
        raise InstrumentParseError(f"{where} is not a finite number: {raw!r}")
    return value


def bracket_table_from_payload(entry: Mapping[str, Any], market: Market) -> BracketTable:
    """Parse one symbol's entry of `GET /fapi/v1/leverageBracket` or `/dapi/v2/leverageBracket`.

    COIN-M bounds brackets by `qtyFloor`/`qtyCap` in coin; the docs example spells the floor
    `qtylFloor` (FACTS §5), so both spellings are read.
    """
    symbol = str(entry.get("symbol", "?"))
    floor_keys = ("notionalFloor",) if market is Market.USDM else ("qtyFloor", "qtylFloor")
    cap_key = "notionalCap" if market is Market.USDM else "qtyCap"
    brackets = []
    for raw in entry.get("brackets", ()):
        where = f"{symbol} bracket {raw.get('bracket')}"
        floor = next((raw[k] for k in floor_keys if k in raw), None)
        if floor is None or cap_key not in raw:
            raise InstrumentParseError(f"{where}: needs {' or '.join(floor_keys)} and {cap_key}")
        try:
            bracket = Bracket(
                bracket=int(raw["bracket"]),
                initial_leverage=int(raw["initialLeverage"]),
                notional_floor=_num(floor, f"{where} floor"),
                notional_cap=_num(raw[cap_key], f"{where} {cap_key}"),
                maint_margin_ratio=_num(raw["maintMarginRatio"], f"{where} maintMarginRatio"),
                cum=_num(raw["cum"], f"{where} cum"),
            )
        except KeyError as exc:
            raise InstrumentParseError(f"{where}: missing {exc.args[0]}") from exc
        brackets.append(bracket)
    brackets.sort(key=lambda b: b.notional_floor)
    coef = entry.get("notionalCoef")
    return BracketTable(symbol, tuple(brackets), None if coef is None else _num(coef, "coef"))


def brackets_from_payload(payload: Any, market: Market) -> dict[str, BracketTable]:
    """Parse a leverageBracket response: a list of symbols, or one object when `symbol=` was
    sent (fapi v1 answers that way)."""
    entries = [payload] if isinstance(payload, Mapping) else list(payload)
    tables = (bracket_table_from_payload(e, market) for e in entries)
    return {t.symbol: t for t in tables}


def fee_rates_from_payload(payload: Mapping[str, Any]) -> FeeRates:
    """Parse a `/fapi/v1/commissionRate` or `/dapi/v1/commissionRate` response."""
    try:
        return FeeRates(
            maker=Decimal(str(payload["makerCommissionRate"])),
            taker=Decimal(str(payload["takerCommissionRate"])),
        )
    except (KeyError, ArithmeticError) as exc:
        raise InstrumentParseError(f"commissionRate payload unreadable: {payload!r}") from exc
