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
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from rulebot.core.account_events import AccountEvent, StreamStatus
from rulebot.core.errors import UserError
from rulebot.core.events import STAMPED, Timer
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.engine.engine import Engine, Step
from rulebot.exchange_sim import FillModel
from rulebot.journal.encode import Row
from rulebot.journal.writer import Journal
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.runtime import recovery
from rulebot.runtime.control import ControlServer, claim
from rulebot.runtime.deadline_wake import DeadlineWake, next_deadline
from rulebot.runtime.executor import Executor, Outcome
from rulebot.runtime.killswitch import Policy
from rulebot.runtime.reload import settled
from rulebot.runtime.run_config import (
    _END,
    _WAKE,
    KILL_FILE,
    RunConfig,
    _now,
    _Request,
)
from rulebot.runtime.runner_requests import RunnerRequests
from rulebot.runtime.runner_shutdown import RunnerShutdown
from rulebot.runtime.runner_startup import RunnerStartup, private_dir, private_journal
from rulebot.runtime.scheduler import TimerScheduler
from rulebot.runtime.sources import MarketSource, PushSource, pushed
from rulebot.runtime.warmup import Fetch
from rulebot.venues.binance.user_stream import UserStream
from rulebot.venues.binance.venue import BinanceVenue

# Queued events the loop takes in a row before it lets other tasks run (a request's, the control
# socket's): a kill waits behind at most this many, not behind a full queue.
YIELD_EVERY = 64


class Runner(RunnerStartup, RunnerRequests, RunnerShutdown):
    """Run a rulebook until the market ends, a kill, or a signal."""

    def __init__(
        self,
        cfg: RunConfig,
        book: CompiledRulebook,
        market: MarketSource,
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
        fee_rates: FeeRates = DEFAULT_FEE_RATES,
        fill_model: FillModel = FillModel(),
    ) -> None:
        self.cfg = cfg
        # The account's commission rates (live: read from commissionRate at the start): the paper
        # account charges them and the daily loss cap counts them before an order.
        self.fee_rates = fee_rates
        self.fill_model = fill_model  # how a dry-run's paper account fills (a backtest's model)
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
        # The one queue every input waits in: Binance's streams and the user stream put into it
        # directly, replayed and simulated feeds are pumped into it. Bounded, so that a feed
        # faster than the engine waits (on live streams the socket's reads wait) instead of
        # filling memory; requests and timers go ahead of it in `_urgent`.
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
        # The last refused reload (its text's digest and reasons), journaled once however many
        # triggers judge it: the watcher and `rulebot reload` both see one edit.
        self.last_refusal: tuple[str, ...] | None = None
        self.last_refusal_at = 0.0
        self.failed = False
        self.rule_errors: dict[str, int] = {}  # failed condition evaluations, by rule
        self.rule_failed = False  # --strict stopped the bot on a rule error
        self.closers: list[Any] = []  # async callables run last at shutdown (REST sessions)
        self._tasks: list[asyncio.Task[Any]] = []
        self._scheduler: TimerScheduler | None = None
        self._wake: DeadlineWake | None = None  # the engine's own deadlines in a silent market, on the wall clock
        self._control: ControlServer | None = None
        self._heartbeat = False  # the exchange's dead man's switch is being renewed
        self.on_started: Callable[[], None] | None = None  # the journal was opened and the start not refused
        self.cancelled_unjournaled: list[str] = []  # entries cancelled after the journal failed
        # Each symbol's last filled entry's rule on each side ("long", "short"), from the journal.
        self.entry_rules: dict[str, dict[str, str]] = {}
        self.last_rulebook: str | None = None  # the rulebook text the last run ran last, from the journal

    @property
    def engine(self) -> Engine | None:
        return self.desk.engine if self.desk is not None else None

    # -- inputs ----------------------------------------------------------------------------------

    async def put(self, event: object) -> None:
        await self.queue.put(event)

    async def _pump_market(self) -> None:
        """The market feed into the one queue. An iterator (replay, simulated) is pumped here; a
        push source (Binance's streams) puts into the queue itself and is stopped when this task
        is cancelled at shutdown. Either way an event is queued once."""
        feed = self.market_feed
        try:
            if isinstance(feed, PushSource):
                await pushed(feed, self.put)
            else:
                async for event in feed:
                    await self.queue.put(event)
        except Exception as exc:
            # A damaged file and the like say what is wrong themselves; an unforeseen error names its type.
            said = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            self.stop_reason = f"the market feed failed: {said}"
            self.failed = True
        await self.queue.put(_END)

    async def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """What the control socket answers, in-process: `{"cmd": "status"}`, `{"cmd": "kill",
        "policy": "flatten"}`, `{"cmd": "reload"}`; from the runner's own event loop."""
        req = _Request(str(payload.get("cmd", "")), payload)
        if req.kind == "status":  # read-only: answered at once, between two events
            return self.status()
        if self.stopping is not None:  # the loop takes no more requests: answered now, not after a timeout
            return self.stopping_answer(req.kind)
        if req.kind == "reload" and payload.get("text") is None:
            await settled(self.cfg.rulebook, self.cfg.reload_settle_s)  # here, not in the engine's task
        self.push(req)
        return await req.done

    def stopping_answer(self, kind: str) -> dict[str, Any]:
        """What a request gets once the bot is stopping: a kill, that it is stopping already (with the
        policy it stops with: a kill of the other policy no longer changes it); anything else, no."""
        if kind == "kill":
            return {"ok": True, "policy": self.stopping, "already": f"already stopping ({self.stop_reason})"}
        return {"ok": False, "error": f"the bot is stopping ({self.stop_reason}); nothing else is done"}

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
            await journal.write_step(
                [Row(_now(), "run_start", start, version=version), Row(_now(), "rulebook", text, version=version)]
            )
        except BaseException:
            await journal.close()
            raise
        try:
            await self._start(state, journal)
            if self.on_started is not None:  # not before: a start refused (a paper account, foreign orders) is no run
                self.on_started()
            await self._loop()
        except BaseException as exc:
            self.failed = True
            self.stop_reason = self.stop_reason or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            await self._shutdown(journal)
        return self.status()

    async def _loop(self) -> None:
        started = False
        since_yield = 0
        while self.stopping is None:
            if self._wake is not None and self.desk is not None:
                self._wake.arm(next_deadline(self.desk.engine))
            if self._urgent:
                item = self._urgent.popleft()
            else:
                since_yield += 1
                if since_yield >= YIELD_EVERY:
                    # `queue.get` returns without yielding while the queue holds events: with a full queue
                    # the loop would drain all 10,000 before a control request (a kill, read from its
                    # socket or awaited by a task) could run and reach `_urgent`.
                    since_yield = 0
                    await asyncio.sleep(0)
                    if self._urgent:
                        continue
                item = await self.queue.get()
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
                await self._process(self._after_restart(), t)  # the last run's orders under this rulebook
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
        if isinstance(event, Timer):
            await desk.timer(event, t)
            return
        self.events += 1
        name = type(event).__name__
        self.events_by_type[name] = self.events_by_type.get(name, 0) + 1
        await desk.market(event, t)  # the venue first (paper fills), then the engine

    async def _process(self, step: Step, t: int) -> None:
        await self._desk().process(step, t)

    async def notice(self, kind: str, message: str) -> None:
        """A notice from beside the engine (a notification that could not be delivered), journaled now."""
        if self.desk is not None:
            await self._note(self.clock(), kind, message)

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


def _time_of(event: object) -> int:
    return int(getattr(event, "close_time", None) or getattr(event, "time", 0) or 0)
