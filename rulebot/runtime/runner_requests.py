"""What the runner answers and acts on besides market data: control requests (kill, reload,
reconcile), signals, the kill file, clock re-syncs, reconciling with the exchange, and `status`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from rulebot.binance.codes import BinanceError
from rulebot.engine.engine import Engine
from rulebot.engine.market import HISTORY_CANDLES
from rulebot.journal.encode import Row
from rulebot.journal.writer import JournalWriteError
from rulebot.runtime import recovery
from rulebot.runtime.exchange_sync import IN_FLIGHT_MS, reconcile
from rulebot.runtime.reload import settled, try_reload
from rulebot.runtime.run_config import (
    KILL_FILE,
    _now,
    _Request,
)
from rulebot.runtime.run_venues import LaneVenue
from rulebot.runtime.status import engine_status
from rulebot.runtime.status_risk import risk_status
from rulebot.runtime.warmup import Fetch, warm_reloaded
from rulebot.venues.binance.limiter import RateBudgetExceeded
from rulebot.venues.binance.transport import TransportError

# The same refused reload within this long of the last is the same attempt seen twice (the file
# watcher and `rulebot reload` on one edit); after it, an operator's new try, journaled again.
REFUSAL_REPEAT_S = 30.0


class RunnerRequests:
    """The runner's requests, reconciles and status (a part of `Runner`)."""

    last_refusal: tuple[str, ...] | None  # the last refused reload's text and reasons (Runner.__init__)
    last_refusal_at: float  # when it was journaled (time.monotonic)
    warmup: Fetch | None  # closed candles from REST klines (Runner.__init__)

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
        refused = not verdict.accepted
        # The watcher and `rulebot reload` judging one edit: journaled once. The same refusal asked
        # for again later is a new attempt, and the journal says so.
        clock = time.monotonic()
        repeated = refused and verdict.refusal == self.last_refusal and clock - self.last_refusal_at < REFUSAL_REPEAT_S
        self.last_refusal = verdict.refusal if refused else None  # taken or unchanged: a refusal is news again
        if refused and not repeated:
            self.last_refusal_at = clock
        if verdict.unchanged:
            return {"ok": True, "unchanged": True, "version": version[:12]}
        if repeated:  # already said and journaled: the operator still gets the reasons in the answer
            print(f"reload of {self.cfg.rulebook} refused again: the same text, for the same reasons", file=sys.stderr)
            return {"ok": False, "errors": list(verdict.errors)}
        if verdict.result is None:
            errors = list(verdict.errors)
            print(
                f"reload of {self.cfg.rulebook} refused; the running rulebook is unchanged:",
                *errors,
                sep="\n",
                file=sys.stderr,
            )
            await journal.write(Row(now, "reload", {"accepted": False, "errors": errors}, version=version))
            self.reloads.append({"accepted": False, "errors": errors})
            return {"ok": False, "errors": errors}
        book = verdict.book
        assert book is not None
        warnings = list(verdict.warnings)  # a guard clamped, …: the operator must hear of it
        if warnings:
            print(f"reload of {self.cfg.rulebook} accepted with warnings:", *warnings, sep="\n", file=sys.stderr)
        desk.engine, self.book = verdict.result.engine, book
        text_row = Row(now, "rulebook", {"name": book.name, "how": "reload", "text": book.source_text}, version=version)
        body = {"accepted": True, "errors": [], "warnings": warnings}
        await journal.write_step([text_row, Row(now, "reload", body, version=version)])
        if self._scheduler is not None:
            self._scheduler.replace(book)
        await self._process(verdict.result.step, now)
        if self.warmup is not None:  # a lengthened indicator as warm as a start makes it (warmup.py)
            for note in await warm_reloaded(desk.engine, self.warmup, HISTORY_CANDLES):
                await self._note(now, "warm-up", note)
        self.reloads.append({"accepted": True, "version": version[:12], "warnings": warnings})
        return {"ok": True, "version": version[:12], "warnings": warnings}

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
            if path.exists() or path.is_symlink():
                self.push(_Request("kill", {"policy": _kill_policy(path), "reason": f"kill file {path}"}))
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

    async def _reconcile(self, state: recovery.JournalState, why: str) -> None:
        desk = self._desk()
        assert isinstance(desk.venue, LaneVenue), "only a live run reconciles with the exchange"
        at_start = why == "start"  # the run's first: a start beside foreign orders may be refused
        foreign = self.cfg.foreign_orders
        for cid in await reconcile(desk, desk.venue, self.book.symbols, state, why, foreign, at_start):
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

        self._later(later(), "reconcile")

    def _later(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` beside the runner's loop (the finished ones are let go: a long run adds many)."""
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(work, name=name))

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What `rulebot status` shows (answered between two events, never queued)."""
        if self.engine is None:
            return {"ok": True, "running": False}
        return {
            "ok": True,
            "running": self.stopping is None,
            "mode": self.cfg.mode,
            "run_id": self.run_id,
            "events": self.events,
            "events_by_type": dict(self.events_by_type),
            # Data ages by the exchange's clock when live prices come in; a replay or the simulated
            # market runs on its data's own clock (the wall clock would call 2025's data a year old).
            **engine_status(self.engine, self.clock() if self._stamp else self.engine.time),
            "reloads": self.reloads[-5:],
            "stop_reason": self.stop_reason,
            "failed": self.failed,
            "rule_errors": dict(self.rule_errors),
            "rule_failed": self.rule_failed,
            "venue": self.venue_name,
            "started_ms": self.started_ms,
            **_risk(self.engine),
        }


def _risk(engine: Engine) -> dict[str, Any]:
    """The risk view for the web page; a failure there must never fail `status` itself."""
    try:
        return risk_status(engine)
    except Exception as exc:
        return {"risk_error": f"{type(exc).__name__}: {exc}"}


def _kill_policy(path: Path) -> str | None:
    """The policy written in the kill file, if a regular file holds one. The file's being there is
    the kill; what it says only picks the policy. So reading it must never stop the kill: a FIFO
    would block the event loop (and every stop with it), /dev/zero would never end, and a file the
    bot cannot read would end the watch. None then: the rulebook's own policy."""
    try:
        if not path.is_file():
            return None
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return None
    return head.decode("utf-8", "replace").strip() or None
