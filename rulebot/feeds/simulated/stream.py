"""The generator behind `SimulatedMarket`: one symbol's events, in time order, in O(1) memory.

The loop keeps three clocks (next trade, next whole second, next periodic book top) and
advances the log price exactly (Gaussian increments scaled by √dt) to whichever comes first.
Regime switches, jumps, the premium, index, mark and funding move on whole seconds; trades
and book tops in between. Prices live as integer ticks and quantities as integer steps until
an event is built; their `Decimal`s come from small bounded caches, since most prints repeat
a price seen a moment ago.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from math import exp, inf, log, sqrt, tanh

from rulebot.core.events import (
    BookTop,
    CandleClosed,
    FundingRate,
    IndexPrice,
    MarketEvent,
    MarkPrice,
    Trade,
)
from rulebot.feeds.simulated.config import (
    DAY_MS,
    HOUR_MS,
    Regime,
    SimulatedMarketConfig,
    SymbolSpec,
    timeframe_ms,
)

_CACHE_LIMIT = 1 << 12  # entries per Decimal cache; cleared when full, so memory stays flat
_RATE_SCALE = Decimal("1E-8")  # Binance quotes funding rates with 8 decimals
_FLOW_TAU_MS = 5_000.0  # memory of the short-term direction that tilts the taker side
_TAKER_TILT = 0.3  # at most 80/20 buyers vs sellers when the flow is strong
_FUNDING_BAND = 0.0005  # the ±0.05 % clamp of (I - P) in Binance's funding formula
_MONDAY_OFFSET_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; weekly klines open on Mondays
ZERO = Decimal(0)


def _fill(cache: dict[int, Decimal], n: int, scale: Decimal) -> Decimal:
    """Cache miss: build `n * scale` (exact: an integer times the grid size)."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    d = cache[n] = Decimal(n) * scale
    return d


class _Candle:
    """One timeframe's bucket under construction, in ticks and steps (exact)."""

    __slots__ = (
        "close",
        "end",
        "high",
        "interval",
        "low",
        "open",
        "quote",
        "quote_coin",
        "start",
        "taker_steps",
        "timeframe",
        "trades",
        "volume_steps",
    )

    def __init__(self, timeframe: str, start_time: int) -> None:
        self.timeframe = timeframe
        self.interval = timeframe_ms(timeframe)
        offset = _MONDAY_OFFSET_MS if timeframe.endswith("w") else 0
        self.start = (start_time - offset) // self.interval * self.interval + offset
        self.end = self.start + self.interval
        self.open = self.high = self.low = self.close = 0  # ticks; 0 = no trade seen yet
        self.volume_steps = self.taker_steps = self.trades = 0
        self.quote = 0  # Σ ticks * steps (USDT-M quote volume, exact)
        self.quote_coin = ZERO  # Σ contracts * size / price (COIN-M base volume)

    def add(self, ticks: int, steps: int, buyer_taker: bool) -> None:
        if self.trades == 0:
            self.open = self.high = self.low = ticks
        elif ticks > self.high:
            self.high = ticks
        elif ticks < self.low:
            self.low = ticks
        self.close = ticks
        self.trades += 1
        self.volume_steps += steps
        self.quote += ticks * steps
        if buyer_taker:
            self.taker_steps += steps

    def roll(self, spec: SymbolSpec) -> CandleClosed | None:
        """Close the current bucket and open the next; None before the first trade ever."""
        out = None
        if self.close:
            tick, step = spec.tick_size, spec.step_size
            if self.trades == 0:
                # A bucket without trades still closes, flat at the last close, as on Binance.
                self.open = self.high = self.low = self.close
            quote = self.quote_coin if spec.market.is_inverse else Decimal(self.quote) * (tick * step)
            out = CandleClosed(
                spec.symbol,
                self.timeframe,
                self.start,
                self.end - 1,
                Decimal(self.open) * tick,
                Decimal(self.high) * tick,
                Decimal(self.low) * tick,
                Decimal(self.close) * tick,
                Decimal(self.volume_steps) * step,
                quote,
                self.trades,
                Decimal(self.taker_steps) * step,
            )
        self.start = self.end
        self.end += self.interval
        self.volume_steps = self.taker_steps = self.trades = self.quote = 0
        self.quote_coin = ZERO
        return out


def symbol_events(cfg: SimulatedMarketConfig, spec: SymbolSpec) -> Iterator[MarketEvent]:
    """All of one symbol's events from `cfg.start_time` to `cfg.end`, in time order.

    At equal milliseconds: candles that close there, then the index, the mark, the funding
    settlement, then a trade followed by the book top it left.
    """
    # A per-symbol stream (seeded by config seed and symbol name) keeps each symbol's path
    # the same when symbols are added or removed. str seeds hash with SHA-512: stable.
    rng = random.Random(f"{cfg.seed}:{spec.symbol}")
    rnd, gauss, expo = rng.random, rng.gauss, rng.expovariate
    sym = spec.symbol
    tick_d, step_d = spec.tick_size, spec.step_size
    inv_tick = 1.0 / float(tick_d)
    prices: dict[int, Decimal] = {}
    qtys: dict[int, Decimal] = {}
    inverse = spec.market.is_inverse
    size_d = spec.contract_size

    q_median = float(spec.trade_qty_median / step_d)
    q_sigma = spec.trade_qty_sigma
    book_mean = float(spec.book_qty_mean / step_d)

    # Per-regime parameters in per-millisecond units, looked up on a switch.
    params: dict[Regime, tuple[float, float, float, int, float]] = {}
    for r in cfg.regimes:
        sig = r.vol_per_day * spec.vol_scale / sqrt(DAY_MS)
        params[r.regime] = (
            r.drift_per_day / DAY_MS,
            sig,
            1000.0 / (cfg.trade_rate * r.trade_rate_scale),  # mean ms between trades
            r.max_spread_ticks,
            1.0 / (sig * sqrt(_FLOW_TAU_MS)) if sig > 0 else 0.0,
        )
    weights = {r.regime: r.weight for r in cfg.regimes}
    mean_ms = {r.regime: r.mean_duration_s * 1000.0 for r in cfg.regimes}
    bias = {r.regime: r.premium_bias for r in cfg.regimes}

    start = cfg.start_time
    end = float(cfg.end) if cfg.end is not None else inf
    t = float(start)
    x = log(float(spec.start_price))
    flow = 0.0
    inv_tau = 1.0 / _FLOW_TAU_MS

    regime = cfg.initial_regime
    mu, sig, gap, spread_max, inv_flow = params[regime]

    def duration(r: Regime) -> float:
        return expo(1.0 / mean_ms[r])

    def next_regime(current: Regime) -> Regime:
        others = [r for r in weights if r is not current and weights[r] > 0]
        if not others:
            return current
        return rng.choices(others, [weights[r] for r in others])[0]

    next_switch = t + duration(regime)
    next_trade = t + expo(1.0 / gap)
    next_sec = float(-(-start // 1000) * 1000)
    book_every = cfg.book_interval_ms
    per_trade_book = book_every == 0
    next_book = inf if per_trade_book else float(-(-start // book_every) * book_every)
    jump_rate_ms = cfg.jump_rate_per_day / DAY_MS
    next_jump = t + expo(jump_rate_ms) if jump_rate_ms > 0 else inf
    scheduled = sorted(cfg.scheduled_jumps, key=lambda j: j.at_ms)
    sched_i = 0
    cascade_left, cascade_step, cascade_target = 0, 0.0, 0.0

    # Premium: an exact Ornstein-Uhlenbeck step per second.
    decay = exp(-log(2.0) / cfg.premium_half_life_s)
    p_noise = cfg.premium_std * sqrt(1.0 - decay * decay)
    premium = cfg.premium_mean + bias[regime]
    p_target = premium
    index_noise = cfg.index_noise

    # Funding: I is quoted per 8 h; P is the 1..n-weighted mean of this interval's samples.
    interval_ms = cfg.funding_interval_hours * HOUR_MS
    interest = cfg.interest_rate * cfg.funding_interval_hours / 8
    cap = cfg.funding_cap
    # A start on a funding time settles there too (from the opening premium alone), so a run
    # over [00:00, 24:00) holds all three 8 h settlements of that day.
    next_funding = -(-start // interval_ms) * interval_ms
    n_samples, w_sum, wp_sum = 0, 0.0, 0.0

    candles = [_Candle(tf, start) for tf in cfg.emit_candles]
    next_candle_end = min((c.end for c in candles), default=inf)

    trade_id = 0
    update_id = 0
    bid = ask = bid_steps = ask_steps = 1

    while True:
        if next_trade < next_sec and next_trade < next_book:
            # ---- a trade (and the book top it leaves) --------------------------------------
            if next_trade >= end:
                break
            dt = next_trade - t
            t = next_trade
            dx = mu * dt + sig * sqrt(dt) * gauss()
            x += dx
            flow = flow * exp(-dt * inv_tau) + dx
            mid = exp(x) * inv_tick
            u = rnd()
            spread = 1 + int(u * u * spread_max)  # mostly tight, now and then wide
            bid = int(mid - (spread - 1) * 0.5)
            if bid < 1:
                bid = 1  # never a price of 0, however low the walk goes
            ask = bid + spread
            buyer_taker = rnd() < 0.5 + _TAKER_TILT * tanh(flow * inv_flow)
            steps = int(q_median * exp(q_sigma * gauss()) + 0.5) or 1
            ticks = ask if buyer_taker else bid
            price = prices.get(ticks)
            if price is None:
                price = _fill(prices, ticks, tick_d)
            qty = qtys.get(steps)
            if qty is None:
                qty = _fill(qtys, steps, step_d)
            ms = int(t)
            trade_id += 1
            yield Trade(sym, price, qty, ms, not buyer_taker, trade_id)
            if candles:
                for c in candles:
                    c.add(ticks, steps, buyer_taker)
                    if inverse:
                        c.quote_coin += qty * size_d / price
            bid_steps = 1 + int(book_mean * -log(1.0 - rnd()))
            ask_steps = 1 + int(book_mean * -log(1.0 - rnd()))
            if per_trade_book:
                update_id += 1
                yield _book(sym, bid, ask, bid_steps, ask_steps, ms, update_id, prices, qtys, tick_d, step_d)
            next_trade = t + expo(1.0 / gap)
        elif next_sec <= next_book:
            # ---- a whole second: candles, regime, jumps, index, mark, funding --------------
            now = int(next_sec)
            if next_candle_end <= now and next_candle_end <= end:
                for c in candles:
                    while c.end <= now:
                        closed = c.roll(spec)
                        if closed is not None:
                            yield closed
                next_candle_end = min(c.end for c in candles)
            if now >= end:
                break
            dt = next_sec - t
            t = next_sec
            if dt > 0:
                dx = mu * dt + sig * sqrt(dt) * gauss()
                x += dx
                flow = flow * exp(-dt * inv_tau) + dx
            new_regime = regime
            shift = 0.0
            if sched_i < len(scheduled) and now >= start + scheduled[sched_i].at_ms:
                job = scheduled[sched_i]
                sched_i += 1
                cascade_left = max(1, job.duration_ms // 1000)
                cascade_step = log(1.0 + job.size) / cascade_left
                cascade_target = x + log(1.0 + job.size)
                if job.regime is not None:
                    new_regime = job.regime
            if cascade_left:
                cascade_left -= 1
                shift += cascade_step
                if not cascade_left:
                    # The noise during the cascade must not eat into its promised size (a
                    # guard test relies on "at least 12 % down"): land at or past the target.
                    overshoot = cascade_target - (x + shift)
                    if overshoot * cascade_step > 0:
                        shift += overshoot
            if now >= next_jump:
                size = cfg.jump_min + (cfg.jump_max - cfg.jump_min) * rnd()
                shift += log(1.0 - size) if rnd() < cfg.jump_down_prob else log(1.0 + size)
                next_jump = t + expo(jump_rate_ms)
                if cfg.jump_regime is not None:
                    new_regime = cfg.jump_regime
            if shift:
                x += shift
                flow += shift  # a jump is a burst of one-sided flow
            if now >= next_switch and new_regime is regime:
                new_regime = next_regime(regime)
            if new_regime is not regime or now >= next_switch:
                regime = new_regime
                mu, sig, gap, spread_max, inv_flow = params[regime]
                p_target = cfg.premium_mean + bias[regime]
                next_switch = t + duration(regime)
                # Arrivals are memoryless: redrawing the next trade at the new rate is exact.
                next_trade = t + expo(1.0 / gap)

            premium = p_target + (premium - p_target) * decay + p_noise * gauss()
            index_f = exp(x) * (1.0 + index_noise * gauss())
            index_t = int(index_f * inv_tick + 0.5) or 1
            mark_t = int(index_f * (1.0 + premium) * inv_tick + 0.5) or 1
            n_samples += 1
            w_sum += n_samples
            wp_sum += n_samples * premium
            p_avg = wp_sum / w_sum
            rate_f = p_avg + min(max(interest - p_avg, -_FUNDING_BAND), _FUNDING_BAND)
            rate_f = min(max(rate_f, -cap), cap)
            rate = Decimal(round(rate_f * 1e8)) * _RATE_SCALE
            index_d = prices.get(index_t)
            if index_d is None:
                index_d = _fill(prices, index_t, tick_d)
            mark_d = prices.get(mark_t)
            if mark_d is None:
                mark_d = _fill(prices, mark_t, tick_d)
            yield IndexPrice(sym, index_d, now)
            # At a funding time the mark still belongs to the interval that settles now, so
            # its estimate is the rate that the FundingRate right after it applies.
            yield MarkPrice(sym, mark_d, now, index_d, rate, next_funding)
            if now >= next_funding:
                yield FundingRate(sym, rate, next_funding, mark_d, cfg.funding_interval_hours)
                next_funding += interval_ms
                n_samples, w_sum, wp_sum = 0, 0.0, 0.0
            next_sec += 1000.0
        else:
            # ---- a periodic book top (book_interval_ms > 0) --------------------------------
            if next_book >= end:
                break
            dt = next_book - t
            t = next_book
            dx = mu * dt + sig * sqrt(dt) * gauss()
            x += dx
            flow = flow * exp(-dt * inv_tau) + dx
            mid = exp(x) * inv_tick
            u = rnd()
            spread = 1 + int(u * u * spread_max)
            bid = max(1, int(mid - (spread - 1) * 0.5))
            ask = bid + spread
            bid_steps = 1 + int(book_mean * -log(1.0 - rnd()))
            ask_steps = 1 + int(book_mean * -log(1.0 - rnd()))
            update_id += 1
            yield _book(sym, bid, ask, bid_steps, ask_steps, int(t), update_id, prices, qtys, tick_d, step_d)
            next_book += book_every

    # The run ends: candles whose bucket closed before the end still close.
    for c in candles:
        while c.end <= end:
            closed = c.roll(spec)
            if closed is not None:
                yield closed


def _book(
    sym: str,
    bid: int,
    ask: int,
    bid_steps: int,
    ask_steps: int,
    ms: int,
    update_id: int,
    prices: dict[int, Decimal],
    qtys: dict[int, Decimal],
    tick: Decimal,
    step: Decimal,
) -> BookTop:
    bid_d = prices.get(bid)
    if bid_d is None:
        bid_d = _fill(prices, bid, tick)
    ask_d = prices.get(ask)
    if ask_d is None:
        ask_d = _fill(prices, ask, tick)
    bq = qtys.get(bid_steps)
    if bq is None:
        bq = _fill(qtys, bid_steps, step)
    aq = qtys.get(ask_steps)
    if aq is None:
        aq = _fill(qtys, ask_steps, step)
    return BookTop(sym, bid_d, bq, ask_d, aq, ms, update_id)
