"""Hot reload: a running engine takes a new rulebook between two events and loses nothing.

Carried over: positions, balances and the trading day (the portfolio), working orders and
their ids (the order manager), the kill switch and a daily-loss breach, each symbol's state,
when it was entered, leverage, pending entries and their protections, candles being built and
the candle history. Indicators are rebuilt from the new definitions and re-warmed from the
history, so a changed `ema(close@15m, 21)` → `ema(close@15m, 34)` is ready at once.

The rule for a state that no longer exists: the symbol moves to a state of the new rulebook
whose position binding matches what it holds (`long`, `short`, or `none` when flat) — the
first such state in the file, the initial state first — and the move is journaled as a state
change. A symbol that the new rulebook drops may not hold a position or working orders:
such a reload is refused, with the reason, and the old rulebook keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass

from rulebot.core.commands import SetLeverage
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.rulebook.compiled import CompiledRulebook

# What a running engine and each of its symbols keep across a reload (the rest is rebuilt).
_ENGINE_CARRIED = ("portfolio", "oms", "halted", "daily_breach_day", "streams_down", "order_budget",
                   "_last_loss_check", "time", "started", "_next_day", "_next_retry")  # fmt: skip
_SYMBOL_CARRIED = ("entered_at", "protections", "entry_pending", "volatility", "guard", "leverage", "exiting",
                   "fill_time", "account_time", "unbound_noted")  # fmt: skip


class ReloadRefused(Exception):
    """The new rulebook cannot take over safely; the old one keeps running."""


@dataclass(frozen=True, slots=True)
class ReloadResult:
    engine: Engine
    step: Step  # state changes, notices and any leverage command the new rulebook needs


def reload_engine(old: Engine, book: CompiledRulebook) -> ReloadResult:
    for symbol in set(old.symbols) - set(book.symbols):
        if old.portfolio.net_position(symbol).amount != 0 or old.oms.open_orders(symbol):
            raise ReloadRefused(
                f"the new rulebook drops {symbol}, which still holds a position or working orders; "
                f"close them first or keep {symbol} in `symbols`"
            )
    missing = [s for s in book.symbols if s not in old.instruments]
    if missing:
        raise ReloadRefused(f"no instrument for {', '.join(missing)} on this venue")
    if book.market != old.book.market:
        raise ReloadRefused(f"the market changed ({old.book.market} → {book.market}): start a new bot instead")
    if book.position_mode != old.book.position_mode or book.margin != old.book.margin:
        raise ReloadRefused("position mode and margin type cannot change while the bot runs: restart it to change them")

    new = Engine(
        book,
        old.instruments,
        old.portfolio.wallet,
        run_id=old.oms.run_id,
        record_all_decisions=old.record_all,
        brackets=old.brackets,
    )
    step = Step()
    for name in _ENGINE_CARRIED:
        setattr(new, name, getattr(old, name))
    new.timers.due(old.time, old.time)  # arm the new timers from now: nothing fires for the past
    for symbol, run in new.symbols.items():
        before = old.symbols.get(symbol)
        if before is None:
            run.entered_at = old.time
            continue
        run.market.carry_from(before.market)
        run.market.set_clock(old.time)
        for name in _SYMBOL_CARRIED:
            setattr(run, name, getattr(before, name))
        if run.exiting is not None and run.exiting.then:
            # A pending stop and reverse holds the old rulebook's entry and goto (its states may be
            # gone): the exit completes, and the new rules decide from the flat state what comes next.
            run.exiting.then, run.exiting.then_rule = (), None
        if book.leverage != old.book.leverage:
            lev, verdict = new.risk.clamp_leverage(book.leverage)
            run.leverage = lev
            step.records.append(
                rec.GuardRecord(old.time, symbol, "reload", f"set_leverage {book.leverage}x", (verdict,), None)
            )
            step.commands.append(SetLeverage(symbol, lev, old.time))
        run.state = _carry_state(new, symbol, before.state, step)
        run.market.env["state"] = run.state
    new._update_next_timeout()
    new._next_protect = min((r.guard.protect_deadline for r in new.symbols.values()), default=new._next_protect)
    step.records.append(
        rec.EngineNotice(
            old.time,
            "",
            "reload",
            f"rulebook {old.book.source_hash[:12]} → {book.source_hash[:12]}: positions, "
            "orders, states and indicators carried over",
        )
    )
    return ReloadResult(new, step)


def _carry_state(engine: Engine, symbol: str, state: str, step: Step) -> str:
    book = engine.book
    if state in book.states:
        return state
    pos = engine.portfolio.net_position(symbol)
    holding = pos.side  # long / short / none
    order = [book.initial_state] + [s for s in book.states if s != book.initial_state]
    target = next((s for s in order if book.states[s].position == holding), None)
    if target is None:
        target = next((s for s in order if book.states[s].position == "any"), book.initial_state)
    step.records.append(
        rec.StateChange(
            engine.time,
            symbol,
            state,
            target,
            f"reload: state '{state}' no longer exists; '{target}' matches the position ({holding})",
        )
    )
    return target
