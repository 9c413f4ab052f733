"""Run a compiled rulebook over a stream of market events against the exchange simulator.

One loop, no I/O of its own: events come from any iterable (archive replay, simulated
market), the engine decides, the paper venue fills, and every record can be handed to a
journal through `on_record`. Deterministic: the same rulebook and data give the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from rulebot.backtest.result import BacktestResult, EquityPoint, FillRecord, GuardEvent, Marker, RuleErrors
from rulebot.core.account_events import AccountEvent, OrderUpdate
from rulebot.core.commands import SetLeverage, SetMarginType, SetPositionMode
from rulebot.core.enums import MarginType, Market
from rulebot.core.events import CandleClosed, Trade
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.exchange_sim import FillModel, SimExchange
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.venues.paper import PaperVenue

_MARKER_KIND = {"entry": "entry", "exit": "exit", "flatten": "exit", "deleverage": "exit",
                "stop_loss": "stop", "trailing_stop": "stop", "protective": "stop",
                "take_profit": "take_profit", "liquidation": "liquidation"}


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    balance: Decimal = Decimal(10_000)
    fill_model: FillModel = FillModel()
    sample_every_ms: int = 60_000  # equity curve resolution
    record_all_decisions: bool = False
    strict: bool = False  # the first rule that fails at run time stops the backtest (RuleFailed)

    def __post_init__(self) -> None:
        # A wallet of nothing (or less) runs and prints nonsense returns: refuse it here too,
        # for library callers that never pass through the command line's check.
        if not self.balance.is_finite() or self.balance <= 0:
            raise ValueError(f"a starting balance must be a finite amount above zero, not {self.balance}")


class RuleFailed(Exception):
    """A rule's condition failed at run time and the backtest was run strict."""

    def __init__(self, rule: str, symbol: str, time: int, error: str) -> None:
        super().__init__(f"rule {rule!r} ({symbol}) failed: {error}")
        self.rule, self.symbol, self.time, self.error = rule, symbol, time, error


def market_of(book: CompiledRulebook) -> Market:
    return Market.USDM if book.market == "usdm" else Market.COINM


def run_backtest(
    book: CompiledRulebook,
    events: Iterable[object],
    instruments: Mapping[str, Instrument],
    brackets: Mapping[str, BracketTable],
    config: BacktestConfig = BacktestConfig(),
    on_record: Callable[[object], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_step_end: Callable[[], None] | None = None,
) -> BacktestResult:
    market = market_of(book)
    symbol = book.symbols[0]
    inst = {s: instruments[s] for s in book.symbols}
    asset = inst[symbol].margin_asset
    balances = {asset: config.balance}
    engine = Engine(book, inst, balances, run_id="bt", record_all_decisions=config.record_all_decisions,
                    brackets={s: brackets[s] for s in book.symbols if s in brackets})
    sim = SimExchange(
        inst, {s: brackets[s] for s in book.symbols if s in brackets}, market=market, balances=balances,
        fill_model=config.fill_model, hedge_mode=book.position_mode == "hedge", default_leverage=book.leverage,
        default_margin_type=MarginType.CROSSED if book.margin == "cross" else MarginType.ISOLATED,
    )
    venue = PaperVenue(sim, market)
    result = BacktestResult(book.name, book.source_hash[:12], symbol, asset, 0, 0, config.balance, 0)
    last_price: dict[str, Decimal] = {}
    next_sample = 0

    def handle(step: Step, time: int) -> None:
        for record in step.records:
            collect(record)
        for cmd in step.commands:
            if on_record is not None:  # write-ahead: the journal hears of a command before the venue
                on_record(cmd)
            res = venue.execute(cmd, time)
            if not res.ok:
                cid = getattr(cmd, "client_order_id", None)
                if cid is not None:
                    handle(engine.on_reject(cid, res.code, res.message or "", time), time)
                elif isinstance(cmd, SetMarginType | SetPositionMode | SetLeverage):
                    handle(engine.on_setup_rejected(cmd, res.code, res.message or "", time), time)
                elif on_record is not None:
                    on_record(rec.EngineNotice(time, getattr(cmd, "symbol", ""), "command-rejected",
                                               f"{type(cmd).__name__} rejected: {res.code} {res.message}"))
            feed(res.events, time)

    def feed(account_events: Iterable[AccountEvent], time: int) -> None:
        for ev in account_events:
            if on_record is not None:
                on_record(ev)
            if isinstance(ev, OrderUpdate) and ev.last_filled_qty > 0:
                fill(ev)
            handle(engine.on_event(ev), time)

    def fill(u: OrderUpdate) -> None:
        record = engine.oms.get(u.client_order_id)
        liquidation = u.client_order_id.startswith("autoclose") or str(u.order_type) == "LIQUIDATION"
        purpose = "liquidation" if liquidation else (record.purpose if record else "unknown")
        rule = record.rule if record else ""
        if liquidation:
            result.liquidations += 1
        result.fills.append(FillRecord(u.time, u.symbol, u.side.value, u.last_filled_qty, u.last_filled_price,
                                       u.commission, u.realized_pnl, u.reduce_only, purpose, rule,
                                       u.client_order_id))
        label = f"{purpose} {u.side.value} {u.last_filled_qty}" + (f" ({rule})" if rule else "")
        result.markers.append(Marker(u.time, u.last_filled_price, _MARKER_KIND.get(purpose, "exit"), label))  # type: ignore[arg-type]

    def collect(record: object) -> None:
        if on_record is not None:
            on_record(record)
        if isinstance(record, rec.Decision):
            if record.fired:
                result.decisions += 1
            elif record.error is not None:
                seen = result.rule_errors.get(record.rule)
                if seen is None:
                    result.rule_errors[record.rule] = RuleErrors(1, record.time, record.error, record.symbol)
                    if config.strict:
                        raise RuleFailed(record.rule, record.symbol, record.time, record.error)
                else:
                    seen.count += 1
        elif isinstance(record, rec.GuardRecord):
            for v in record.verdicts:
                if v.kind != "allow":
                    result.guard_events.append(GuardEvent(record.time, v.guard, v.kind, v.reason, record.rule))
                    price = last_price.get(record.symbol)
                    if price is not None:
                        result.markers.append(Marker(record.time, price, "guard", f"{v.guard}: {v.reason}"))

    count = 0
    time = 0
    on_market = venue.on_market
    on_event = engine.on_event
    for event in events:
        time = event.time  # type: ignore[attr-defined]
        if not engine.started:
            result.start_time = time
            engine.portfolio.on_time(time)
            handle(engine.start(time), time)
        kind = type(event)
        if kind is Trade:
            last_price[event.symbol] = event.price  # type: ignore[attr-defined]
        elif kind is CandleClosed:
            last_price[event.symbol] = event.close  # type: ignore[attr-defined]
        reports = on_market(event)
        if reports:
            feed(reports, time)
        step = on_event(event)
        if step.commands or step.records:
            handle(step, time)
            if on_step_end is not None:
                on_step_end()
        count += 1
        if time >= next_sample and symbol in last_price:  # no point before the first price
            next_sample = time - time % config.sample_every_ms + config.sample_every_ms
            pos = engine.portfolio.net_position(symbol)
            result.equity_curve.append(EquityPoint(time, engine.portfolio.equity(asset),
                                                   last_price.get(symbol, Decimal(0)), pos.amount))
        if on_progress is not None and count % 65_536 == 0:
            on_progress(count, time)
        if count % 262_144 == 0:
            engine.oms.forget_finished()
    result.events = count
    result.end_time = time
    ledger = sim.ledger(asset)
    result.funding_paid = -ledger.funding
    result.fees_paid = ledger.commission
    result.end_equity = engine.portfolio.equity(asset)
    if result.equity_curve and result.equity_curve[-1].time != time:
        pos = engine.portfolio.net_position(symbol)
        result.equity_curve.append(EquityPoint(time, result.end_equity, last_price.get(symbol, Decimal(0)), pos.amount))
    return result
