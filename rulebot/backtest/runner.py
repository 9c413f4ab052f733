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
from rulebot.backtest import result as res
from rulebot.backtest.assumptions import fees_source
from rulebot.backtest.candle_runs import CandleRuns, JumpedCandles
from rulebot.backtest.chart_series import drawn_indicators
from rulebot.backtest.collector import paced
from rulebot.backtest.config import DEFAULT_CONFIG, BacktestConfig, RuleFailed
from rulebot.backtest.data_gaps import GapWatch
from rulebot.backtest.fast_path import FastSession
from rulebot.backtest.fast_trades import FastTrades
from rulebot.backtest.never_ran import rules_that_never_ran
from rulebot.backtest.result import BacktestResult, FillRecord, GuardEvent, Marker, RuleErrors, WorstDay
from rulebot.backtest.run_samples import run_sampler, take_samples
from rulebot.backtest.sampling import Sampler
from rulebot.backtest.warmup import Warmup
from rulebot.core.account_events import AccountEvent, AccountUpdate, OrderUpdate
from rulebot.core.enums import Market, PositionSide
from rulebot.core.errors import InvalidInput
from rulebot.core.events import CandleClosed, FundingRate, Trade
from rulebot.core.fees import DEFAULT_FEE_RATES
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.exchange_sim.adl import ADL_CLIENT_ID
from rulebot.exchange_sim.liquidation import clearance_rate
from rulebot.feeds.replay import ReplaySource
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.session import Session, paper_venue

ZERO = Decimal(0)
_SIDES = tuple(PositionSide)  # iterating the enum itself is slow, and this runs once a sample

_MARKER_KIND = {
    "entry": "entry",
    "exit": "exit",
    "flatten": "exit",
    "deleverage": "exit",
    "stop_loss": "stop",
    "trailing_stop": "stop",
    "protective": "stop",
    "take_profit": "take_profit",
    "liquidation": "liquidation",
    "adl": "liquidation",
    "daily_cap": "stop",
}


# The engine keeps every order until told to forget the finished ones (~40,000 a year of an
# always-in-the-market rulebook): past FORGET_AT, down to the newest KEEP_FINISHED (issue 14).
KEEP_FINISHED = 1000
FORGET_AT = 2 * KEEP_FINISHED


# Binance settles most perpetuals at 00:00, 08:00 and 16:00 UTC (FACTS §11); some settle every
# 4 hours, so a count on this grid is a floor.
FUNDING_INTERVAL_MS = 8 * 3_600_000


# Notices that say a guard acted on the account on its own: the daily loss cap was reached
# (orders cancelled, positions flattened or the bot halted).
INTERVENING_NOTICES = {"daily-loss-cap": "daily_loss_cap"}


# The records `collect` looks at (final types: a set lookup sends the commands and reports past).
_COLLECTED = frozenset({rec.Decision, rec.GuardRecord, rec.EngineNotice})


def standing_order(record: rec.GuardRecord) -> bool:
    """The daily loss cap's stop being placed or re-priced (records.is_standing_order)."""
    return rec.is_standing_order(record.intent, (v.kind for v in record.verdicts))


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
    # Packed as they come (packed.py): a year of fills and markers in a few MB, not a few hundred.
    result.fills, result.markers = fills, markers = res.packed_fills(), res.packed_markers()
    result.guard_events = guard_events = res.packed_guard_events()
    result.fee_rates = config.fee_rates
    result.adl_model = config.adl.describe()
    result.fees_source = fees_source(config.fee_rates, DEFAULT_FEE_RATES)
    result.fill_model = config.fill_model
    result.funding_by_symbol = {s: ZERO for s in symbols}
    result.decisions_by_symbol = {s: 0 for s in symbols}
    result.events_by_symbol = events_by_symbol = {s: 0 for s in symbols}
    result.indicator_lines = tuple(drawn_indicators(book))
    booked = {s: ZERO for s in symbols}  # realized - fees - funding so far, by symbol
    last_liquidation: list[tuple[int, str] | None] = [None]
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

    def report(ev: AccountEvent) -> None:
        if isinstance(ev, OrderUpdate):
            if ev.last_filled_qty > 0:
                fill(ev)
        elif isinstance(ev, AccountUpdate) and ev.reason == "FUNDING_FEE":
            funding(ev)

    def fill(u: OrderUpdate) -> None:
        record = engine.order(u.client_order_id)
        adl = u.client_order_id == ADL_CLIENT_ID
        liquidation = not adl and (u.client_order_id.startswith("autoclose") or u.order_type == "LIQUIDATION")
        purpose = "adl" if adl else "liquidation" if liquidation else (record.purpose if record else "unknown")
        rule = record.rule if record else ""
        if liquidation or adl:
            system_close(u, adl)
        if u.symbol in booked:
            booked[u.symbol] += u.realized_pnl - u.commission
        fills.append(
            FillRecord(
                *(u.time, u.symbol, u.side.value, u.last_filled_qty, u.last_filled_price, u.commission),
                *(u.realized_pnl, u.reduce_only, purpose, rule, u.client_order_id),
            )
        )
        if len(orders) > FORGET_AT:  # after the lookup: the engine has not heard of this fill yet
            engine.forget_finished_orders(KEEP_FINISHED)
        label = f"{purpose} {u.side.value} {u.last_filled_qty}" + (f" ({rule})" if rule else "")
        kind = _MARKER_KIND.get(purpose, "exit")
        markers.append(Marker(u.time, u.last_filled_price, kind, label, u.symbol))  # type: ignore[arg-type]

    def system_close(u: OrderUpdate, adl: bool) -> None:
        """A liquidation or ADL fill: counted, and a line of its own in the journal."""
        what = f"{u.side.value} {u.last_filled_qty} {u.symbol} at {u.last_filled_price}"
        if adl:
            result.adl_closes.append((u.time, u.symbol, u.last_filled_qty, u.last_filled_price))
            text = f"auto-deleveraged: {what}, no fee (the other side's liquidations found no buyers)"
        else:
            # One liquidation may take several fills (tiers); they share a time and a symbol.
            if (u.time, u.symbol) != last_liquidation[0]:
                result.liquidations += 1
                last_liquidation[0] = (u.time, u.symbol)
            result.clearance_fees += u.commission
            text = f"liquidated: {what} (order limit {u.price}), clearance fee {u.commission} {asset}"
        collect(rec.EngineNotice(u.time, u.symbol, "adl" if adl else "liquidation", text))

    def funding(u: AccountUpdate) -> None:
        # The simulator settles one symbol at a time: its isolated legs name it; a cross
        # settlement names none, and then it is the symbol whose funding event is being replayed.
        s = u.positions[0].symbol if u.positions else settling
        received = sum((b.balance_change for b in u.balances if b.asset == asset), ZERO)
        if s in booked:
            booked[s] += received
            result.funding_by_symbol[s] -= received

    def collect(record: object) -> None:
        if on_record is not None:
            on_record(record)
        if type(record) not in _COLLECTED:  # most of what passes here is a command or a report
            return
        if isinstance(record, rec.Decision):
            if record.fired:
                result.decisions += 1
                if record.symbol in result.decisions_by_symbol:
                    result.decisions_by_symbol[record.symbol] += 1
            elif record.error is not None:
                seen = result.rule_errors.get(record.rule)
                if seen is None:
                    result.rule_errors[record.rule] = RuleErrors(1, record.time, record.error, record.symbol)
                    if config.strict:
                        raise RuleFailed(record.rule, record.symbol, record.time, record.error)
                else:
                    seen.count += 1
        elif isinstance(record, rec.GuardRecord):
            if standing_order(record):
                result.cap_stops += 1
                return
            for v in record.verdicts:
                if v.kind != "allow":
                    guard_events.append(GuardEvent(record.time, v.guard, v.kind, v.reason, record.rule, record.symbol))
                    price = last_price.get(record.symbol)
                    if price is not None:
                        markers.append(Marker(record.time, price, "guard", f"{v.guard}: {v.reason}", record.symbol))
        elif isinstance(record, rec.EngineNotice) and record.kind in INTERVENING_NOTICES:
            guard = INTERVENING_NOTICES[record.kind]
            guard_events.append(GuardEvent(record.time, guard, "act", record.message, "", record.symbol))

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

    session = Session(engine, venue, journal=collect, on_report=report, on_change=changed, on_step_end=step_end)
    count = 0
    time = 0
    settling = symbol  # the symbol of the market event being replayed
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
        raise InvalidInput(f"the fast path cannot run this rulebook: {refused}; use --path auto or --path event")
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
    gaps = GapWatch()
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

    def take_sample(at: int) -> None:
        equity = engine.equity(asset)
        note_day(equity)
        sample(at, equity)
        if warm.pending:
            warm.check(at)

    bulk = run_sampler(engine, asset, note_day, sampler, warm)  # a run's samples, in bulk

    stream = trades.expand(events)
    if not (isinstance(events, ReplaySource) and all(kind != "klines" for kind, _, _ in events.series)):
        stream = candle_runs.expand(stream)  # a replay with no candles: no layer that passes every trade on
    for event in stream:
        run_of = None
        if type(event) is JumpedCandles:  # handled below as its last candle, and each candle where it matters
            run_of, event = event, event.candles[-1]
        time = event.time  # type: ignore[attr-defined]
        if time < until:
            warm.feed(event)  # no rule, no order, no count: indicators only
            continue
        if not started:
            started = True
            warm.start(time)
            result.start_time = time
            session.start(time)
        # A due sample is taken as the first event of a later time comes, before it is handled: it sees
        # every event of its time (issue 33: a sample after the first of several symbols' candles of one
        # instant saw the others a candle late). fast_trades folds no trade while it is due.
        first = time if run_of is None else run_of.candles[0].close_time
        if seen >= next_sample and first != seen and last_price:  # no point before the first price
            next_sample = seen - seen % config.sample_every_ms + config.sample_every_ms
            take_sample(seen)
        seen = time
        settling = getattr(event, "symbol", symbol)
        if settling in events_by_symbol:
            events_by_symbol[settling] += 1 if run_of is None else len(run_of.candles)
        if not slot_start <= time < slot_end:
            slot = time // FUNDING_INTERVAL_MS
            if funding_slot is not None and slot > funding_slot:
                for s in symbols:
                    if holding(s):
                        crossed[s] += slot - funding_slot
            funding_slot, slot_start, slot_end = slot, slot * FUNDING_INTERVAL_MS, (slot + 1) * FUNDING_INTERVAL_MS
        kind = type(event)
        if kind is CandleClosed:
            last_price[settling] = event.close  # type: ignore[attr-defined]
            opened = event.open_time if run_of is None else run_of.candles[0].open_time  # type: ignore[attr-defined]
            gaps.see(settling, event.timeframe, opened, time)  # type: ignore[attr-defined]
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
            count += len(run_of.candles)
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
    for s, folded in trades.counts.by_symbol.items():
        if s in events_by_symbol:
            events_by_symbol[s] += folded
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
        why = (why + "; " if jumped_candles else "") + fast_trades.describe(trades.counts)
    result.path_reason = why
    result.end_time = time
    result.warmup = warm.report(time)
    result.data_gaps = gaps.report()
    result.never_ran = rules_that_never_ran(engine)
    ledger = sim.ledger(asset)
    result.funding_paid = -ledger.funding
    result.fees_paid = ledger.commission
    result.end_equity = engine.equity(asset)
    sampler.finish(time, result)
    result.unrealized_by_symbol = {s: symbol_upnl(s) for s in symbols}
    result.unfunded = {s: crossed[s] - settled[s] for s in symbols if crossed[s] > settled[s]}
    result.funding_rates = rates
    result.clearance_rates = {s: clearance_rate(inst[s]) for s in symbols if s in inst}
    result.mark_sources = {s: text for s, text in venue.mark_sources().items() if s in inst}
    return result
