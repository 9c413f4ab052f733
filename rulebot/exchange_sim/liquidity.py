"""The realistic fill model's liquidity: how much of a bar we may take, and what it costs.

A bar is the candle being walked (`on_bar`, kline data) or, on trade data, the UTC minute
(`on_trade` counts its volume). Our fills in one bar, taker and maker alike, never exceed
`participation` of the bar's volume; on trade data the volume is the larger of the last
complete minute's and the current minute's so far (only the past is known when an order
arrives). Quantity a real book top quoted is observed liquidity and fills without the cap
(it is still counted as used).

Impact beyond the book top is square-root in participation (docs/fill-model.md):

    impact_bps = impact_bps_at_100% * sqrt((used_in_bar + qty) / bar_volume)

State is per symbol and per bar and reset at each new bar, so a run that skips quiet bars
gets the same fills as one that walks them (the fast backtest path relies on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from rulebot.core.enums import Rounding, Side
from rulebot.core.instruments import Instrument
from rulebot.exchange_sim.model import FillModel

ZERO = Decimal(0)
BPS = Decimal(10000)
MINUTE_MS = 60_000
# Members at hand: `Side.BUY` through the class is a slow lookup on Python 3.11 (EnumType.__getattr__),
# and every taker fill of the realistic model prices its impact here.
_BUY, _UP, _DOWN = Side.BUY, Rounding.UP, Rounding.DOWN


@dataclass(slots=True)
class Bar:
    key: int | None = None  # the candle's open time, or the minute (trade data)
    volume: Decimal = ZERO  # what the cap is a share of
    used: Decimal = ZERO  # our fills in this bar
    previous: Decimal = ZERO  # trade data: the last complete minute's volume
    from_candles: bool = False  # volume comes from candles; trades only walk them


class Liquidity:
    """Per-symbol budgets of the realistic model (`FillModel.participation` is set)."""

    def __init__(self, model: FillModel) -> None:
        assert model.participation is not None
        self.share = model.participation
        self.impact = model.impact_bps
        self._bars: dict[str, Bar] = {}

    def _bar(self, symbol: str) -> Bar:
        bar = self._bars.get(symbol)
        if bar is None:
            bar = self._bars[symbol] = Bar()
        return bar

    def on_bar(self, symbol: str, open_time: int, volume: Decimal) -> None:
        """A candle is about to be walked: a new bar with its volume."""
        bar = self._bar(symbol)
        bar.from_candles = True
        if bar.key != open_time:
            bar.key, bar.volume, bar.used = open_time, max(volume, ZERO), ZERO

    def on_trade(self, symbol: str, time: int, qty: Decimal) -> None:
        """A trade printed: on trade data it counts toward its minute's volume."""
        bar = self._bar(symbol)
        if bar.from_candles:
            return  # the candle's walk: its volume is already the bar's
        minute = time // MINUTE_MS
        if bar.key != minute:
            bar.previous = bar.volume if bar.key is not None and minute == bar.key + 1 else ZERO
            bar.key, bar.volume, bar.used = minute, ZERO, ZERO
        bar.volume += qty

    def on_trades(self, symbol: str, time: int, qtys: Iterable[Decimal]) -> None:
        """Trades of the minute of `time` printed, in order, at least one (the fast backtest path
        folds them): each counts as `on_trade` counts it, without a call per trade."""
        bar = self._bar(symbol)
        if bar.from_candles:
            return
        minute = time // MINUTE_MS
        if bar.key != minute:
            bar.previous = bar.volume if bar.key is not None and minute == bar.key + 1 else ZERO
            bar.key, bar.volume, bar.used = minute, ZERO, ZERO
        volume = bar.volume
        for qty in qtys:  # in order, as trade by trade: the very same Decimal sums
            volume += qty
        bar.volume = volume

    def volume(self, symbol: str) -> Decimal:
        return _volume(self._bar(symbol))

    def left(self, inst: Instrument, symbol: str) -> Decimal:
        """What we may still fill in this bar, on the quantity step grid."""
        bar = self._bar(symbol)  # once: every taker fill and every maker budget asks
        room = self.share * _volume(bar) - bar.used
        return inst.round_qty(room) if room > 0 else ZERO

    def use(self, symbol: str, qty: Decimal) -> None:
        self._bar(symbol).used += qty

    def impact_bps(self, symbol: str, qty: Decimal) -> Decimal:
        """Impact of filling `qty` more in this bar (bps, square root of participation)."""
        bar = self._bar(symbol)
        volume = _volume(bar)
        if self.impact == 0 or qty <= 0:
            return ZERO
        if volume <= 0:
            return self.impact  # nothing traded: never cheaper than full participation
        return self.impact * ((bar.used + qty) / volume).sqrt()

    def most_within(self, inst: Instrument, symbol: str, allowed_bps: Decimal) -> Decimal | None:
        """The most quantity whose impact stays within `allowed_bps` (None: no bound)."""
        if self.impact == 0:
            return None
        if allowed_bps <= 0:
            return ZERO
        total = (allowed_bps / self.impact) ** 2 * self.volume(symbol)
        room = total - self._bar(symbol).used
        return inst.round_qty(room) if room > 0 else ZERO


def _volume(bar: Bar) -> Decimal:
    """What the bar's cap is a share of: the candle's volume, or on trade data the larger of the
    last complete minute's and the current one's so far."""
    return bar.volume if bar.from_candles else max(bar.volume, bar.previous)


def impacted(inst: Instrument, price: Decimal, side: Side, bps: Decimal) -> Decimal:
    """`price` made `bps` worse for a taker on `side`, rounded to the tick against it."""
    if bps == 0:
        return price
    buy = side is _BUY
    worse = price * (1 + bps / BPS) if buy else price * (1 - bps / BPS)
    # never below one tick: a sell rounded down to zero would be a fill no exchange makes
    return max(inst.round_price(worse, _UP if buy else _DOWN), inst.price_filter.tick_size)


def room_bps(price: Decimal, side: Side, limit: Decimal | None) -> Decimal | None:
    """How many bps worse than `price` a `side` taker limited at `limit` may still pay."""
    if limit is None:
        return None
    gap = (limit - price) if side is _BUY else (price - limit)
    return gap / price * BPS
