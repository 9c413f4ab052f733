"""The long-running bot: venue, engine, journal and scheduler wired together, for `dry-run` and `run`.

One asyncio task owns the engine. Everything else — market data, the user data stream,
scheduled timers, control requests, reloads — goes into one queue, so the engine sees one
event at a time and a reload happens between two events. Each engine step is journaled
before its commands leave (write-ahead), then the commands are executed: on the exchange
simulator for a dry-run (paper fills against real or simulated prices), over REST for live.

Shutdown (SIGINT, SIGTERM, `rulebot kill`, the kill file) follows the kill-switch policy
(`killswitch.py`): `flatten` cancels every order and closes positions reduce-only; `keep`
cancels working entries and leaves positions with their exchange-side stops. The rulebook's
`halt` action and a daily-loss breach act inside the engine: the bot keeps running, halted
(no entries), so that `rulebot status` can still show it; `rulebot kill` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from rulebot.binance.codes import BinanceError
from rulebot.core.account_events import AccountEvent, StreamStatus
from rulebot.core.commands import CancelOrder
from rulebot.core.events import STAMPED, Timer
from rulebot.engine.engine import Engine, Step
from rulebot.engine.market import HISTORY_CANDLES
from rulebot.exchange_sim import SimExchange
from rulebot.journal.encode import Row
from rulebot.journal.writer import Journal, JournalWriteError
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.runtime import paper_account, recovery
from rulebot.runtime.control import ControlServer, claim
from rulebot.runtime.exchange_sync import IN_FLIGHT_MS, reconcile
from rulebot.runtime.executor import Executor, Outcome
from rulebot.runtime.killswitch import Policy, exit_step
from rulebot.runtime.reload import SETTLE_S, settled, try_reload, watch
from rulebot.runtime.scheduler import TimerScheduler
from rulebot.runtime.status import engine_status
from rulebot.runtime.status_risk import risk_status
from rulebot.runtime.warmup import Fetch, warm_up
from rulebot.venues.binance.limiter import RateBudgetExceeded
from rulebot.venues.binance.transport import TransportError
from rulebot.venues.binance.user_stream import UserStream
from rulebot.venues.binance.venue import BinanceVenue
from rulebot.venues.paper import PaperVenue

Mode = Literal["dry-run", "live"]
KILL_FILE = "KILL"
DEFAULT_PAPER_BALANCE = Decimal(10_000)
SEND_TIMEOUT_S = 15.0  # at shutdown, how long answers to commands still out are waited for


@dataclass
class RunConfig:
    rulebook: Path
    mode: Mode = "dry-run"
    run_dir: Path = Path(".rulebot")
    journal: Path | None = None  # default: run_dir / "journal.sqlite"
    balance: Decimal = DEFAULT_PAPER_BALANCE  # paper wallet of a new dry-run (a kept one is reused)
    on_exit: Policy | None = None  # default: the rulebook's risk.on_signal
    use_scheduler: bool = True  # wall-clock timers (live data); off for as-fast-as-possible replays
    watch: bool = True  # reload when the rulebook file changes
    reload_settle_s: float = SETTLE_S  # a reload waits until the file has been still this long
    heartbeat_countdown_ms: int = 60_000
    heartbeat_every_s: float = 20.0
    max_events: int | None = None  # stop after this many market events (tests, soak runs)
    # How often the offset to the exchange's clock is measured again (live feeds): a local clock
    # that drifts would otherwise make data look older or younger than it is (the stale guard).
    clock_sync_every_s: float = 600.0
    strict: bool = False  # a rule whose condition fails at run time stops the bot (kill-switch policy)

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
        venue: BinanceVenue | None = None,
        user_events: UserStream | None = None,
        venue_name: str = "simulated",
        balances: dict[str, Decimal] | None = None,
        clock: Callable[[], int] | None = None,
        warmup: Fetch | None = None,
        clock_sync: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.cfg = cfg
        # The exchange's clock as best known here (ms): timers and `status`'s data age use it, so
        # that a local clock off from Binance's does not make fresh data look old or old data new.
        self.clock = clock or _now
        # A live feed (a clock given): market events are stamped again when the engine takes them,
        # so that data which waited in the bot's own queues counts as old as it is by then.
        self._stamp = clock is not None
        self.warmup = warmup  # closed candles from before the start (REST klines), to start warm
        self.clock_sync = clock_sync  # measures the offset behind `clock` again (REST /fapi/v1/time)
        self.book = book
        self.market_feed = market
        self.instruments = instruments
        self.brackets = brackets
        self.live = cfg.mode == "live"
        self.venue = venue  # live
        self.user_events = user_events  # live: its events come in through `put`
        self.venue_name = venue_name
        # Live: the wallet as the exchange reported it before the start. The engine must begin
        # with it, or the day's start equity would be zero and the daily loss cap would not act.
        self.start_balances = balances
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=10_000)
        self._urgent: deque[object] = deque()
        self.run_id = recovery.new_run_id(cfg.mode)
        self.started_ms = _now()
        self.desk: Executor | None = None  # the engine, its journal and its venue, once running
        self.events = 0  # market events the engine has seen, and by type
        self.events_by_type: dict[str, int] = {}
        self.stopping: Policy | None = None
        self.stop_reason = ""
        self.reloads: list[dict[str, Any]] = []
        self.failed = False
        self.rule_errors: dict[str, int] = {}  # failed condition evaluations, by rule
        self.rule_failed = False  # --strict stopped the bot on a rule error
        self.closers: list[Any] = []  # async callables run last at shutdown (REST sessions)
        self._tasks: list[asyncio.Task[Any]] = []
        self._scheduler: TimerScheduler | None = None
        self._control: ControlServer | None = None
        self._heartbeat = False  # the exchange's dead man's switch is being renewed
        self.on_started: Callable[[], None] | None = None  # the journal was verified and opened
        self.cancelled_unjournaled: list[str] = []  # entries cancelled after the journal failed

    @property
    def engine(self) -> Engine | None:
        return self.desk.engine if self.desk is not None else None

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
        if req.kind == "reload" and payload.get("text") is None:
            await settled(self.cfg.rulebook, self.cfg.reload_settle_s)  # here, not in the engine's task
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
        try:
            private_dir(cfg.run_dir)
            if (cfg.run_dir / KILL_FILE).exists():  # an operator's way to keep a bot from coming back
                raise FileExistsError(f"{cfg.run_dir / KILL_FILE} is there: the kill switch is on; remove it to start")
            held = claim(cfg.run_dir)
            try:
                return await self._run(cfg)
            finally:
                os.close(held)
        finally:
            await self._close_sessions()  # also when the start was refused: no session left unclosed

    async def _close_sessions(self) -> None:
        closers, self.closers = self.closers, []
        for close in closers:
            with contextlib.suppress(Exception):
                await close()

    async def _run(self, cfg: RunConfig) -> dict[str, Any]:
        private_journal(cfg.journal_path())
        journal = await Journal.create(cfg.journal_path(), self.run_id, cfg.mode)
        try:
            state = recovery.read_journal(cfg.journal_path(), cfg.mode)
        except BaseException:
            await journal.close()
            raise
        book, version = self.book, self.book.source_hash
        start = {"mode": cfg.mode, "venue": self.venue_name, "software": recovery.software(), "rulebook": book.name}
        text = {"name": book.name, "how": "start", "text": book.source_text}
        try:
            await journal.write_step([Row(_now(), "run_start", start, version=version),
                                      Row(_now(), "rulebook", text, version=version)])  # fmt: skip
        except BaseException:
            await journal.close()
            raise
        if self.on_started is not None:
            self.on_started()
        try:
            await self._start(state, journal)
            await self._loop()
        except BaseException as exc:
            self.failed = True
            self.stop_reason = self.stop_reason or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            await self._shutdown(journal)
        return self.status()

    async def _start(self, state: recovery.JournalState, journal: Journal) -> None:
        cfg, book = self.cfg, self.book
        asset = next(iter(self.instruments.values())).margin_asset
        if self.live:
            balances = dict(self.start_balances or {})
        else:
            balances = {self.instruments[s].margin_asset: cfg.balance for s in book.symbols}
        paper = None
        paper_file = cfg.run_dir / paper_account.PAPER_FILE
        kept = None if self.live else paper_account.load(paper_file, book.symbols)
        if kept is not None:
            paper = PaperVenue(kept, kept.market)
        elif not self.live:
            market = book.market_type
            sim = SimExchange(
                {s: self.instruments[s] for s in book.symbols},
                {s: self.brackets[s] for s in book.symbols if s in self.brackets},
                market=market,
                balances=balances,
                default_leverage=book.leverage,
                default_margin_type=book.margin_type,
                hedge_mode=book.hedge,
            )
            paper = PaperVenue(sim, market)
        engine = Engine(
            book,
            {s: self.instruments[s] for s in book.symbols},
            balances or {asset: Decimal(0)},
            run_id=self.run_id.split("-")[-1][:8],
            brackets={s: self.brackets[s] for s in book.symbols if s in self.brackets},
        )
        self.desk = Executor(engine, journal, paper=paper, venue=self.venue,
                             on_unknown=lambda why: self._reconcile_later(why, 1.0),
                             on_rule_error=self._rule_error,
                             on_outcome=self.push if self.live else None,
                             paper_file=None if self.live else paper_file)  # fmt: skip
        restored = recovery.restore(engine, state)
        if kept is not None:
            await self._adopt_paper(kept, state)
        elif paper is not None:
            self.desk.save_paper()
        if self.warmup is not None:
            for note in await warm_up(engine, self.warmup, HISTORY_CANDLES):
                await self._note(_now(), "warm-up", note)
        if self.user_events is not None:
            self.user_events.start()  # before the snapshot: no fill can fall between the two
            await self._user_stream_up(self.user_events)
        if self.live:
            await self._reconcile(state, "start")
        self._install_signals()
        self._control = ControlServer(cfg.run_dir, self.request)
        await self._control.start()
        if cfg.use_scheduler:
            self._scheduler = TimerScheduler(book, self.push, self.clock)
            self._scheduler.start()
        if self.live and self.venue is not None:
            self.venue.start_heartbeat(book.symbols, cfg.heartbeat_countdown_ms, cfg.heartbeat_every_s)
            self._heartbeat = True
        self._tasks.append(asyncio.create_task(self._pump_market(), name="market"))
        self._tasks.append(asyncio.create_task(self._watch_kill_file(), name="kill-file"))
        if self.clock_sync is not None:
            self._tasks.append(asyncio.create_task(self._sync_clock(self.clock_sync), name="clock-sync"))
        if cfg.watch:
            changed = lambda: self.push(_Request("reload", {"reason": "file changed"}))  # noqa: E731
            watcher = watch(cfg.rulebook, changed, cfg.reload_settle_s)
            self._tasks.append(asyncio.create_task(watcher, name="watch"))
        await self._journal_notes(restored)

    async def _adopt_paper(self, sim: SimExchange, state: recovery.JournalState) -> None:
        """A restarted dry-run takes its kept paper account as a live bot takes Binance's: the
        positions and balances as they are, the working orders the journal knows adopted."""
        desk = self._desk()
        engine = desk.engine
        t = max([p.update_time for p in sim.positions()] + [b.update_time for b in sim.balances()] + [0])
        snap = paper_account.snapshot(sim, self.book.symbols, t)
        await desk.process(recovery.adopt(engine, snap, state), t)
        await desk.process(engine.on_event(snap.account), t)
        wallets = ", ".join(f"{b.wallet_balance} {b.asset}" for b in snap.account.balances)
        held = [p for p in snap.account.positions if p.amount]
        summary = (f"paper account restored from {desk.paper_file}: {wallets}, {len(held)} position(s), "
                   f"{len(snap.orders) + len(snap.algo_orders)} working order(s)")  # fmt: skip
        if self.cfg.balance != DEFAULT_PAPER_BALANCE:
            summary += f" (--balance {self.cfg.balance} applies to a new account only)"
        print(summary, file=sys.stderr)
        await desk.note(t, "reconciled", summary)

    async def _user_stream_up(self, stream: UserStream, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not stream.ws.connected:
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"the user data stream did not connect within {timeout_s:g} s, and without it the bot "
                    "cannot see its fills; check the network and --ws-url"
                )
            await asyncio.sleep(0.02)

    async def _loop(self) -> None:
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
            if isinstance(item, Outcome):  # a venue's answer to a command sent in the background
                await self._desk().settle(item)
                continue
            if isinstance(item, StreamStatus) and item.stream == "user" and item.detail == "reconnected" and self.live:
                await self._reconcile_or_retry("user stream reconnected")
            t = _time_of(item)
            if not started:
                started = True
                await self._process(self._engine().start(t), t)  # the engine's clock starts with the data's
            await self._event(item, t)
            if self.cfg.max_events is not None and self.events >= self.cfg.max_events:
                self.stop_reason = f"stopped after {self.events} market events"
                break

    async def _event(self, event: object, t: int) -> None:
        desk = self._desk()
        if isinstance(event, AccountEvent):  # the user stream's, live: journaled like paper fills
            await desk.account(event, t)
            return
        if self._stamp and isinstance(event, STAMPED):
            event = replace(event, received=self.clock())  # type: ignore[type-var]
        if not isinstance(event, Timer):
            self.events += 1
            name = type(event).__name__
            self.events_by_type[name] = self.events_by_type.get(name, 0) + 1
            if desk.paper is not None:
                reports = desk.paper.on_market(event)
                if reports or self.events % paper_account.SAVE_EVERY_EVENTS == 0:
                    desk.save_paper()  # fills, funding, liquidations; trailing stops follow the market
                for report in reports:
                    await desk.account(report, t)
        await desk.process(desk.engine.on_event(event), t)

    async def _process(self, step: Step, t: int) -> None:
        await self._desk().process(step, t)

    async def _note(self, t: int, kind: str, message: str) -> None:
        await self._desk().note(t, kind, message)

    def _desk(self) -> Executor:
        assert self.desk is not None, "the runner is not running"
        return self.desk

    def _engine(self) -> Engine:
        return self._desk().engine

    def _rule_error(self, decision: Any) -> None:
        """A condition failed (it counted as false): said once per rule, every one journaled;
        under --strict the bot stops with its kill-switch policy."""
        seen = self.rule_errors.get(decision.rule, 0)
        self.rule_errors[decision.rule] = seen + 1
        if seen == 0:
            print(
                f"rule {decision.rule!r} failed on {decision.symbol}: {decision.error}; it counts as false "
                "(said once per rule; every failure is journaled: `rulebot audit decisions --errors`)",
                file=sys.stderr,
            )
        if self.cfg.strict and self.stopping is None:
            policy = self.cfg.on_exit or self.book.risk.on_signal
            self.stopping = "flatten" if policy == "flatten" else "keep"
            self.stop_reason = f"--strict: rule {decision.rule!r} failed on {decision.symbol}: {decision.error}"
            self.rule_failed = True

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
                why = str(req.payload.get("reason") or "rulebot reconcile")
                ok = await self._reconcile_or_retry(why, float(req.payload.get("wait_s", 1.0)))
                req.done.set_result({"ok": ok})
            else:
                req.done.set_result({"ok": False, "error": f"unknown command {req.kind!r}"})
        except Exception as exc:
            if not req.done.done():
                req.done.set_result({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            if isinstance(exc, JournalWriteError):
                raise  # the bot must stop: nothing more can be journaled

    async def reload(self, text: str | None = None) -> dict[str, Any]:
        """Compile the rulebook aside; swap it in only when valid and safe. Journaled either way."""
        desk = self._desk()
        engine, journal = desk.engine, desk.journal
        now = engine.time or _now()
        verdict = try_reload(engine, self.cfg.rulebook, text, self.cfg.reload_settle_s)
        version = verdict.book.source_hash if verdict.book is not None else ""
        if verdict.unchanged:
            return {"ok": True, "unchanged": True, "version": version[:12]}
        if verdict.result is None:
            errors = list(verdict.errors)
            print(f"reload of {self.cfg.rulebook} refused; the running rulebook is unchanged:", *errors, sep="\n",
                  file=sys.stderr)  # fmt: skip
            await journal.write(Row(now, "reload", {"accepted": False, "errors": errors}, version=version))
            self.reloads.append({"accepted": False, "errors": errors})
            return {"ok": False, "errors": errors}
        book = verdict.book
        assert book is not None
        desk.engine, self.book = verdict.result.engine, book
        text_row = Row(now, "rulebook", {"name": book.name, "how": "reload", "text": book.source_text}, version=version)
        await journal.write_step([text_row, Row(now, "reload", {"accepted": True, "errors": []}, version=version)])
        if self._scheduler is not None:
            self._scheduler.replace(book)
        await self._process(verdict.result.step, now)
        self.reloads.append({"accepted": True, "version": version[:12]})
        return {"ok": True, "version": version[:12]}

    async def _sync_clock(self, sync: Callable[[], Awaitable[object]]) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.cfg.clock_sync_every_s)
            try:
                await sync()
                failures = 0
            except Exception as exc:  # the old offset stays; said once, not every time
                failures += 1
                if failures == 1:
                    await self._note(self.clock(), "clock-sync", f"could not measure the exchange's clock: {exc}")

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
        if kind != "reload":
            self.push(_Request(kind, {"reason": reason}))
            return

        async def when_settled() -> None:
            await settled(self.cfg.rulebook, self.cfg.reload_settle_s)
            self.push(_Request(kind, {"reason": reason}))

        self._tasks.append(asyncio.create_task(when_settled(), name="reload"))

    @staticmethod
    def _remove_signals() -> None:
        """The event loop may outlive the runner (a test, a program that embeds it)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    # -- shutdown --------------------------------------------------------------------------------

    async def _shutdown(self, journal: Journal) -> None:
        try:
            await self._wind_down(journal)
        finally:
            await journal.close()  # always: its writer thread, left running, would keep the process alive
            self._remove_signals()

    async def _wind_down(self, journal: Journal) -> None:
        engine = self.engine
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._scheduler is not None:
            self._scheduler.stop()
        if engine is not None and not journal.broken and self.stopping is not None:
            try:
                t = engine.time
                await self._process(exit_step(engine, self.stopping, self.stop_reason or "shutdown"), t)
                await self._settle_sends()
                if self.live:
                    await asyncio.sleep(0.5)  # let the last fills arrive on the user stream
                    while not self.queue.empty():
                        item = self.queue.get_nowait()
                        if isinstance(item, AccountEvent):
                            await self._event(item, engine.time)
            except JournalWriteError:
                pass  # handled below, as if it had failed earlier
        if not journal.broken:
            with contextlib.suppress(JournalWriteError):
                await self._settle_sends()  # nothing may be cut off mid-request by closing the session
        if engine is not None and journal.broken:
            self.stopping = "keep"
            await self._cancel_entries_unjournaled(engine)
        if self.desk is not None:
            with contextlib.suppress(OSError):  # a full disk must not hide why the bot stopped
                self.desk.save_paper()
            await self.desk.close()
        if self._heartbeat and self.venue is not None:
            if self.stopping == "flatten":
                self.venue.stop_heartbeat_task()
            else:
                await self.venue.stop_heartbeat(self.book.symbols)
        if self.user_events is not None:
            await self.user_events.stop()
        if self._control is not None:
            await self._control.stop()
        await self._close_sessions()
        body = {"reason": self.stop_reason, "policy": self.stopping, "events": self.events,
                "events_by_type": self.events_by_type}  # fmt: skip
        # Run start and stop are wall-clock times; events keep their own.
        if not journal.broken:
            await journal.write(Row(_now(), "run_stop", body, version=self.book.source_hash))

    async def _cancel_entries_unjournaled(self, engine: Engine) -> None:
        """The journal cannot be written: cancel the working entries (a cancel can never add to a
        position, so it needs no write-ahead row) and leave positions with their exchange-side
        stops. Nothing else is sent: an order not journaled first could be sent twice."""
        desk, t = self._desk(), engine.time
        for record in engine.oms.open_orders():
            if record.purpose != "entry":
                continue
            cmd = CancelOrder(record.command.symbol, record.client_order_id, t)
            with contextlib.suppress(Exception):  # what it can: the exchange may be unreachable too
                ok = desk.paper.execute(cmd, t).ok if desk.paper is not None else (await self._venue_cancel(cmd))
                if ok:
                    self.cancelled_unjournaled.append(record.client_order_id)

    async def _venue_cancel(self, cmd: CancelOrder) -> bool:
        assert self.venue is not None
        return (await self.venue.execute(cmd)).ok

    async def _settle_sends(self, timeout_s: float = SEND_TIMEOUT_S) -> None:
        """Wait for the answers of commands still out (live), and settle them and what they cause."""
        desk = self.desk
        if desk is None:
            return
        for _ in range(5):  # a refusal may cause commands (a repair), whose answers come back too
            if not await desk.drain(timeout_s):
                await self._note(desk.engine.time, "shutdown", f"order answers still outstanding after {timeout_s:g} s")
            outcomes = [i for i in self._urgent if isinstance(i, Outcome)]
            if not outcomes:
                return
            self._urgent = deque(i for i in self._urgent if not isinstance(i, Outcome))
            for outcome in outcomes:
                await desk.settle(outcome)

    async def _reconcile(self, state: recovery.JournalState, why: str) -> None:
        assert self.venue is not None
        for cid in await reconcile(self._desk(), self.venue, self.book.symbols, state, why):
            self._reconcile_later(f"order {cid} is not on the exchange yet", IN_FLIGHT_MS / 1000)

    async def _reconcile_or_retry(self, why: str, wait_s: float = 1.0) -> bool:
        """Reconcile now; if the exchange cannot be read, note it and try again later."""
        try:
            await self._reconcile(recovery.JournalState(), why)
            return True
        except (TransportError, BinanceError, RateBudgetExceeded) as exc:
            await self._note(self._engine().time, "reconcile-failed", f"{why}: {exc}; trying again in {wait_s:g} s")
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
        """What `rulebot status` shows (answered between two events, never queued)."""
        if self.engine is None:
            return {"ok": True, "running": False}
        return {
            "ok": True, "running": self.stopping is None, "mode": self.cfg.mode, "run_id": self.run_id,
            "events": self.events, "events_by_type": dict(self.events_by_type),
            **engine_status(self.engine, self.clock()),
            "reloads": self.reloads[-5:], "stop_reason": self.stop_reason, "failed": self.failed,
            "rule_errors": dict(self.rule_errors), "rule_failed": self.rule_failed,
            "venue": self.venue_name, "started_ms": self.started_ms, **_risk(self.engine),
        }  # fmt: skip


def private_dir(path: Path) -> None:
    """The run directory: the journal, the control socket and the lock, for the bot's user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)


def private_journal(path: Path) -> None:
    """Journal files readable by the bot's user only (SQLite gives its -wal and -shm the mode of
    the database file; an existing journal is tightened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-anchor")):
        with contextlib.suppress(FileNotFoundError):
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)


def _risk(engine: Engine) -> dict[str, Any]:
    """The risk view for the web page; a failure there must never fail `status` itself."""
    try:
        return risk_status(engine)
    except Exception as exc:
        return {"risk_error": f"{type(exc).__name__}: {exc}"}


def _time_of(event: object) -> int:
    return int(getattr(event, "close_time", None) or getattr(event, "time", 0) or 0)


def _now() -> int:
    return int(time.time() * 1000)
