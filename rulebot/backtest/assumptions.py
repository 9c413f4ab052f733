"""What a backtest assumed, in one place: the summary's `assumptions` section, the JSON's
`assumptions` object and the report's rows are all built here, so they cannot disagree.

Each line names a source (a file, a snapshot and its date, a default) or the stand-in used
when the data had none, because each is a way a backtest can flatter a strategy: fills at
the last price, a mark that never wicks, funding that counts as 0, another symbol's brackets.
"""

from __future__ import annotations

from typing import Any

from rulebot.backtest.result import BacktestResult
from rulebot.backtest.text import rate
from rulebot.core.instruments import pays_funding

Row = tuple[str, str]

# exchange_sim/liquidation.py, said once for people (docs/backtest-liquidation.md has the sources).
LIQUIDATION_MODEL = (
    "Binance's: by mark price; an isolated position above bracket 1 cut one bracket at a time, cross "
    "closed whole; LIQUIDATION orders at the tick-rounded bankruptcy price; clearance fee"
)
ADL_OFF = "off: not modelled, a crash never closes a profitable position here (--adl models it)"
FEES_DEFAULT = "Binance's VIP 0 defaults; --fees maker,taker sets your account's"
FEES_GIVEN = "--fees"


def fees_source(fee_rates: object, default: object) -> str:
    """Where the fee rates came from: the defaults, or --fees."""
    return FEES_DEFAULT if fee_rates == default else FEES_GIVEN


def funding_text(result: BacktestResult, symbol: str) -> str:
    """Where a symbol's funding came from, and what a missing rate did to it."""
    if not pays_funding(symbol):
        return "none: a delivery contract pays no funding"
    rates = result.funding_rates.get(symbol, 0)
    missed = result.unfunded.get(symbol, 0)
    if rates:
        text = f"fundingRate data ({rates} rate{'s' * (rates != 1)} in the period)"
        if missed:
            text += f"; {missed} funding time(s) held without a rate count as 0 (see the warning)"
        return text
    if missed:
        return f"none in the data: {missed} funding time(s) held across count as 0 (see the warning)"
    return "none in the data (no position was held across a funding time, so none was owed)"


def _per_symbol(result: BacktestResult, text: dict[str, str]) -> str:
    kinds = set(text.values())
    if not kinds:
        return "-"
    if len(kinds) == 1:
        return kinds.pop()
    return "; ".join(f"{s}: {t}" for s, t in sorted(text.items()))


def liquidation_text(result: BacktestResult) -> str:
    fees = result.clearance_rates
    if not fees:
        return LIQUIDATION_MODEL
    rates = {rate(r) for r in fees.values()}
    if len(rates) == 1:
        return f"{LIQUIDATION_MODEL} {rates.pop()} of the notional"
    return f"{LIQUIDATION_MODEL} " + ", ".join(f"{s} {rate(r)}" for s, r in sorted(fees.items())) + " of the notional"


def adl_model_text(result: BacktestResult) -> str:
    return ADL_OFF if result.adl_model == "off" else result.adl_model


def assumption_rows(result: BacktestResult) -> list[Row]:
    """The summary's `assumptions` section: one row per assumption."""
    fees = result.fee_rates
    return [
        ("fill model", result.fill_model.describe()),
        ("mark price", result.mark_price_text),
        ("funding", _per_symbol(result, {s: funding_text(result, s) for s in result.all_symbols})),
        ("brackets", result.brackets_source or "-"),
        ("fee rates", f"maker {rate(fees.maker)}, taker {rate(fees.taker)} ({result.fees_source or FEES_GIVEN})"),
        ("liquidation", liquidation_text(result)),
        ("ADL model", adl_model_text(result)),
    ]


def assumptions_dict(result: BacktestResult) -> dict[str, Any]:
    """The JSON's `assumptions`: the same facts, as values a script can test."""
    fees = result.fee_rates
    return {
        "fill_model": {
            "name": result.fill_model.name,
            **result.fill_model.parameters(),
            "text": result.fill_model.describe(),
        },
        "mark_price": dict(sorted(result.mark_sources.items())),
        "funding": {
            s: {
                "source": "fundingRate" if result.funding_rates.get(s) else "none",
                "rates": result.funding_rates.get(s, 0),
                "unfunded_times": result.unfunded.get(s, 0),
                "text": funding_text(result, s),
            }
            for s in result.all_symbols
        },
        "brackets": result.brackets_source or None,
        "fees": {"maker": str(fees.maker), "taker": str(fees.taker), "source": result.fees_source or FEES_GIVEN},
        "liquidation": {
            "model": LIQUIDATION_MODEL,
            "clearance_rates": {s: f"{r.normalize():f}" for s, r in sorted(result.clearance_rates.items())},
        },
        "adl": {"enabled": result.adl_model != "off", "model": result.adl_model},
    }
