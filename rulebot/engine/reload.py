"""Hot reload: a running engine takes a new rulebook between two events and loses nothing.

The new engine takes the old one's state value over (`Engine(book, …, state=old.state)`,
state.py): positions, balances and the trading day (the portfolio), working orders and their
ids (the order manager), the order budget, the kill switch and a daily-loss breach, each
symbol's state, when it was entered, leverage, pending entries, exits and their protections,
the guards' memory, candles being built and the candle history. Indicators are rebuilt from
the new definitions and re-warmed from the history, so a changed `ema(close@15m, 21)` →
`ema(close@15m, 34)` is ready at once.

The rule for a state that no longer exists: when it is the one state of its position binding
the new rulebook drops, and the new rulebook adds one state of that binding, that is its new
name (a rename), and the symbol moves there, keeping when it entered; otherwise the symbol
moves to a state of the new rulebook whose position binding matches what it holds (`long`,
`short`, or `none` when flat) — the first such state in the file, the initial state first.
Either move is journaled as a state change. A symbol that the new rulebook drops may not hold a
position or working orders (a fill heard before the account update that reports it counts as
held), and an isolated position's leverage may not be lowered (Binance refuses it, -4161): such a
reload is refused, with the reason, and the old rulebook keeps running. A guard the new rulebook
sets looser than the running one's is taken (within the engine's limits) and said.

Working stops the new rulebook names differently (`restate_stops`): a stop-loss or take-profit
moves, never leaving the position without one (stop_swap.py); a trailing stop stays as placed and
the operator is told; a stop waiting for an entry's fill is the new rule's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from decimal import Decimal

from rulebot.core.enums import MarginType, OrderType
from rulebot.engine import records as rec
from rulebot.engine import stop_swap
from rulebot.engine.actions import stops_after_entry
from rulebot.engine.engine import Engine, Step
from rulebot.engine.oms import OrderRecord
from rulebot.rulebook import compiled as c
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.guards import GUARD_DEFAULTS, EffectiveRisk


class ReloadRefused(Exception):
    """The new rulebook cannot take over safely; the old one keeps running."""


@dataclass(frozen=True, slots=True)
class ReloadResult:
    engine: Engine
    step: Step  # state changes, notices and any leverage command the new rulebook needs
    warnings: tuple[str, ...] = ()  # what the operator must hear: a position above a tightened cap, …


def reload_engine(old: Engine, book: CompiledRulebook) -> ReloadResult:
    for symbol in sorted(set(old.symbol_names) - set(book.symbols)):
        unsettled = _unsettled(old, symbol)  # dropped now, that position would be nobody's
        if old.position(symbol).amount != 0 or old.open_orders(symbol) or unsettled:
            raise ReloadRefused(
                f"the new rulebook drops {symbol}, which still holds a position or working orders"
                + (" (a fill the exchange has not yet reported in its position)" if unsettled else "")
                + f"; close them first or keep {symbol} in `symbols`"
            )
    missing = [s for s in book.symbols if s not in old.instruments]
    if missing:
        raise ReloadRefused(
            f"{', '.join(missing)} is not among the symbols this bot started with ({', '.join(old.instruments)}): "
            "a running bot trades only the instruments and market streams it set up at start; "
            f"restart it to add {', '.join(missing)}"
        )
    if book.market != old.book.market:
        raise ReloadRefused(f"the market changed ({old.book.market} → {book.market}): start a new bot instead")
    if book.position_mode != old.book.position_mode or book.margin != old.book.margin:
        raise ReloadRefused("position mode and margin type cannot change while the bot runs: restart it to change them")
    leverages = _leverages(old, book)

    new = Engine(
        book,
        old.instruments,
        {},
        record_all_decisions=old.record_all,
        brackets=old.brackets,
        fee_rates=old.fee_rates,
        # The run carries on as it is; the new book's cap settings price the daily-cap stops again.
        state=replace(old.state, cap_stale=True),
    )
    step = Step()
    new.timers.due(old.time, old.time)  # arm the new timers from now: nothing fires for the past
    redefined = _redefined(old.book, book)
    for symbol in book.symbols:
        if symbol not in old.symbol_names:
            # Back in the run (a reload dropped it, flat): it starts now, in the initial state, at the
            # book's leverage, which the exchange must have too: it kept what the symbol had when dropped.
            new.change_leverage(symbol, book.leverage, "reload", step)
            continue
        for tf in book.timeframes:  # re-warmed from the history: the candle before each timeframe's next
            new.rules.remember_closed(symbol, tf)
        new.rules.carry_prev(symbol, old.state.runs[symbol].prev, redefined)  # the other triggers' last event
        if leverages[symbol] != old.leverage(symbol):
            new.change_leverage(symbol, leverages[symbol], "reload", step)
        state = old.symbol_state(symbol)
        if state not in book.states:
            new.restore_state(symbol, _carry_state(old, new, symbol, state, step), new.state.runs[symbol].entered_at)
            continue
        binding = book.states[state].position
        if binding is not old.book.states[state].position and not binding.admits(new.position(symbol).direction):
            # Kept by name, bound anew (`long` → `none` under a long position): moved now, as the
            # next report would, rather than sitting in a state that contradicts the position.
            new.binding.check(symbol, old.time, step, why=f"reload: state '{state}' is now bound to {binding.word}")
    kept = restate_stops(old.book, new, step)
    restate_entries(old.book, new, step)
    step.records.append(
        rec.EngineNotice(
            old.time,
            "",
            "reload",
            f"rulebook {old.book.source_hash[:12]} → {book.source_hash[:12]}: positions, "
            "orders, states and indicators carried over",
        )
    )
    return ReloadResult(new, step, loosened(old.book.risk, book.risk) + _above_notional_cap(old, book) + kept)


def restate_stops(
    before: CompiledRulebook, new: Engine, step: Step, cancelling: Collection[str] = ()
) -> tuple[str, ...]:
    """The stops `new`'s rulebook names differently from `before` (the rulebook that placed them: the
    one reloaded, or at a restart the last run's): a working stop-loss or take-profit
    moves to the new definition (stop_swap.py: the new one first, the old one once it works); a stop
    still waiting for its entry's fill is the new rule's. A working trailing stop stays as it is:
    placed again it would start its trail over from the price, dropping the extreme it has followed
    (its stop could move away from the price). What stays is returned, for the operator. Stops in
    `cancelling` (their cancel sent: a restart's `stop_swap.one_each`) are going and do not move."""
    kept: list[str] = []
    going = stop_swap.replaced(new).union(cancelling)  # replaced already: cancelled once their replacements work
    for symbol in new.symbol_names:
        if symbol not in before.symbols:
            continue
        for record in new.state.oms.open_orders(symbol):
            if record.purpose not in ("stop_loss", "take_profit", "trailing_stop") or record.client_order_id in going:
                continue
            if not record.untriggered:
                continue  # triggered: closing the position now
            was = _named(before, record)
            now = _named(new.book, record)
            if now is None and was is None:
                continue  # not the rule's to say (the protective stop, ...): it stays as placed
            if was is not None and now is not None and _definition(was) == _definition(now):
                continue  # the same: it stays as placed
            # Changed; or named again after a reload whose rule did not name it: what it was placed
            # as is not known here, so it moves to what the rule says now (new first, as any move).
            if isinstance(now, c.StopOrder):
                stop_swap.swap(new, record, now, step)
                continue
            if now is None:  # still the position's protection: never cancelled by a reload
                why = (
                    f"{symbol}: {record.purpose} {record.client_order_id} stays as placed: rule {record.rule} "
                    "no longer names it; cancel it, or exit, if the position is not to keep it"
                )
            else:
                why = (
                    f"{symbol}: trailing stop {record.client_order_id} (rule {record.rule}) keeps its callback "
                    f"{record.command.callback_rate}% as placed: placed again it would start its trail over "
                    "from the price; the rule's new trailing stop applies from its next entry"
                )
            step.records.append(rec.EngineNotice(new.time, symbol, "reload-stop", why))
            kept.append(why)
        run = new.state.runs[symbol]
        for entry_id in run.protections:  # an entry on its way: its stops are the new rule's
            entry = new.state.oms.get(entry_id)
            stops = stops_after_entry(new.book, entry.rule) if entry is not None else []
            if stops:
                run.protections[entry_id] = stops
    return tuple(kept)


def restate_entries(before: CompiledRulebook, new: Engine, step: Step) -> None:
    """A limit entry still resting that its rule now sends otherwise (size, price, side, ...), or
    that no rule of the new rulebook sends, is cancelled: once it is gone, the symbol's state falls
    back as for any entry that did not fill, and the new rules decide again. Left, it would fill at
    what the old rulebook said (0.01 where the new one says 0.005)."""
    for symbol in new.symbol_names:
        if symbol not in before.symbols:
            continue
        for record in new.state.oms.open_orders(symbol):
            if record.purpose != "entry" or record.command.order_type is not OrderType.LIMIT:
                continue
            was, now = _entry(before, record), _entry(new.book, record)
            if was is None or (now is not None and _entry_definition(was) == _entry_definition(now)):
                continue
            why = f"rule {record.rule} " + ("is gone" if now is None else "sends its entry otherwise now")
            step.commands.append(new.state.oms.cancel(record, new.time, why + ": the new rules decide again"))
            step.records.append(
                rec.EngineNotice(
                    new.time,
                    symbol,
                    "reload-entry",
                    f"entry {record.client_order_id} ({record.command.quantity} at {record.command.price}) "
                    f"cancelled: {why}; the new rules decide again",
                )
            )


def _only(book: CompiledRulebook, record: OrderRecord, places: Callable[[c.CompiledAction], bool]) -> object:
    """The one action of `record`'s rule in `book` that `places` says places an order like it; None
    when there is none, or more than one."""
    found = [a for r in book.rules if r.name == record.rule for a in r.actions if places(a)]
    return found[0] if len(found) == 1 else None


def _entry(book: CompiledRulebook, record: OrderRecord) -> c.Enter | None:
    tag = record.command.tag
    found = _only(book, record, lambda a: isinstance(a, c.Enter) and a.tag == tag)
    return found if isinstance(found, c.Enter) else None


def _entry_definition(a: c.Enter) -> tuple[object, ...]:
    size = a.size
    qty = size.expr.python_source if size.expr else None
    price = a.price.python_source if a.price else None
    return (a.side, size.kind, qty, size.amount, size.asset, a.order, price, a.post_only, a.time_in_force, a.expire_ms)


def _named(book: CompiledRulebook, record: OrderRecord) -> c.StopOrder | c.TrailingStop | None:
    """The one action of `record`'s rule in `book` that places a stop like it (purpose and tag)."""
    tag, purpose = record.command.tag, record.purpose
    found = _only(
        book,
        record,
        lambda a: (
            (isinstance(a, c.StopOrder) and a.kind == purpose and a.tag == tag)
            or (isinstance(a, c.TrailingStop) and purpose == "trailing_stop" and a.tag == tag)
        ),
    )
    return found if isinstance(found, c.StopOrder | c.TrailingStop) else None


def _definition(action: c.StopOrder | c.TrailingStop) -> tuple[object, ...]:
    """What an action says, its expressions as generated with the params inlined (compiled functions
    never compare equal, and `entry_price * k` reads the same whatever `k` is)."""
    if isinstance(action, c.TrailingStop):
        activation = action.activation.python_source if action.activation else None
        return (action.callback, activation, action.working_type)
    price = action.price.python_source if action.price else None
    return (action.kind, price, action.distance, action.working_type, action.price_protect)


def _above_notional_cap(old: Engine, book: CompiledRulebook) -> tuple[str, ...]:
    """A tightened max_position_notional caps entries: a position already above it is not reduced,
    and the operator hears so rather than believing the rulebook's cap holds."""
    cap = book.risk.max_position_notional
    if cap is None:
        return ()
    out = []
    portfolio = old.state.portfolio
    for symbol in book.symbols:
        mark = portfolio.marks.get(symbol)
        if symbol not in old.symbol_names or mark is None:
            continue
        inst = old.instruments[symbol]
        held = portfolio.notional(symbol) * (mark if inst.is_inverse else 1)  # in quote units, as the cap
        if held > cap:
            out.append(
                f"{symbol} holds a position of {held.quantize(Decimal('0.01'))} notional, above the new "
                f"max_position_notional {cap}: it is not reduced (no entry adds to it); exit or reduce it if "
                "the cap is meant to hold now"
            )
    return tuple(out)


def _leverages(old: Engine, book: CompiledRulebook) -> dict[str, int]:
    """The leverage each symbol the run carries over is to have under `book`: its changed
    `account.leverage`, else what the symbol has now (a rule may have set it); either within the
    new book's max_leverage, which a reload may tighten below it. Binance refuses to lower an
    isolated position's leverage (-4161): a reload that would is refused up front."""
    cap = book.risk.max_leverage
    out: dict[str, int] = {}
    for symbol in book.symbols:
        if symbol not in old.symbol_names:
            continue
        current = old.leverage(symbol)
        wanted = min(book.leverage if book.leverage != old.book.leverage else current, cap)
        run = old.state.runs[symbol]  # a fill not yet in the reported position is held on the exchange
        held = old.state.portfolio.net_amount(symbol) != 0 or run.fill_time > run.account_time
        if wanted < current and held and book.margin_type is MarginType.ISOLATED:
            why = "its max_leverage" if wanted == cap else "`account.leverage`"
            raise ReloadRefused(
                f"the new rulebook lowers {symbol}'s leverage from {current}x to {wanted}x ({why}), which "
                f"Binance refuses while an isolated position is open (-4161); reload it once {symbol} is flat"
            )
        out[symbol] = wanted
    return out


def _carry_state(old: Engine, engine: Engine, symbol: str, state: str, step: Step) -> str:
    book = engine.book
    pos = engine.position(symbol)
    renamed = _renamed(old.book, book, state)
    if renamed is not None and (book.states[renamed].position.admits(pos.direction) or _unsettled(old, symbol)):
        why = (
            f"reload: state '{state}' no longer exists; '{renamed}' is the one state the new rulebook adds "
            f"in its place (position: {book.states[renamed].position.word}): taken as its new name"
        )
        step.records.append(rec.StateChange(engine.time, symbol, state, renamed, why))
        return renamed
    target = engine.binding.state_for(pos.direction)  # bound to the position, else `position: any`
    why = f"reload: state '{state}' no longer exists; '{target}' matches the position ({pos.side})"
    if target is None:
        target = book.initial_state
        why = (
            f"reload: state '{state}' no longer exists and no state holds a {pos.side} position; "
            f"'{target}', the initial state, until it is closed"
        )
    step.records.append(rec.StateChange(engine.time, symbol, state, target, why))
    return target


def _renamed(before: CompiledRulebook, book: CompiledRulebook, state: str) -> str | None:
    """The state `book` calls `state` now: the one state it adds with the same `position:`, where
    `state` is the one state of that binding it drops. None when that is not one for one (two
    states gone, or two new): then no state is the renamed one, and the position decides."""
    binding = before.states[state].position
    gone = [s for s in before.states if s not in book.states and before.states[s].position is binding]
    came = [s for s in book.states if s not in before.states and book.states[s].position is binding]
    return came[0] if gone == [state] and len(came) == 1 else None


def _unsettled(engine: Engine, symbol: str) -> bool:
    """A position may be there that the account has not reported yet: a fill heard before the
    account update that puts it in the position, or an entry or exit whose outcome is unknown."""
    run = engine.state.runs[symbol]
    return run.fill_time > run.account_time or bool(run.entry_pending) or run.exiting is not None


def loosened(before: EffectiveRisk, now: EffectiveRisk) -> tuple[str, ...]:
    """The guards the new rulebook sets looser than the running one (within the engine's limits,
    which the compiler already clamps to): taken, as the rulebook's to set, but said, for the
    operator may not know the running value was tighter."""
    out = []
    for name, spec in GUARD_DEFAULTS.items():
        was, will = before.setting(name), now.setting(name)
        a, b = Decimal(str(was.value)), Decimal(str(will.value))
        if b > a if spec.tighter == "lower" else b < a:
            today = "; the loss since 00:00 UTC counts against it" if name == "daily_loss_cap" else ""
            out.append(f"risk.{name} loosened from {was.shown} to {will.shown} by this reload{today}")
    caps = (
        ("daily_loss_cap", "daily_loss_cap_amount", before.daily_loss_cap_amount, now.daily_loss_cap_amount),
        ("max_position_notional", "max_position_notional", before.max_position_notional, now.max_position_notional),
    )
    for name, key, was_cap, cap in caps:
        if was_cap is not None and (cap is None or cap > was_cap):
            shown = "none" if cap is None else now.setting(key).shown
            out.append(f"risk.{name} loosened from {before.setting(key).shown} to {shown} by this reload")
    return tuple(out)


def _redefined(before: CompiledRulebook, book: CompiledRulebook) -> set[str]:
    """The indicators of `book` whose values are not those of `before`'s of the same name: new,
    defined otherwise, or fed by one that is."""
    was = {i.name: (i.function, i.input, i.params, i.timeframe) for i in before.indicators}
    out = {i.name for i in book.indicators if was.get(i.name) != (i.function, i.input, i.params, i.timeframe)}
    grew = True
    while grew:
        fed = {
            i.name
            for i in book.indicators
            if isinstance(i.input, c.IndicatorInput) and i.input.name.split(".")[0] in out
        }
        grew = not fed <= out
        out |= fed
    return out
