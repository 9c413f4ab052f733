"""Run a compiled rulebook over a stream of market events against the exchange simulator.

One loop, no I/O of its own: events come from any iterable (archive replay, simulated
market), the engine decides, the paper venue fills, and every record can be handed to a
journal through `on_record`. Deterministic: the same rulebook and data give the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from rulebot.backtest import fast_path, fast_trades
from rulebot.backtest.assumptions import fees_source
from rulebot.backtest.candle_runs import CandleRuns, JumpedCandles
from rulebot.backtest.chart_series import drawn_indicators
from rulebot.backtest.collector import paced
from rulebot.backtest.config import DEFAULT_CONFIG
from rulebot.backtest.config import BacktestConfig as BacktestConfig  # re-exported: callers import it here
from rulebot.backtest.data_gaps import GapWatch, partial_first_candles
from rulebot.backtest.fast_path import FastSession
from rulebot.backtest.fast_trades import FastTrades
from rulebot.backtest.never_ran import rules_that_never_ran
from rulebot.backtest.open_end import open_at_end
from rulebot.backtest.result import BacktestResult, WorstDay
from rulebot.backtest.run_records import FORGET_AT, KEEP_FINISHED, RunRecords
from rulebot.backtest.run_samples import run_sampler, take_samples
from rulebot.backtest.sampling import Sampler
from rulebot.backtest.trade_clock import TradeClock
from rulebot.backtest.warmup import Warmup
from rulebot.core.enums import Market, PositionSide
from rulebot.core.errors import InvalidInput
from rulebot.core.events import CandleClosed, FundingRate, Trade
from rulebot.core.fees import DEFAULT_FEE_RATES
from rulebot.core.instruments import Instrument, pays_funding
from rulebot.core.margin import BracketTable
from rulebot.engine.engine import Engine
from rulebot.exchange_sim.liquidation import clearance_rate
from rulebot.feeds.replay import ReplaySource
from rulebot.feeds.trade_runs import TRADE_KINDS
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.session import Session, paper_venue

ZERO = Decimal(0)
_SIDES = tuple(PositionSide)  # iterating the enum itself is slow, and this runs once a sample

# Binance settles most perpetuals at 00:00, 08:00 and 16:00 UTC (FACTS §11); some settle every
# 4 hours, so a count on this grid is a floor.
FUNDING_INTERVAL_MS = 8 * 3_600_000


def market_of(book: CompiledRulebook) -> Market:
    return book.market_type


@paced  # the collector's pace for the run (collector.py)
def run_backtest(
    book: CompiledRulebook,
    events: Iterable[object],
    instruments: Mapping[str, Instrument],
    brackets: Mapping[str, BracketTable],
    config: BacktestConfig = DEFAULT_CONFIG,
    on_record: Callable[[object], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_step_end: Callable[[], None] | None = None,
) -> BacktestResult:
    symbols = tuple(book.symbols)
    symbol = symbols[0]
    inst = {s: instruments[s] for s in symbols}
    asset = inst[symbol].margin_asset
    assets = sorted({i.margin_asset for i in inst.values()})
    if len(assets) > 1:
        # One wallet per asset and no price between them: a total would add BTC to ETH.
        raise InvalidInput(
            f"the rulebook's symbols are margined in {' and '.join(assets)}: one backtest sums one margin "
            "asset; backtest them in separate rulebooks"
        )
    balances = {asset: config.balance}
    engine = Engine(
        book,
        inst,
        balances,
        run_id="bt",
        record_all_decisions=config.record_all_decisions,
        brackets={s: brackets[s] for s in book.symbols if s in brackets},
    )
    venue = paper_venue(
        book, inst, brackets, balances, fee_rates=config.fee_rates, fill_model=config.fill_model, adl=config.adl
    )
    sim = venue.sim
    result = BacktestResult(book.name, book.source_hash[:12], symbol, asset, 0, 0, config.balance, 0)
    result.symbols = symbols
    result.inverse = inst[symbol].is_inverse
    result.fee_rates = config.fee_rates
    result.adl_model = config.adl.describe()
    result.fees_source = fees_source(config.fee_rates, DEFAULT_FEE_RATES)
    result.fill_model = config.fill_model
    result.funding_by_symbol = {s: ZERO for s in symbols}
    result.decisions_by_symbol = {s: 0 for s in symbols}
    result.events_by_symbol = events_by_symbol = {s: 0 for s in symbols}
    result.indicator_lines = tuple(drawn_indicators(book))
    booked = {s: ZERO for s in symbols}  # realized - fees - funding so far, by symbol
    last_price: dict[str, Decimal] = {}
    # The samples the summary and the charts are computed from (sampling.py: bounded memory).
    drawn = [i.key for i in result.indicator_lines]
    sampler = Sampler(engine, symbols, config.balance, last_price, booked, drawn, config.chart_buckets)
    next_sample = 0

    cap_of: list[Any] = [None, None]  # the day whose cap is known (its DayStats) and that cap

    def note_day(equity: Decimal | None = None) -> None:
        """The lowest daily PnL so far, against the day's cap (the summary's worst day)."""
        today = engine.today
        if today is None:
            return
        if cap_of[0] is not today:  # the cap moves only with the day's start equity
            cap_of[0], cap_of[1] = today, engine.daily_cap(asset)
        cap = cap_of[1]
        if cap is None:
            return
        # Portfolio.daily_pnl, with the equity the sample computes anyway.
        pnl = engine.daily_pnl(asset) if equity is None else equity - today.start_equity.get(asset, ZERO)
        worst = result.worst_day
        if worst is None or pnl < worst.pnl:
            result.worst_day = WorstDay(today.day * 86_400_000, pnl, cap)

    def symbol_upnl(s: str) -> Decimal:
        return sum((engine.unrealized(s, side) for side in _SIDES), ZERO)

    sample = sampler.take
    orders = engine.state.oms.orders  # the engine's order records: forgotten by count, not by time

    changes = [0]  # how often the account or the orders may have changed (fast_trades' band is kept till then)

    def changed() -> None:
        changes[0] += 1
        note_day()

    def step_end() -> None:
        # The worst day is noted after every engine step that did something, as ever: a step that
        # only journals (no command) changes nothing the bands are drawn from, but the day is noted.
        note_day()
        if on_step_end is not None:
            on_step_end()

    settling = symbol  # the symbol of the market event being replayed
    records = RunRecords(engine, result, booked, last_price, asset, on_record, config.strict, lambda: settling)
    session = Session(
        engine,
        venue,
        journal=records.collect,
        on_report=records.report,
        on_change=changed,
        on_step_end=step_end,
        on_refused=records.refused,
    )
    count = 0
    time = 0
    # Funding times a position was held across, and the funding rates the data settled: more of
    # the first than of the second means funding the summary counts as 0 but Binance would charge.
    crossed = {s: 0 for s in symbols}
    settled = {s: 0 for s in symbols}
    rates = {s: 0 for s in symbols}  # funding rates the data held, held across or not
    funding_slot: int | None = None

    def holding(s: str) -> bool:
        return any(engine.position(s, side).amount for side in PositionSide)

    refused = fast_path.refusal(book, inst)
    if refused is None and config.adl.enabled:
        refused = "ADL is modelled (every price moves its window of extremes: exchange_sim/adl.py)"
    if config.path == "fast" and refused is not None:
        raise InvalidInput(
            f"the fast path cannot run this rulebook: {refused}; use --path auto (which still folds the trades "
            "at which nothing can act) or --path event"
        )
    fast: FastSession | None = None
    why = ""
    if config.path == "event":
        result.path, why = "event", "asked for (--path event)"
    elif refused is not None:
        result.path, why = "event", refused
    else:
        fast = FastSession(session, venue, sim, engine, symbol, lambda: changes[0])
    to_session = session.market if fast is None else fast.market
    warm = Warmup(book, engine, config.trade_from)
    gaps = GapWatch(config.trade_from)
    # Trade data comes in runs (feeds/trade_runs.py) from a replay that asked for them; the trades
    # at which nothing can act are folded into their candle unless the event path is asked for.
    trades = FastTrades(
        engine,
        sim,
        venue,
        lambda: next_sample,
        lambda: changes[0],
        config.path != "event",
        warm.until,
    )
    if fast is not None and fast.marks is not None:
        fast.marks.counts = trades.counts  # the summary counts the quiet mark prices with the folded events
        trades.marks = fast.marks  # and a trade at which the valuation falls due is taken quietly in its band
    # Runs of a kline series at which nothing can act are jumped (candle_runs.py): the engine and the
    # venue are caught up there, and the loop below does its per-candle part for each candle of the run.
    candle_runs = CandleRuns(engine, venue, fast, drawn)
    next_progress = 0
    # Per event, only what each event needs: locals instead of attribute reads, one range test for
    # the funding slot (the division only when it is left), the kinds tested by identity with
    # candles first (the common case of a backtest), the progress and forget checks nested (every
    # forget threshold is also a progress one).
    until, started, counts = warm.until, False, trades.counts
    slot_start = slot_end = 0  # the funding slot [start, end) of `funding_slot`; empty before the first event
    seen = -1  # the time of the last event handled
    # Trade data has no mark prices to close a quiet symbol's trade-built candles at their end (live they
    # do): before an event past an end, the clock is carried there (trade_clock.py). Not on candle data.
    clock = TradeClock(engine)
    has_trades = not isinstance(events, ReplaySource) or any(kind in TRADE_KINDS for kind, _, _ in events.series)
    clock_due = 0 if has_trades else 1 << 62

    def take_sample(at: int) -> None:
        equity = engine.equity(asset)
        note_day(equity)
        sample(at, equity)
        if warm.pending:
            warm.check(at)

    bulk = run_sampler(engine, asset, note_day, sampler, warm)  # a run's samples, in bulk

    if isinstance(events, ReplaySource):  # a kline series alone in chunks, when runs of it may be jumped
        events.kline_chunks = candle_runs.why_not is None  # (candle_runs.py makes the candles it steps)
    stream: Iterable[object] = trades.expand(events)
    if not (isinstance(events, ReplaySource) and all(kind != "klines" for kind, _, _ in events.series)):
        stream = candle_runs.expand(stream)  # a replay with no candles: no layer that passes every trade on
    for event in stream:
        # A run of candles is handled below as its candles' span (its last candle's time and close),
        # and each candle where it matters.
        run_of = event if type(event) is JumpedCandles else None
        time = event.time  # type: ignore[attr-defined]
        if time < until:
            warm.feed(event)  # no rule, no order, no count: indicators only
            if type(event) is CandleClosed:  # a hole here is one the indicators were warmed across
                gaps.see(event.symbol, event.timeframe, event.open_time, time)
            elif type(event) is Trade:
                gaps.trade(event.symbol, time)
            continue
        if not started:
            started = True
            warm.start(time)
            result.start_time = time
            session.start(time)
            clock_due = max(clock_due, time)  # the ends before the first event are its (or the warm-up's)
        # A due sample is taken as the first event of a later time comes, before it is handled: it sees
        # every event of its time (issue 33: a sample after the first of several symbols' candles of one
        # instant saw the others a candle late). fast_trades folds no trade while it is due.
        first = time if run_of is None else run_of.times[0]
        if seen >= next_sample and first != seen and last_price:  # no point before the first price
            next_sample = seen - seen % config.sample_every_ms + config.sample_every_ms
            take_sample(seen)
        if time > clock_due:
            for end in clock.crossed(time, seen):
                settling = end.symbol
                session.market(end)
            clock_due = clock.due(time)
        seen = time
        settling = getattr(event, "symbol", symbol)
        if settling in events_by_symbol:
            events_by_symbol[settling] += 1 if run_of is None else len(run_of.times)
        if not slot_start <= time < slot_end:
            slot = time // FUNDING_INTERVAL_MS
            if funding_slot is not None and slot > funding_slot:
                for s in symbols:
                    if holding(s):
                        crossed[s] += slot - funding_slot
            funding_slot, slot_start, slot_end = slot, slot * FUNDING_INTERVAL_MS, (slot + 1) * FUNDING_INTERVAL_MS
        kind = type(event)
        if kind is CandleClosed or run_of is not None:
            last_price[settling] = event.close  # type: ignore[attr-defined]
            gaps.see(settling, event.timeframe, event.open_time, time)  # type: ignore[attr-defined]
        elif kind is Trade:
            last_price[settling] = event.price  # type: ignore[attr-defined]
            gaps.trade(settling, time)
        elif kind is FundingRate and settling in settled:
            rates[settling] += 1
            if holding(settling):
                settled[settling] += 1
        if run_of is None:
            to_session(event)
            count += 1
        else:  # the engine and the venue as stepping the run would leave them, then the samples inside it
            run_of.catch_up()
            count += len(run_of.times)
            next_sample = take_samples(
                run_of, next_sample, config.sample_every_ms, take_sample, last_price, engine, bulk
            )
        done = count + counts.folded
        if done >= next_progress:
            next_progress = done - done % 16_384 + 16_384
            if on_progress is not None and done >= 16_384:
                on_progress(done, time)
            if len(orders) > FORGET_AT:  # orders that end unfilled (cancelled, expired) pile up too
                engine.forget_finished_orders(KEEP_FINISHED)
    if seen >= next_sample and last_price:  # the last time's sample, due at the end (sampler.finish takes it)
        take_sample(seen)
    for s, folded_trades in trades.counts.by_symbol.items():
        if s in events_by_symbol:
            events_by_symbol[s] += folded_trades
    result.events = count + trades.counts.folded
    if fast is not None:
        jumped = fast.counts.jumped > 0
        result.path = "fast" if jumped else "event"
        why = "no candle to jump: the data has no candles, or something could act inside every one"
        why = fast_path.describe("fast", fast.counts, why) if jumped else why
    if candle_runs.counts.jumped:
        why += ". " + candle_runs.describe()
    if trades.counts.folded or trades.counts.marks:
        result.path = "fast"
        jumped_candles = fast is not None and fast.counts.jumped > 0
        folded = fast_trades.describe(trades.counts)
        if refused is not None and config.path != "event":
            # Trades fold on any rulebook; candles are jumped only where the fast path can run: say both.
            why = f"{folded}; every candle walked price by price: {refused}"
        else:
            why = (why + "; " if jumped_candles else "") + folded
    result.path_reason = why
    result.end_time = time
    result.warmup = warm.report(time, gaps.missing_before())
    result.data_gaps = gaps.report()
    result.notes = partial_first_candles(engine.markets())
    result.never_ran = rules_that_never_ran(engine)
    ledger = sim.ledger(asset)
    result.funding_paid = -ledger.funding
    result.fees_paid = ledger.commission
    result.end_equity = engine.equity(asset)
    portfolio = engine.state.portfolio
    result.open_at_end = open_at_end(portfolio.positions, inst, last_price, portfolio.marks, config.fee_rates)
    sampler.finish(time, result)
    result.unrealized_by_symbol = {s: symbol_upnl(s) for s in symbols}
    result.unfunded = {s: crossed[s] - settled[s] for s in symbols if crossed[s] > settled[s] and pays_funding(s)}
    result.funding_rates = rates
    result.clearance_rates = {s: clearance_rate(inst[s]) for s in symbols if s in inst}
    result.mark_sources = {s: text for s, text in venue.mark_sources().items() if s in inst}
    return result
