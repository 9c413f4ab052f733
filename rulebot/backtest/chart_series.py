"""Which indicator values a report draws: the ones a rule reads, on the price or in a panel.

The compiled rulebook knows every name each rule's condition and actions read; an indicator
any of whose outputs is read is drawn (all its outputs: a Bollinger band is drawn whole). An
average, channel or band of prices (sma/ema/wma/rma/highest/lowest/bbands of open, high, low
or close, vwap, or such an indicator of another) is in price units and is drawn over the
price; the rest (rsi, atr, stdev, macd, roc, zscore...) gets a panel of its own below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rulebot.rulebook.compiled import CandleInput, CompiledIndicator, CompiledRulebook, IndicatorInput, SeriesInput

_PRICE_FUNCTIONS = frozenset({"sma", "ema", "wma", "rma", "highest", "lowest", "bbands"})
_PRICE_FIELDS = frozenset({"open", "high", "low", "close"})
_LOOKBACK = re.compile(r"\[\d+\]$")


@dataclass(frozen=True, slots=True)
class IndicatorLine:
    key: str  # the env name the engine publishes: `ema_fast`, `bb.upper`
    indicator: str  # the indicator's name: `bb`
    definition: str  # as written: `bbands(close@15m, 20, 2)`
    on_price: bool  # in price units: drawn over the price; else in a panel of its own


def read_names(book: CompiledRulebook) -> set[str]:
    """Every scope name the rules read, look-backs (`x[1]`) and previous values as the name."""
    names: set[str] = set()
    for rule in book.rules:
        names |= rule.reads
        for action in rule.actions:
            names.update(getattr(action, "names", ()))
    return {_LOOKBACK.sub("", n.removeprefix("prev:")) for n in names}


def _keys(ind: CompiledIndicator) -> list[str]:
    return [f"{ind.name}.{o}" for o in ind.outputs] if ind.outputs else [ind.name]


def _on_price(ind: CompiledIndicator, by_name: dict[str, CompiledIndicator]) -> bool:
    if ind.function == "vwap":
        return True
    if ind.function not in _PRICE_FUNCTIONS:
        return False
    source = ind.input
    if isinstance(source, SeriesInput):
        return source.field in _PRICE_FIELDS
    if isinstance(source, IndicatorInput):
        upstream = by_name.get(source.name.split(".")[0])
        return upstream is not None and _on_price(upstream, by_name)
    return isinstance(source, CandleInput) and False


def drawn_indicators(book: CompiledRulebook) -> list[IndicatorLine]:
    """The indicators the rules read, in the rulebook's order."""
    read = read_names(book)
    by_name = {ind.name: ind for ind in book.indicators}
    lines = []
    for ind in book.indicators:
        keys = _keys(ind)
        if ind.name in read or any(k in read for k in keys):
            on_price = _on_price(ind, by_name)
            lines += [IndicatorLine(k, ind.name, ind.definition, on_price) for k in keys]
    return lines
