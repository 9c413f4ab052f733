"""Rules the data never let run: they read a market value no event of the data ever gave.

A rule whose condition or actions read a name that is not ready yet is passed by, silently, as
the engine must (engine/dispatch.py): a funding rate before the first one arrives is no reason to
fail. But when the data never gives it at all (`funding_rate` on klines alone), the rule never ran
once, and a summary that shows no trades without saying why flatters nobody and misleads its
reader. Indicators that never warmed up are the warm-up report's (warmup.py); this covers the
market values.
"""

from __future__ import annotations

from dataclasses import dataclass

from rulebot.engine.engine import Engine
from rulebot.engine.env import MARKET_NAMES

# What the data needs for each market value (Binance's archive names), said in the warning.
_SOURCES = {
    "price": "trades, aggTrades or klines",
    "bid": "bookTicker files (or trades or klines, which stand in for the book)",
    "ask": "bookTicker files (or trades or klines, which stand in for the book)",
    "mark_price": "markPriceKlines files (or trades or klines, which stand in for the mark)",
    "index_price": "indexPriceKlines files",
    "funding_rate": "fundingRate files",
    "next_funding_in": "fundingRate files",
}


@dataclass(frozen=True, slots=True)
class NeverRan:
    """A rule that never ran on a symbol, and the values it waited for."""

    rule: str
    symbol: str
    missing: tuple[str, ...]

    def warning(self) -> str:
        names = ", ".join(self.missing)
        need = "; ".join(sorted({f"{n}: {_SOURCES[n]}" for n in self.missing}))
        return (
            f"{self.rule} never ran on {self.symbol}: it reads {names}, which the data never gave, so it could not "
            f"fire once; add with --data what provides it ({need})"
        )


def rules_that_never_ran(engine: Engine) -> tuple[NeverRan, ...]:
    """At the end of a run: every rule reading a market value still not ready on one of its symbols."""
    out = []
    for rule in engine.book.rules:
        for symbol in sorted(rule.symbols):
            run = engine.state.runs.get(symbol)
            if run is None:
                continue
            missing = tuple(n for n in MARKET_NAMES if n in rule.reads and n in run.market.not_ready)
            if missing:
                out.append(NeverRan(rule.name, symbol, missing))
    return tuple(out)
