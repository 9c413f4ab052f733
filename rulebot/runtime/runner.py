"""The long-running bot: venue, engine, journal and scheduler wired together, for `dry-run` and `run`.

One asyncio task owns the engine. Everything else — market data, the user data stream,
scheduled timers, control requests, reloads — goes into one queue, so the engine sees one
event at a time and a reload happens between two events. Each engine step is journaled
before its commands leave (write-ahead), then the commands are executed: on the exchange
simulator for a dry-run (paper fills against real or simulated prices), over REST for live.

Shutdown (SIGINT, SIGTERM, `rulebot kill`, the kill file, the `halt` action) follows the
kill-switch policy: `flatten` cancels every order and closes positions reduce-only; `keep`
cancels working entries and leaves positions with their exchange-side stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from rulebot.core.account_events import AccountEvent, StreamStatus
from rulebot.core.commands import CancelOrder, Command, PlaceOrder, SetLeverage, SetMarginType, SetPositionMode
from rulebot.core.enums import MarginType, Market
from rulebot.core.events import Timer
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.engine.reload import ReloadRefused, reload_engine
from rulebot.exchange_sim import SimExchange
from rulebot.journal.encode import Row, to_row
from rulebot.journal.writer import Journal
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.compiler import compile_file, compile_text
from rulebot.rulebook.errors import RulebookError
from rulebot.runtime import recovery
from rulebot.runtime.control import ControlServer
from rulebot.runtime.exchange_sync import IN_FLIGHT_MS, read_exchange
from rulebot.runtime.scheduler import TimerScheduler
from rulebot.venues.binance.errors import BinanceError
from rulebot.venues.binance.limiter import RateBudgetExceeded
from rulebot.venues.binance.transport import TransportError
from rulebot.venues.paper import PaperVenue

Mode = Literal["dry-run", "live"]
Policy = Literal["flatten", "keep"]
KILL_FILE = "KILL"


@dataclass
class RunConfig:
    rulebook: Path
    mode: Mode = "dry-run"
    run_dir: Path = Path(".rulebot")
    journal: Path | None = None  # default: run_dir / "journal.sqlite"
    balance: Decimal = Decimal(10_000)  # paper wallet for a dry-run
    on_exit: Policy | None = None  # default: the rulebook's risk.on_signal
    use_scheduler: bool = True  # wall-clock timers (live data); off for as-fast-as-possible replays
    watch: bool = True  # reload when the rulebook file changes
    heartbeat_countdown_ms: int = 60_000
    heartbeat_every_s: float = 20.0
    max_events: int | None = None  # stop after this many market events (tests, soak runs)

    def journal_path(self) -> Path:
        return self.journal or self.run_dir / "journal.sqlite"


@dataclass
class _Request:
    kind: str
    payload: dict[str, Any]
    done: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


_END = object()
_WAKE = object()


class Runner:
    """Run a rulebook until the market ends, a kill, or a signal."""

    def __init__(
        self,
        cfg: RunConfig,
        book: CompiledRulebook,
        market: AsyncIterator[object],
        *,
        instruments: dict[str, Any],
        brackets: dict[str, Any],
        venue: Any = None,
        user_events: Any = None,
        venue_name: str = "simulated",
        balances: dict[str, Decimal] | None = None,
    ) -> None:
        self.cfg = cfg
        self.book = book
        self.market_feed = market
        self.instruments = instruments
        self.brackets = brackets
        self.live = cfg.mode == "live"
        self.venue = venue  # BinanceVenue when live
        self.user_events = user_events  # an object with start()/stop(), feeding `self.put`
        self.venue_name = venue_name
        # Live: the wallet as the exchange reported it before the start. The engine must begin
        # with it, or the day's start equity would be zero and the daily loss cap would not act.
        self.start_balances = balances
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=10_000)
        self._urgent: deque[object] = deque()
        self.run_id = recovery.new_run_id(cfg.mode)
        self.paper: PaperVenue | None = None
        self.engine: Engine | None = None
        self.journal: Journal | None = None
        self.events = 0  # market events the engine has seen, and by type
        self.events_by_type: dict[str, int] = {}
        self.stopping: Policy | None = None
        self.stop_reason = ""
        self.reloads: list[dict[str, Any]] = []
        self.failed = False
        self.closers: list[Any] = []  # async callables run last at shutdown (REST sessions)
        self._tasks: list[asyncio.Task[Any]] = []
        self._scheduler: TimerScheduler | None = None
        self._control: ControlServer | None = None
        self._daily_seen: tuple[object, int | None] = (None, None)

    # -- inputs ----------------------------------------------------------------------------------

    async def put(self, event: object) -> None:
        await self.queue.put(event)

    async def _pump_market(self) -> None:
        try:
            async for event in self.market_feed:
                await self.queue.put(event)
        except Exception as exc:
            self.stop_reason = f"the market feed failed: {type(exc).__name__}: {exc}"
            self.failed = True
        await self.queue.put(_END)

    async def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """What the control socket answers, in-process: `{"cmd": "status"}`, `{"cmd": "kill",
        "policy": "flatten"}`, `{"cmd": "reload"}`; from the runner's own event loop."""
        req = _Request(str(payload.get("cmd", "")), payload)
        if req.kind == "status":  # read-only: answered at once, between two events
            return self.status()
        self.push(req)
        return await req.done

    def push(self, item: object) -> None:
        """Requests and timers go ahead of queued market data and never wait for room: a
        kill must get through a full queue."""
        self._urgent.append(item)
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(_WAKE)  # the loop may be waiting on an empty queue

    # -- the loop --------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        cfg = self.cfg
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        state = recovery.read_journal(cfg.journal_path())
        self.journal = await Journal.create(cfg.journal_path(), self.run_id)
        book = self.book
        await self.journal.write_step(
            [
                Row(
                    _now(),
                    "run_start",
                    {
                        "mode": cfg.mode,
                        "venue": self.venue_name,
                        "software": recovery.software(),
                        "rulebook": book.name,
                    },
                    version=book.source_hash,
                ),
                Row(
                    _now(),
                    "rulebook",
                    {"name": book.name, "how": "start", "text": book.source_text},
                    version=book.source_hash,
                ),
            ]
        )
        asset = next(iter(self.instruments.values())).margin_asset
        if self.live:
            balances = dict(self.start_balances or {})
        else:
            balances = {self.instruments[s].margin_asset: cfg.balance for s in book.symbols}
        if not self.live:
            market = Market.USDM if book.market == "usdm" else Market.COINM
            sim = SimExchange(
                {s: self.instruments[s] for s in book.symbols},
                {s: self.brackets[s] for s in book.symbols if s in self.brackets},
                market=market,
                balances=balances,
                default_leverage=book.leverage,
                default_margin_type=MarginType.CROSSED if book.margin == "cross" else MarginType.ISOLATED,
                hedge_mode=book.position_mode == "hedge",
            )
            self.paper = PaperVenue(sim, market)
        self.engine = Engine(
            book,
            {s: self.instruments[s] for s in book.symbols},
            balances or {asset: Decimal(0)},
            run_id=self.run_id.split("-")[-1][:8],
            brackets={s: self.brackets[s] for s in book.symbols if s in self.brackets},
        )
        restored = recovery.restore(self.engine, state)
        if self.live:
            await self._reconcile(state, "start")
        self._install_signals()
        self._control = ControlServer(cfg.run_dir, self.request)
        await self._control.start()
        if cfg.use_scheduler:
            self._scheduler = TimerScheduler(book, self.push)
            self._scheduler.start()
        if self.user_events is not None:
            self.user_events.start()
        if self.live and self.venue is not None:
            self.venue.start_heartbeat(book.symbols, cfg.heartbeat_countdown_ms, cfg.heartbeat_every_s)
        self._tasks.append(asyncio.create_task(self._pump_market(), name="market"))
        self._tasks.append(asyncio.create_task(self._watch_kill_file(), name="kill-file"))
        if cfg.watch:
            self._tasks.append(asyncio.create_task(self._watch_rulebook(), name="watch"))
        await self._journal_notes(restored)
        try:
            await self._loop()
        finally:
            await self._shutdown()
        return self.status()

    async def _loop(self) -> None:
        engine = self.engine
        assert engine is not None
        started = False
        while self.stopping is None:
            item = self._urgent.popleft() if self._urgent else await self.queue.get()
            if item is _WAKE:
                continue
            if item is _END:
                self.stop_reason = self.stop_reason or "the market feed ended"
                break
            if isinstance(item, _Request):
                await self._handle_request(item)
                continue
            if isinstance(item, StreamStatus) and item.stream == "user" and item.detail == "reconnected" and self.live:
                await self._reconcile_or_retry("user stream reconnected")
            t = _time_of(item)
            if not started:
                started = True
                await self._process(engine.start(t), t)  # the engine's clock starts with the data's
            await self._event(item, t)
            if self.cfg.max_events is not None and self.events >= self.cfg.max_events:
                self.stop_reason = f"stopped after {self.events} market events"
                break

    async def _event(self, event: object, t: int) -> None:
        engine = self.engine
        assert engine is not None
        if isinstance(event, AccountEvent):  # the user stream's, live: journaled like paper fills
            await self._account(event, t)
            return
        if not isinstance(event, Timer):
            self.events += 1
            name = type(event).__name__
            self.events_by_type[name] = self.events_by_type.get(name, 0) + 1
            if self.paper is not None:
                for report in self.paper.on_market(event):
                    await self._account(report, t)
        await self._process(engine.on_event(event), t)

    async def _account(self, ev: AccountEvent, t: int) -> None:
        assert self.engine is not None and self.journal is not None
        row = to_row(ev, self.engine.book.source_hash)
        if row is not None:
            await self.journal.write(row)
        await self._process(self.engine.on_event(ev), t)

    async def _process(self, step: Step, t: int) -> None:
        """Journal the step (write-ahead), then send its commands."""
        engine, journal = self.engine, self.journal
        assert engine is not None and journal is not None
        daily = self._daily_row(engine, t)
        if not step.records and not step.commands and daily is None:
            return
        rows = [r for r in (to_row(x, engine.book.source_hash) for x in (*step.records, *step.commands)) if r]
        if daily is not None:
            rows.append(daily)
        await journal.write_step(rows)
        for cmd in step.commands:
            await self._send(cmd, t)

    def _daily_row(self, engine: Engine, t: int) -> Row | None:
        """The daily-loss state when it changed (a new day, a breach): what a restart restores."""
        today, breach = engine.portfolio.today, engine.daily_breach_day
        if today is None or (today is self._daily_seen[0] and breach == self._daily_seen[1]):
            return None
        self._daily_seen = (today, breach)
        daily = engine.daily_state()
        assert daily is not None
        body = {"day": daily.day, "start_equity": {k: str(v) for k, v in daily.start_equity.items()},
                "breached": daily.breached}  # fmt: skip
        return Row(t, "daily", body)

    async def _send(self, cmd: Command, t: int) -> None:
        engine = self.engine
        assert engine is not None
        if self.paper is not None:
            res = self.paper.execute(cmd, t)
            for ev in res.events:
                await self._account(ev, t)
            ok, code, msg = res.ok or res.code in (-4046, -4059), res.code, res.message or ""
        else:
            assert self.venue is not None
            result = await self.venue.execute(cmd)
            ok, code, msg = result.ok, result.code, result.message or ""
            if not ok and getattr(result, "unknown", False):
                # It may have executed: refusing it in the engine could send it again. It stays
                # as sent; its own updates on the user stream, or a reconciliation, settle it.
                cid = getattr(cmd, "client_order_id", "")
                await self._note(t, "order-unknown", f"{type(cmd).__name__} {cid}: {msg}; not sent again, reconciling")
                self._reconcile_later("an order of unknown fate", 1.0)
                return
        if ok:
            return
        if isinstance(cmd, PlaceOrder | CancelOrder) and getattr(cmd, "client_order_id", None):
            if isinstance(cmd, CancelOrder):
                await self._note(t, "cancel-failed", f"cancel of {cmd.client_order_id} refused ({code}: {msg})")
                return
            await self._process(engine.on_reject(cmd.client_order_id, code, msg, t), t)
        elif isinstance(cmd, SetMarginType | SetPositionMode | SetLeverage):
            await self._process(engine.on_setup_rejected(cmd, code, msg, t), t)
        else:
            await self._note(t, "command-rejected", f"{type(cmd).__name__} refused ({code}: {msg})")

    async def _note(self, t: int, kind: str, message: str) -> None:
        assert self.journal is not None
        await self.journal.write(Row(t, "notice", {"kind": kind, "message": message}))

    # -- requests: kill, reload -------------------------------------------------------------------

    async def _handle_request(self, req: _Request) -> None:
        try:
            if req.kind == "kill":
                policy = req.payload.get("policy") or self.cfg.on_exit or self.book.risk.on_signal
                self.stopping = "flatten" if policy == "flatten" else "keep"
                self.stop_reason = str(req.payload.get("reason") or "rulebot kill")
                req.done.set_result({"ok": True, "policy": self.stopping})
            elif req.kind == "reload":
                req.done.set_result(await self.reload(req.payload.get("text")))
            elif req.kind == "reconcile" and self.live:
                ok = await self._reconcile_or_retry(str(req.payload.get("reason") or "rulebot reconcile"))
                req.done.set_result({"ok": ok})
            else:
                req.done.set_result({"ok": False, "error": f"unknown command {req.kind!r}"})
        except Exception as exc:
            if not req.done.done():
                req.done.set_result({"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    async def reload(self, text: str | None = None) -> dict[str, Any]:
        """Compile the rulebook aside; swap it in only when valid and safe. Journaled either way."""
        engine, journal = self.engine, self.journal
        assert engine is not None and journal is not None
        path = self.cfg.rulebook
        now = engine.time or _now()
        try:
            source = text if text is not None else path.read_text()
            book = compile_text(source, str(path))
        except (OSError, RulebookError) as exc:
            errors = [_diagnostic(d) for d in getattr(exc, "diagnostics", []) if d.severity == "error"] or [str(exc)]
            print(f"reload of {path} refused; the running rulebook is unchanged:", *errors, sep="\n  ", file=sys.stderr)
            await journal.write(Row(now, "reload", {"accepted": False, "errors": errors}))
            self.reloads.append({"accepted": False, "errors": errors})
            return {"ok": False, "errors": errors}
        if book.source_hash == engine.book.source_hash:
            return {"ok": True, "unchanged": True, "version": book.source_hash[:12]}
        try:
            result = reload_engine(engine, book)
        except ReloadRefused as exc:
            await journal.write(Row(now, "reload", {"accepted": False, "errors": [str(exc)]}, version=book.source_hash))
            self.reloads.append({"accepted": False, "errors": [str(exc)]})
            return {"ok": False, "errors": [str(exc)]}
        self.engine, self.book = result.engine, book
        await journal.write_step(
            [
                Row(
                    now,
                    "rulebook",
                    {"name": book.name, "how": "reload", "text": book.source_text},
                    version=book.source_hash,
                ),
                Row(now, "reload", {"accepted": True, "errors": []}, version=book.source_hash),
            ]
        )
        if self._scheduler is not None:
            self._scheduler.replace(book)
        await self._process(result.step, now)
        self.reloads.append({"accepted": True, "version": book.source_hash[:12]})
        return {"ok": True, "version": book.source_hash[:12]}

    async def _watch_rulebook(self) -> None:
        import watchfiles

        async for _ in watchfiles.awatch(self.cfg.rulebook, debounce=200, step=50):
            self.push(_Request("reload", {}))

    async def _watch_kill_file(self) -> None:
        path = self.cfg.run_dir / KILL_FILE
        while True:
            await asyncio.sleep(0.5)
            if path.exists():
                policy = path.read_text().strip() or None
                self.push(_Request("kill", {"policy": policy, "reason": f"kill file {path}"}))
                return

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, reason in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._signalled, "kill", reason)
        with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, self._signalled, "reload", "SIGHUP")

    def _signalled(self, kind: str, reason: str) -> None:
        self.push(_Request(kind, {"reason": reason}))

    @staticmethod
    def _remove_signals() -> None:
        """The event loop may outlive the runner (a test, a program that embeds it)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    # -- shutdown --------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        engine = self.engine
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._scheduler is not None:
            self._scheduler.stop()
        if engine is not None and self.stopping is not None:
            t = engine.time
            if self.stopping == "flatten":
                step = Step()
                engine.halt(self.stop_reason or "shutdown", step)
                await self._process(step, t)
            else:
                step = Step()
                for record in engine.oms.open_orders():
                    if record.purpose == "entry":
                        step.commands.append(CancelOrder(record.command.symbol, record.client_order_id, t))
                step.records.append(
                    rec.EngineNotice(
                        t, "", "shutdown", f"{self.stop_reason}: entries cancelled, positions left with their stops"
                    )
                )
                await self._process(step, t)
            if self.live:
                await asyncio.sleep(0.5)  # let the last fills arrive on the user stream
                while not self.queue.empty():
                    item = self.queue.get_nowait()
                    if isinstance(item, AccountEvent):
                        await self._event(item, engine.time)
        if self.live and self.venue is not None:
            if self.stopping == "flatten":
                self.venue.stop_heartbeat_task()
            else:
                await self.venue.stop_heartbeat(self.book.symbols)
        if self.user_events is not None:
            await self.user_events.stop()
        if self._control is not None:
            await self._control.stop()
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()
        if self.journal is not None:
            await self.journal.write(
                Row(
                    _now(),  # run start and stop are wall-clock times; events keep their own
                    "run_stop",
                    {
                        "reason": self.stop_reason,
                        "policy": self.stopping,
                        "events": self.events,
                        "events_by_type": self.events_by_type,
                    },
                    version=self.book.source_hash,
                )
            )
            await self.journal.close()
        self._remove_signals()

    async def _reconcile(self, state: recovery.JournalState, why: str) -> None:
        """Take the exchange's word for orders, positions and balances (at start, after a
        user-stream reconnect, after an order of unknown fate)."""
        engine = self.engine
        assert self.venue is not None and engine is not None
        now = await read_exchange(self.venue, self.book.symbols, [r.command for r in engine.oms.open_orders()])
        snap, t = now.snap, now.snap.time
        await self._process(recovery.adopt(engine, snap, state), t)
        await self._process(engine.on_event(snap.account), t)
        settled = 0
        for record in engine.oms.open_orders():
            cid = record.client_order_id
            view = now.orders.get(cid)
            if view is not None:
                event = recovery.order_event(record, view)
                if event is not None:
                    settled += 1
                    await self._account(event, t)
            elif t - record.command.time < IN_FLIGHT_MS:
                self._reconcile_later(f"order {cid} is not on the exchange yet", IN_FLIGHT_MS / 1000)
            else:
                settled += 1
                why_gone = "Binance does not have it: it never arrived (found when reconciling)"
                await self._process(engine.on_reject(cid, -2013, why_gone, t), t)
        await self._note(
            t,
            "reconciled",
            f"{why}: {len(snap.orders) + len(snap.algo_orders)} open orders, "
            f"{sum(1 for p in snap.account.positions if p.amount)} positions, {settled} orders brought up to date",
        )

    async def _reconcile_or_retry(self, why: str, wait_s: float = 1.0) -> bool:
        """Reconcile now; if the exchange cannot be read, note it and try again later."""
        try:
            await self._reconcile(recovery.JournalState(), why)
            return True
        except (TransportError, BinanceError, RateBudgetExceeded) as exc:
            assert self.engine is not None
            await self._note(self.engine.time, "reconcile-failed", f"{why}: {exc}; trying again in {wait_s:g} s")
            self._reconcile_later(why, min(wait_s * 2, 60.0))
            return False

    def _reconcile_later(self, why: str, wait_s: float) -> None:
        async def later() -> None:
            await asyncio.sleep(wait_s)
            self.push(_Request("reconcile", {"reason": why, "wait_s": wait_s}))

        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(later(), name="reconcile"))

    async def _journal_notes(self, notes: list[str]) -> None:
        for n in notes:
            await self._note(_now(), "recovery", n)

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        engine = self.engine
        if engine is None:
            return {"ok": True, "running": False}
        pf = engine.portfolio
        positions = [{"symbol": p.symbol, "side": p.side, "size": str(p.size), "entry_price": str(p.entry_price),
                      "upnl": str(pf.unrealized(p.symbol, p.position_side))}
                     for p in pf.positions.values() if p.amount != 0]  # fmt: skip
        orders = [{"client_order_id": r.client_order_id, "symbol": r.command.symbol, "purpose": r.purpose,
                   "rule": r.rule, "side": r.command.side.value, "type": r.command.order_type.value,
                   "quantity": str(r.command.quantity),
                   "status": r.algo_status or (r.status.value if r.status else "sent")}
                  for r in engine.oms.open_orders()]  # fmt: skip
        assets = sorted(pf.wallet)
        return {
            "ok": True, "running": self.stopping is None, "mode": self.cfg.mode, "run_id": self.run_id,
            "rulebook": engine.book.name, "version": engine.book.source_hash[:12], "events": self.events,
            "states": {s: r.state for s, r in engine.symbols.items()}, "positions": positions, "orders": orders,
            "equity": {a: str(pf.equity(a)) for a in assets}, "daily_pnl": {a: str(pf.daily_pnl(a)) for a in assets},
            "guards": {"halted": engine.halted, "daily_loss_breached": engine.daily_breach_day is not None,
                       "streams_down": sorted(engine.streams_down),
                       "volatility_breaker": {s: r.volatility_tripped for s, r in engine.symbols.items()}},
            "reloads": self.reloads[-5:], "events_by_type": dict(self.events_by_type),
        }  # fmt: skip


def _time_of(event: object) -> int:
    return int(getattr(event, "close_time", None) or getattr(event, "time", 0) or 0)


def _now() -> int:
    return int(time.time() * 1000)


def load_book(path: Path) -> CompiledRulebook:
    return compile_file(str(path))


def _diagnostic(d: Any) -> str:
    """A compiler error in one line: file:line:col: severity: message (hint)."""
    where = f"{d.span.file}:{d.span.line}:{d.span.column}" if d.span is not None else "?"
    return f"{where}: {d.severity}: {d.message}" + (f" ({d.hint})" if d.hint else "")
