"""Start-up of the runner: the engine and its desk built, the journal's state restored, a kept paper
account adopted, and the inputs (streams, control socket, timers, watchers) started; the run
directory and journal kept private."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

from rulebot.backtest.text import duration, when
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderType
from rulebot.engine import records as rec
from rulebot.engine.actions import protect_restored
from rulebot.engine.engine import Engine, Step
from rulebot.engine.market import HISTORY_CANDLES
from rulebot.engine.reload import restate_entries, restate_stops
from rulebot.engine.stop_swap import one_each
from rulebot.exchange_sim import SimExchange
from rulebot.journal.writer import Journal
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import paper_account, recovery
from rulebot.runtime.control import ControlServer
from rulebot.runtime.deadline_wake import DeadlineWake
from rulebot.runtime.executor import Executor
from rulebot.runtime.reload import watch
from rulebot.runtime.run_config import (
    _now,
    _Request,
)
from rulebot.runtime.run_venues import LaneVenue, PaperRunVenue, RunVenue
from rulebot.runtime.scheduler import TimerScheduler
from rulebot.runtime.sources import PushSource
from rulebot.runtime.warmup import warm_up
from rulebot.session import paper_venue
from rulebot.venues.binance.user_stream import UserStream
from rulebot.venues.paper import PaperVenue


class RunnerStartup:
    """The runner's start-up (a part of `Runner`)."""

    async def _start(self, state: recovery.JournalState, journal: Journal) -> None:
        cfg, book = self.cfg, self.book
        asset = next(iter(self.instruments.values())).margin_asset
        if self.live:
            balances = dict(self.start_balances or {})
        else:
            balances = {
                (inst := self.instruments[s]).margin_asset: cfg.paper_balance(inst.is_inverse) for s in book.symbols
            }
        engine = Engine(
            book,
            {s: self.instruments[s] for s in book.symbols},
            balances or {asset: Decimal(0)},
            run_id=self.run_id.split("-")[-1][:8],
            brackets={s: self.brackets[s] for s in book.symbols if s in self.brackets},
            fee_rates=self.fee_rates,
        )
        venue: RunVenue
        paper_file = cfg.run_dir / paper_account.PAPER_FILE
        kept = None
        if self.live:
            assert self.venue is not None, "a live run needs Binance"
            venue = LaneVenue(self.venue, self.push, on_accepted=self._await_word)
        else:
            kept = paper_account.load(paper_file, book.symbols)
            stale = (
                None if kept is None else paper_account.behind_journal(kept, cfg.journal_path(), cfg.mode, paper_file)
            )
            if stale is not None:
                raise paper_account.PaperAccountError(stale)
            other = None if kept is None else paper_account.other_fill_model(kept, self.fill_model, paper_file)
            if other is not None:
                raise paper_account.PaperAccountError(other)
            # On live streams funding is settled from the mark stream's announcements: no settlement
            # event comes. Replayed and simulated data settle from their own FundingRate events (the
            # simulated market's marks announce funding too: settled from both, it was paid twice).
            marks = isinstance(self.market_feed, PushSource)
            if kept is not None:
                venue = PaperRunVenue(PaperVenue(kept, kept.market, funding_from_marks=marks), paper_file, book.symbols)
            else:
                paper = paper_venue(
                    book,
                    self.instruments,
                    self.brackets,
                    balances,
                    fee_rates=self.fee_rates,
                    fill_model=self.fill_model,
                    funding_from_marks=marks,
                )
                venue = PaperRunVenue(paper, paper_file, book.symbols)
                venue.save()  # a new paper account, kept from the start
        self.desk = Executor(
            engine,
            journal,
            venue,
            on_unknown=lambda why: self._reconcile_later(why, 1.0),
            on_rule_error=self._rule_error,
        )
        restored = recovery.restore(engine, state, cfg.resume)
        self.entry_rules = state.entry_rules(cfg.mode, book.symbols)
        self.last_rulebook = state.rulebook_text
        kept_at = None  # a restarted dry-run on data (simulated, replayed): its account's time
        if kept is not None:
            # On live streams the account is taken up now, as a live bot takes Binance's: taken at its own
            # last update, hours ago, the engine's clock started there and fired every timer it had missed
            # since, one by one (an `every 1m` rule 180 times after three hours), which a live bot never does.
            live_streams = isinstance(self.market_feed, PushSource)
            at = await self._adopt_paper(kept, state, paper_file, self.clock() if live_streams else None)
            kept_at = None if live_streams else at
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
            self._wake = DeadlineWake(self.clock, self.push)
        if self.live and self.venue is not None:
            self.venue.start_heartbeat(
                book.symbols, cfg.heartbeat_countdown_ms, cfg.heartbeat_every_s, armed=self._entry_rests
            )
            self._heartbeat = True
        self._tasks.append(asyncio.create_task(self._pump_market(), name="market"))
        self._tasks.append(asyncio.create_task(self._watch_kill_file(), name="kill-file"))
        if self.clock_sync is not None:
            self._tasks.append(asyncio.create_task(self._sync_clock(self.clock_sync), name="clock-sync"))
        if cfg.watch:
            changed = lambda: self.push(_Request("reload", {"reason": "file changed"}))  # noqa: E731
            watcher = watch(cfg.rulebook, changed, cfg.reload_settle_s)
            self._tasks.append(asyncio.create_task(watcher, name="watch"))
        for kind, note in restored:  # a kept paper account's run is in its data's time, not the wall clock's
            await self._note(kept_at or _now(), kind, note)
        if self._stamp:  # on the wall clock: the timers that came due while the bot was stopped
            for note in recovery.missed_timers(book, state, self.clock()):
                await self._note(self.clock(), "timers-missed", note)

    def _after_restart(self) -> Step:
        """After the engine's start, what a restart on the last run's orders needs: of two stops that
        are one (the last run stopped while replacing one by the other), the newer stays
        (`engine.stop_swap.one_each`); on a changed rulebook, adopted stops it names otherwise move as
        a reload moves them and resting entries it sends otherwise are cancelled
        (`engine.reload.restate_stops`, `restate_entries`); a position found with no stop gets its
        entry rule's stops now (`engine.actions.protect_restored`)."""
        engine, step = self._engine(), Step()
        cancelling = one_each(engine, step)  # a replacement the last run stopped in the middle of: the newer stays
        last = self.last_rulebook
        if last is not None and last != self.book.source_text:
            try:
                before = compile_text(last, "the last run's rulebook")
            except Exception as exc:  # written by another version, say: its stops stay as they are
                why = f"the last run's rulebook does not compile now ({type(exc).__name__}); its stops stay as placed"
                step.records.append(rec.EngineNotice(engine.time, "", "recovery", why))
            else:
                restate_stops(before, engine, step, cancelling)
                restate_entries(before, engine, step)
        for symbol in self.book.symbols:
            protect_restored(engine, symbol, self.entry_rules.get(symbol, {}), step)
        return step

    def _await_word(self, cmd: PlaceOrder) -> None:
        """Binance accepted `cmd`: if the user stream has said nothing of it `user_silence_s` later,
        the stream is stalled (connected, silent). A filled entry would then wait unprotected, its
        stop placed only once the fill is heard of: reconcile from REST, as after a reconnect."""
        cid, wait_s = cmd.client_order_id, self.cfg.user_silence_s

        async def later() -> None:
            await asyncio.sleep(wait_s)
            engine = self.engine
            record = engine.order(cid) if engine is not None and self.stopping is None else None
            if record is not None and record.status is None and record.algo_status is None:
                why = f"no word from the user stream on order {cid} {wait_s:g} s after Binance accepted it"
                self.push(_Request("reconcile", {"reason": why}))

        self._later(later(), "user-silence")

    def _entry_rests(self, symbol: str) -> bool:
        """The dead man's switch's question (BinanceVenue.start_heartbeat): does an order rest that
        would open a position if it filled while the bot is dead? Stops and exits only reduce: they
        are what a dead bot's position needs kept, and the switch would cancel them too."""
        engine = self.engine
        if engine is None:
            return False
        return any(
            r.purpose == "entry" and r.command.order_type is not OrderType.MARKET
            for r in engine.state.oms.open_orders(symbol)
        )

    async def _adopt_paper(
        self, sim: SimExchange, state: recovery.JournalState, file: Path, now: int | None = None
    ) -> int:
        """A restarted dry-run takes its kept paper account as a live bot takes Binance's: the
        positions and balances as they are, the working orders the journal knows adopted, at `now`
        (live streams) or else at the account's time, which is returned: its last update (of a
        position, a balance or a working order; a flat account with only a working order was
        journaled at time 0, 1970), where a replay or a simulated market carries on."""
        desk = self._desk()
        engine = desk.engine
        times = [p.update_time for p in sim.positions()] + [b.update_time for b in sim.balances()]
        times += [o.update_time for o in sim.open_orders()] + [a.update_time for a in sim.open_algo_orders()]
        t = max([*times, 0]) if now is None else now
        snap = paper_account.snapshot(sim, self.book.symbols, t)
        await desk.process(recovery.adopt(engine, snap, state), t)
        await desk.process(engine.on_event(snap.account), t)
        wallets = ", ".join(f"{b.wallet_balance} {b.asset}" for b in snap.account.balances)
        held = [p for p in snap.account.positions if p.amount]
        summary = (
            f"paper account restored from {file}: {wallets}, {len(held)} position(s), "
            f"{len(snap.orders) + len(snap.algo_orders)} working order(s)"
        )
        if self.cfg.balance is not None:
            summary += f" (--balance {self.cfg.balance} applies to a new account only)"
        print(summary, file=sys.stderr)
        await desk.note(t, "reconciled", summary)
        working = len(snap.orders) + len(snap.algo_orders)
        stopped_at = state.last_time
        if now is not None and stopped_at is not None and now - stopped_at >= 60_000 and (held or working):
            # A live account goes on trading on the exchange while its bot is stopped; this one was in
            # the stopped process. Said, so that a restarted dry-run is not read as what live would hold.
            paused = (
                f"the paper account stood still for {duration(now - stopped_at)} while the bot was stopped "
                f"(since {when(stopped_at)} UTC): on Binance its {len(held)} position(s) would have paid or "
                f"received funding and its {working} working order(s) could have filled or triggered meanwhile; "
                "here they carry on from the next price"
            )
            print(paused, file=sys.stderr)
            await desk.note(t, "paper-paused", paused)
        return t

    async def _user_stream_up(self, stream: UserStream, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not stream.ws.connected:
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"the user data stream did not connect within {timeout_s:g} s, and without it the bot "
                    "cannot see its fills; check the network and --ws-url"
                )
            await asyncio.sleep(0.02)


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
