"""Restart recovery: what the journal remembers and the exchange holds, put back into a new engine.

From the journal (the runs before this one, in the same file): the daily-loss state (start
equity of the UTC day and a breach — a breach survives a restart), each symbol's last state
and when it was entered, and every order the bot sent (its command, rule and purpose, by
client order id). From the exchange (`exchange_sync.read_exchange`): open orders and algo
orders, positions and balances, and the state of each order the engine tracks. Open orders the
journal knows are adopted under their own ids, so their fills land where they belong and
nothing is sent twice; orders it does not know are foreign (foreign_orders.py): a live start
beside them is refused unless they are to be cancelled or kept. A tracked order
that changed while the user stream was down is brought up to date by `order_event`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rulebot import __version__
from rulebot.backtest.text import when
from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.account_events import AlgoUpdate, OrderUpdate
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderType
from rulebot.engine import records as rec
from rulebot.engine.engine import HALT_HOLDS, HALT_LIFTED, DailyState, Engine, Step
from rulebot.engine.oms import OrderRecord, journaled_order
from rulebot.engine.timers import MISSED_COUNT_LIMIT, missed
from rulebot.journal.schema import of_mode
from rulebot.journal.verify import read_anchor, verify
from rulebot.journal.writer import JournalIntegrityError, damaged_advice, read_only_uri
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.runtime import foreign_orders
from rulebot.runtime.run_config import ForeignPolicy
from rulebot.venues.binance.venue import Reconciliation

ZERO = Decimal(0)

_PURPOSES = (
    "entry",
    "exit",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "deleverage",
    "protective",
    "flatten",
    "daily_cap",
)


def new_run_id(mode: str) -> str:
    return f"{mode}-{uuid.uuid4().hex[:12]}"


def software() -> str:
    return f"rulebot {__version__}"


@dataclass
class JournalState:
    """What the journal of earlier runs says: read before the engine starts."""

    path: Path | None = None  # None: no journal (a mid-run reconciliation asks it nothing)
    daily: DailyState | None = None
    states: dict[str, tuple[str, int]] = field(default_factory=dict)  # symbol → (state, entered at)
    # Orders earlier runs journaled (write-ahead) with no word of their fate since: the exchange
    # is asked about each at the start, and its answer journaled (command, the run that sent it).
    unsettled: list[tuple[PlaceOrder, str]] = field(default_factory=list)
    # A halt that holds across restarts (Engine.halt_for) and was not lifted since: (its notice, time).
    halted: tuple[str, int] | None = None
    rulebook_text: str | None = None  # the rulebook the last run ran last (its start's or a reload's)
    last_time: int | None = None  # the time of the last row earlier runs wrote: when the bot stopped

    def orders(self, cids: Iterable[str]) -> dict[str, tuple[PlaceOrder, str, str]]:
        """The command, purpose and rule the journal holds for each of `cids`, in the order they were
        sent (through the client-order-id index: the few orders still open, not every order ever sent)."""
        cids = list(cids)
        if self.path is None or not cids or not self.path.is_file():
            return {}
        marks = ",".join("?" * len(cids))
        of_kind = f"SELECT client_order_id, rule, body FROM entries WHERE client_order_id IN ({marks})"
        with contextlib.closing(_read_only(self.path)) as db:
            guards = db.execute(of_kind + " AND kind = 'guard'", cids).fetchall()
            rows = db.execute(of_kind + " AND kind = 'command' ORDER BY id", cids).fetchall()
        intents = {cid: (rule, json.loads(body).get("intent", "")) for cid, rule, body in guards}
        out: dict[str, tuple[PlaceOrder, str, str]] = {}
        for _, _, body in rows:
            c = json.loads(body)
            if c.get("type") != "PlaceOrder":
                continue
            cmd = journaled_order(c)
            rule, intent = intents.get(cmd.client_order_id, ("", ""))
            word = intent.split(" ", 1)[0] if intent else ""
            purpose = "entry" if word == "enter" else word if word in _PURPOSES else _guess(cmd)
            out[cmd.client_order_id] = (cmd, purpose, rule)
        return out

    def entry_rules(self, mode: str, symbols: Iterable[str]) -> dict[str, dict[str, str]]:
        """The rule of each symbol's last entry that filled on each side ("long", "short"), from the runs
        of `mode`: whose stops a position (in hedge mode, a leg) found bare at a restart is to get
        (`engine.actions.protect_restored`). By side: a hedge's long leg was opened by another rule
        than its short leg, whichever filled last."""
        if self.path is None or not self.path.is_file():
            return {}
        where, args = of_mode(mode)
        sql = (
            "SELECT g.symbol, g.rule FROM entries g WHERE g.kind = 'guard' AND g.client_order_id IS NOT NULL "
            f"AND json_extract(g.body, '$.intent') LIKE ? AND {where} AND EXISTS (SELECT 1 FROM entries o "
            "WHERE o.client_order_id = g.client_order_id AND o.kind = 'order' "
            "AND CAST(json_extract(o.body, '$.filled_qty') AS REAL) > 0) ORDER BY g.id DESC"
        )
        wanted, out = set(symbols), dict[str, dict[str, str]]()
        with contextlib.closing(_read_only(self.path)) as db:
            for side in ("long", "short"):
                found = 0
                for symbol, rule in db.execute(sql, (f"enter {side} %", *args)):  # the latest first
                    if symbol in wanted and side not in out.setdefault(symbol, {}):
                        out[symbol][side] = rule
                        found += 1
                        if found == len(wanted):
                            break  # read only until each is found
        return out


def read_journal(path: Path, mode: str) -> JournalState:
    """The daily-loss state and each symbol's last state, from the earlier runs of the same mode
    (a dry-run's paper wallet is not a live baseline); orders are asked for by `orders`.

    The whole chain is verified first: state restored from a journal that lost or changed rows
    could be anything. (Call it after `Journal.create`, which brings the schema up to date.)"""
    state = JournalState(path)
    if not path.is_file():
        return state
    try:
        with contextlib.closing(_read_only(path)) as db:
            checked = verify(db, read_anchor(path))
            if not checked.ok:
                raise JournalIntegrityError(
                    f"the journal {path} is damaged at row {checked.first_broken}: {checked.problem}. "
                    "Nothing was started. " + damaged_advice(path)
                )
            where, args = of_mode(mode)
            daily = db.execute(
                f"SELECT body FROM entries WHERE kind = 'daily' AND {where} ORDER BY id DESC LIMIT 1", args
            ).fetchone()
            if daily:
                d = json.loads(daily[0])
                start = {k: Decimal(v) for k, v in d["start_equity"].items()}
                state.daily = DailyState(int(d["day"]), start, bool(d["breached"]))
            last = f"SELECT MAX(id) FROM entries WHERE kind = 'state' AND {where} GROUP BY symbol"
            for symbol, body, t in db.execute(f"SELECT symbol, body, time FROM entries WHERE id IN ({last})", args):
                state.states[symbol] = (json.loads(body)["to_state"], int(t))
            state.unsettled = _unsettled(db, where, args)
            book = db.execute(
                f"SELECT json_extract(body, '$.text') FROM entries WHERE kind = 'rulebook' AND {where} "
                "ORDER BY id DESC LIMIT 1",
                args,
            ).fetchone()
            state.rulebook_text = book[0] if book else None
            last = db.execute(f"SELECT time FROM entries WHERE {where} ORDER BY id DESC LIMIT 1", args).fetchone()
            state.last_time = int(last[0]) if last and last[0] is not None else None
            last_halt = db.execute(
                "SELECT json_extract(body, '$.kind'), json_extract(body, '$.message'), time FROM entries "
                f"WHERE kind = 'notice' AND json_extract(body, '$.kind') IN (?, ?) AND {where} "
                "ORDER BY id DESC LIMIT 1",
                (HALT_HOLDS, HALT_LIFTED, *args),
            ).fetchone()
            if last_halt is not None and last_halt[0] == HALT_HOLDS:
                state.halted = (str(last_halt[1]), int(last_halt[2]))
    except sqlite3.DatabaseError as exc:
        raise sqlite3.DatabaseError(
            f"the journal {path} cannot be read ({exc}); nothing was started. Check it with "
            f"`rulebot audit -j {path} verify`, or start with another --run-dir"
        ) from exc
    return state


_UNSETTLED_LIMIT = 50  # the most recent ones: each costs a lookup on the exchange at the start


def _unsettled(db: sqlite3.Connection, where: str, args: tuple[str, ...]) -> list[tuple[PlaceOrder, str]]:
    """PlaceOrder commands with no order or algo update at all (and no settling row either)."""
    rows = db.execute(
        f"SELECT c.body, c.run_id FROM entries c WHERE c.kind = 'command' AND {where} "
        "AND json_extract(c.body, '$.type') = 'PlaceOrder' AND NOT EXISTS (SELECT 1 FROM entries u "
        "WHERE u.client_order_id = c.client_order_id AND u.kind IN ('order', 'algo')) "
        f"ORDER BY c.id DESC LIMIT {_UNSETTLED_LIMIT}",
        args,
    ).fetchall()
    return [(journaled_order(json.loads(body)), run_id) for body, run_id in rows]


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(read_only_uri(path), uri=True)


def _guess(cmd: PlaceOrder) -> str:
    if cmd.tag == "daily_loss_cap":
        return "daily_cap"
    if cmd.order_type is OrderType.TRAILING_STOP_MARKET:
        return "trailing_stop"
    if cmd.order_type in (OrderType.STOP_MARKET, OrderType.STOP):
        return "stop_loss"
    if cmd.order_type in (OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT):
        return "take_profit"
    return "exit" if cmd.reduce_only else "entry"


def restore(engine: Engine, state: JournalState, resume: bool = False) -> list[tuple[str, str]]:
    """Daily-loss state, a halt that holds and symbol states, before the engine starts; notices for
    the journal, (kind, message). `resume`: the operator lifts such a halt (--resume)."""
    notes: list[tuple[str, str]] = []
    if state.halted is not None:
        notice, at = state.halted
        since = f"{when(at)} UTC"
        if resume:
            notes.append((HALT_LIFTED, f"the halt of {since} is lifted (--resume): {notice}"))
        else:
            engine.restore_halt(f"halted before the restart ({since}): {notice}")
            notes.append((HALT_HOLDS, f"still halted since {since}: {notice}"))
    if state.daily is not None:
        engine.restore_daily(state.daily)
        if state.daily.breached:
            notes.append(("recovery", "the daily loss cap was breached earlier today: no entries until 00:00 UTC"))
    for symbol, (name, entered) in state.states.items():
        if symbol in engine.symbol_names:
            if engine.restore_state(symbol, name, entered):
                notes.append(("recovery", f"{symbol}: back in state {name}"))
            else:
                notes.append(
                    (
                        "recovery",
                        f"{symbol}: state {name} is not in this rulebook; starting in {engine.book.initial_state}",
                    )
                )
    return notes


def _at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def missed_timers(book: CompiledRulebook, state: JournalState, now: int) -> list[str]:
    """What each `cron` and `every` timer would have fired while the bot was stopped (from the last
    row of its journal to `now`), said once at the start: a restarted bot does not make them up, so
    a position an `every 4h` exit was to close stays open until the next time it comes due."""
    if state.last_time is None:
        return []
    notes = []
    since = f"{_at(state.last_time)} UTC"
    for key, count, last, nxt in missed(book, state.last_time, now):
        rules = ", ".join(r.name for r in book.rules if r.trigger.key == key)
        times = "once" if count == 1 else f"{'at least ' if count >= MISSED_COUNT_LIMIT else ''}{count:,} times"
        notes.append(
            f"`{key[0]} {key[1]}` ({rules}) came due {times} while the bot was stopped (since {since}), the last "
            f"at {_at(last)} UTC; a restart does not make it up: it fires next at {_at(nxt)} UTC"
        )
    return notes


def adopt(
    engine: Engine,
    snap: Reconciliation,
    state: JournalState,
    foreign: ForeignPolicy = "keep",
    at_start: bool = False,
) -> Step:
    """Adopt the exchange's open orders that the journal knows; the others are foreign
    (foreign_orders.py: refused at the start, cancelled or reported, by `foreign`)."""
    step = Step()
    views: list[OrderView | AlgoOrderView] = [*snap.orders, *snap.algo_orders]
    by_id = {foreign_orders.client_id(v): v for v in views}
    open_ids = {o.client_order_id: o.filled_qty for o in snap.orders}
    open_ids.update({a.client_algo_id: ZERO for a in snap.algo_orders})
    # Tracked ones are brought up to date by `order_event`; the journal is asked about the rest.
    untracked = {cid: filled for cid, filled in open_ids.items() if engine.order(cid) is None}
    journal = state.orders(untracked)
    strangers = [by_id[cid] for cid in untracked if cid not in journal]
    handled = foreign_orders.handle(strangers, foreign, at_start, snap.time)  # raises for a refused start
    # In the order they were sent: of two stops that are one (a replacement the last run was making
    # when it stopped), the later is the newer (stop_swap.one_each).
    for cid, (cmd, purpose, rule) in journal.items():
        engine.adopt_order(cmd, purpose, rule, untracked[cid])  # type: ignore[arg-type]
        step.records.append(
            rec.EngineNotice(
                snap.time,
                cmd.symbol,
                "order-adopted",
                f"{purpose} order {cid} ({rule or 'engine'}) still working: tracked",
            )
        )
    step.records.extend(handled.records)
    step.commands.extend(handled.commands)
    return step


def order_event(record: OrderRecord, view: OrderView | AlgoOrderView) -> OrderUpdate | AlgoUpdate | None:
    """What the user stream would have said about a tracked order while it was down (Binance
    replays nothing), from the order as REST reports it now; None when nothing changed.

    A fill found this way carries no commission or realized PnL (REST's order does not say):
    the wallet, and so equity and the daily loss, come right from the reconciled balances."""
    if isinstance(view, AlgoOrderView):
        if view.status == record.algo_status:
            return None
        return AlgoUpdate(
            view.symbol,
            view.client_algo_id,
            view.algo_id,
            view.order_type,
            view.side,
            view.position_side,
            view.status,
            view.quantity,
            view.trigger_price,
            view.price,
            view.reduce_only,
            view.close_position,
            view.working_type,
            None,
            None,
            view.update_time,
        )
    if view.status == record.status and view.filled_qty == record.filled_qty:
        return None
    fill = view.filled_qty - record.filled_qty
    if fill < 0:
        return None
    return OrderUpdate(
        view.symbol,
        view.client_order_id,
        view.order_id,
        view.side,
        view.order_type,
        view.status,
        "TRADE" if fill else view.status.value,
        view.quantity,
        view.price,
        view.average_price,
        view.filled_qty,
        fill,
        view.average_price if fill else ZERO,
        ZERO,
        "",
        ZERO,
        False,
        view.reduce_only,
        view.position_side,
        view.time_in_force,
        view.trigger_price,
        view.working_type,
        None,
        view.update_time,
    )
