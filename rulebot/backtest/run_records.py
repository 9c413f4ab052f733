"""What a backtest keeps of the records its session hands on (runner.py's setup): each fill with its
marker, funding received by symbol, liquidation and ADL lines, fired decisions, rule errors, guard
interventions. The event loop is runner.py's; this is the bookkeeping it hands the session.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from rulebot.backtest.config import RuleFailed
from rulebot.backtest.result import (
    BacktestResult,
    FillRecord,
    GuardEvent,
    Marker,
    RuleErrors,
    packed_fills,
    packed_guard_events,
    packed_markers,
)
from rulebot.core.account_events import AccountEvent, AccountUpdate, OrderUpdate
from rulebot.core.commands import Command, PlaceOrder
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine
from rulebot.exchange_sim.adl import ADL_CLIENT_ID
from rulebot.journal.encode import status_row

ZERO = Decimal(0)

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


# Notices that say a guard acted on the account on its own: the daily loss cap was reached
# (orders cancelled, positions flattened or the bot halted).
INTERVENING_NOTICES = {"daily-loss-cap": "daily_loss_cap"}


# The records `collect` looks at (final types: a set lookup sends the commands and reports past).
_COLLECTED = frozenset({rec.Decision, rec.GuardRecord, rec.EngineNotice})


def standing_order(record: rec.GuardRecord) -> bool:
    """The daily loss cap's stop being placed or re-priced (records.is_standing_order)."""
    return rec.is_standing_order(record.intent, (v.kind for v in record.verdicts))


class RunRecords:
    """The session's `journal` (`collect`), `on_report` (`report`) and `on_refused` (`refused`) for a
    backtest: what they say goes into `result` and `booked` (realized - fees - funding so far, by
    symbol). `last_price`: the runner's, for a guard's marker; `settling()`: the symbol of the market
    event being replayed."""

    def __init__(
        self,
        engine: Engine,
        result: BacktestResult,
        booked: dict[str, Decimal],
        last_price: dict[str, Decimal],
        asset: str,
        on_record: Callable[[object], None] | None,
        strict: bool,
        settling: Callable[[], str],
    ) -> None:
        self.engine, self.result, self.booked, self.last_price = engine, result, booked, last_price
        # Packed as they come (packed.py): a year of fills and markers in a few MB, not a few hundred.
        result.fills, result.markers = self.fills, self.markers = packed_fills(), packed_markers()
        result.guard_events = self.guard_events = packed_guard_events()
        self.asset, self.on_record, self.strict, self.settling = asset, on_record, strict, settling
        self.orders = engine.state.oms.orders  # the engine's order records: forgotten by count, not by time
        self.last_liquidation: tuple[int, str] | None = None

    def report(self, ev: AccountEvent) -> None:
        if isinstance(ev, OrderUpdate):
            if ev.last_filled_qty > 0:
                self.fill(ev)
        elif isinstance(ev, AccountUpdate) and ev.reason == "FUNDING_FEE":
            self.funding(ev)

    def refused(self, command: Command, code: int | None, message: str, time: int) -> None:
        """An order the exchange refused: no update of the venue will give its status, so it is
        journaled here, as a dry-run or a live run journals it (runtime/executor.py), before the
        engine hears of the refusal: `audit explain` and `audit orders` show it REJECTED."""
        if type(command) is PlaceOrder:
            self.collect(status_row(command, "REJECTED", message, time, code=code))

    def fill(self, u: OrderUpdate) -> None:
        engine, booked = self.engine, self.booked
        record = engine.order(u.client_order_id)
        adl = u.client_order_id == ADL_CLIENT_ID
        liquidation = not adl and (u.client_order_id.startswith("autoclose") or u.order_type == "LIQUIDATION")
        purpose = "adl" if adl else "liquidation" if liquidation else (record.purpose if record else "unknown")
        rule = record.rule if record else ""
        if liquidation or adl:
            self.system_close(u, adl)
        if u.symbol in booked:
            booked[u.symbol] += u.realized_pnl - u.commission
        self.fills.append(
            FillRecord(
                *(u.time, u.symbol, u.side.value, u.last_filled_qty, u.last_filled_price, u.commission),
                *(u.realized_pnl, u.reduce_only, purpose, rule, u.client_order_id, u.position_side.value),
            )
        )
        if len(self.orders) > FORGET_AT:  # after the lookup: the engine has not heard of this fill yet
            engine.forget_finished_orders(KEEP_FINISHED)
        label = f"{purpose} {u.side.value} {u.last_filled_qty}" + (f" ({rule})" if rule else "")
        kind = _MARKER_KIND.get(purpose, "exit")
        self.markers.append(Marker(u.time, u.last_filled_price, kind, label, u.symbol))  # type: ignore[arg-type]

    def system_close(self, u: OrderUpdate, adl: bool) -> None:
        """A liquidation or ADL fill: counted, and a line of its own in the journal."""
        result = self.result
        what = f"{u.side.value} {u.last_filled_qty} {u.symbol} at {u.last_filled_price}"
        if adl:
            result.adl_closes.append((u.time, u.symbol, u.last_filled_qty, u.last_filled_price))
            text = f"auto-deleveraged: {what}, no fee (the other side's liquidations found no buyers)"
        else:
            # One liquidation may take several fills (tiers); they share a time and a symbol.
            if (u.time, u.symbol) != self.last_liquidation:
                result.liquidations += 1
                self.last_liquidation = (u.time, u.symbol)
            result.clearance_fees += u.commission
            text = f"liquidated: {what} (order limit {u.price}), clearance fee {u.commission} {self.asset}"
        self.collect(rec.EngineNotice(u.time, u.symbol, "adl" if adl else "liquidation", text))

    def funding(self, u: AccountUpdate) -> None:
        # The simulator settles one symbol at a time: its isolated legs name it; a cross
        # settlement names none, and then it is the symbol whose funding event is being replayed.
        s = u.positions[0].symbol if u.positions else self.settling()
        received = sum((b.balance_change for b in u.balances if b.asset == self.asset), ZERO)
        if s in self.booked:
            self.booked[s] += received
            self.result.funding_by_symbol[s] -= received

    def collect(self, record: object) -> None:
        if self.on_record is not None:
            self.on_record(record)
        if type(record) not in _COLLECTED:  # most of what passes here is a command or a report
            return
        result = self.result
        if isinstance(record, rec.Decision):
            if record.fired:
                result.decisions += 1
                if record.symbol in result.decisions_by_symbol:
                    result.decisions_by_symbol[record.symbol] += 1
            elif record.error is not None:
                seen = result.rule_errors.get(record.rule)
                if seen is None:
                    result.rule_errors[record.rule] = RuleErrors(1, record.time, record.error, record.symbol)
                    if self.strict:
                        raise RuleFailed(record.rule, record.symbol, record.time, record.error)
                else:
                    seen.count += 1
        elif isinstance(record, rec.GuardRecord):
            if standing_order(record):
                result.cap_stops += 1
                return
            for v in record.verdicts:
                if v.kind != "allow":
                    event = GuardEvent(record.time, v.guard, v.kind, v.reason, record.rule, record.symbol)
                    self.guard_events.append(event)
                    price = self.last_price.get(record.symbol)
                    if price is not None:
                        marker = Marker(record.time, price, "guard", f"{v.guard}: {v.reason}", record.symbol)
                        self.markers.append(marker)
        elif isinstance(record, rec.EngineNotice) and record.kind in INTERVENING_NOTICES:
            guard = INTERVENING_NOTICES[record.kind]
            self.guard_events.append(GuardEvent(record.time, guard, "act", record.message, "", record.symbol))
        elif isinstance(record, rec.EngineNotice) and record.kind == "order-rejected":
            if not result.exchange_refusals:
                result.first_exchange_refusal = record.message
            result.exchange_refusals += 1
