"""A seeded synthetic Binance futures market: a reproducible event stream for demos and tests.

`SimulatedMarket(seed=7)` yields a day of BTCUSDT from 2024-06-01 00:00 UTC around 60000:
`Trade`, `BookTop`, `IndexPrice`, `MarkPrice` and `FundingRate` events (and `CandleClosed`
if `emit_candles` asks for them), time-ordered across kinds and symbols, lazily and in
constant memory, identical for the same config and seed.

What it is: a stream with the statistical features rules and guards react to. The log price
is a random walk whose drift, volatility, trade rate and spread follow regimes (trend up,
trend down, range, volatile) switched by a Markov chain; Poisson jumps and scheduled
cascades (the `crash` preset) move it abruptly; trades arrive as a Poisson process with
log-normal sizes, takers leaning with the short-term direction; the book top brackets the
price at 1..N ticks; index = price plus noise, mark = index * (1 + a mean-reverting premium),
funding by Binance's formula from the premium's weighted mean over the interval. Prices are
on the tick grid and quantities on the step grid, as `Decimal`.

What it is not: a market-microstructure model. No order book beyond the top, no impact of
your own orders (pair it with the paper venue for fills), no liquidity that dries up, no
correlation between symbols (each has its own seeded path; scheduled jumps hit all at once),
no fat tails beyond what regimes and jumps give, and no claim to match any real period. The
premium is sampled every second rather than from impact prices, and the mark price is
rounded to the tick (Binance quotes it with more decimals).

Presets (`PRESETS`): `calm`, `trending`, `volatile`, `crash`; see `simulated_config.py`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import replace
from operator import attrgetter

from rulebot.core.events import MarketEvent
from rulebot.feeds.simulated.config import (
    BTCUSD_PERP,
    BTCUSDT,
    DEFAULT_REGIMES,
    ETHUSDT,
    PRESETS,
    Regime,
    RegimeSpec,
    ScheduledJump,
    SimulatedMarketConfig,
    SymbolSpec,
    preset,
)
from rulebot.feeds.simulated.stream import symbol_events

__all__ = [
    "BTCUSDT",
    "BTCUSD_PERP",
    "DEFAULT_REGIMES",
    "ETHUSDT",
    "PRESETS",
    "Regime",
    "RegimeSpec",
    "ScheduledJump",
    "SimulatedMarket",
    "SimulatedMarketConfig",
    "SymbolSpec",
    "preset",
]

_TIME = attrgetter("time")


class SimulatedMarket:
    """A synthetic market; iterate it (or call `events()`) for its events, as often as wanted.

    `config` defaults to `SimulatedMarketConfig()` (BTCUSDT, one day); `preset` picks a named
    config instead (not both); `seed`, if given, replaces the config's seed.
    """

    __slots__ = ("config",)

    def __init__(
        self,
        config: SimulatedMarketConfig | None = None,
        *,
        seed: int | None = None,
        preset: str | None = None,
    ) -> None:
        if config is not None and preset is not None:
            raise ValueError(
                "give a config or a preset, not both; to change a preset, "
                "use dataclasses.replace(simulated.preset(name), ...)"
            )
        if config is None:
            config = _preset(preset) if preset is not None else SimulatedMarketConfig()
        self.config = config if seed is None else replace(config, seed=seed)

    def events(self) -> Iterator[MarketEvent]:
        """A fresh, lazy, time-ordered stream of every symbol's events."""
        streams = [symbol_events(self.config, spec) for spec in self.config.symbols]
        if len(streams) == 1:
            return streams[0]
        # heapq.merge breaks time ties by argument position: symbols keep their config order.
        return heapq.merge(*streams, key=_TIME)

    def __iter__(self) -> Iterator[MarketEvent]:
        return self.events()


_preset = preset  # the constructor's `preset` argument shadows the function inside __init__
