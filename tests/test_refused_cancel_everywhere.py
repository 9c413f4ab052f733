"""One policy for a refused cancel in every way of running: backtest (the session on the paper
venue), dry-run (the runtime's executor on the paper account) and live (the executor on
Binance's order lanes, the answer settled later on the engine's task). Each time Binance says
-2011 (the order is gone): the order stays as the engine knows it (it may have filled: its own
updates say so) and the refusal is journaled as a cancel-failed notice."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.core.commands import CancelOrder, Command
from rulebot.core.enums import Market, OrderStatus
from rulebot.core.events import Trade
from rulebot.core.fees import DEFAULT_FEE_RATES
from rulebot.engine import records as rec
from rulebot.engine.engine import Engine, Step
from rulebot.exchange_sim import SimResult
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.journal.writer import Journal
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime.executor import Executor
from rulebot.runtime.run_venues import LaneVenue, Outcome, PaperRunVenue
from rulebot.session import Session, paper_venue
from rulebot.venues.binance.venue import VenueResult
from rulebot.venues.paper import PaperVenue

T0 = 1_717_200_000_000

# A buy limit far under the market: it rests, so there is a working order to cancel.
RESTING = """
rulebook: resting
market: usdm
symbols: [ADAUSDT]
rules:
  - name: bid
    on: trade
    in: flat
    do: [{enter: {side: long, size: "100 USDT", order: limit, price: "price * 0.5"}}]
"""


class RefusesCancels(PaperVenue):
    """The paper venue, except that Binance answers every cancel with -2011 (the order is gone)."""

    def execute(self, command: Command, time: int) -> SimResult:
        if isinstance(command, CancelOrder):
            return SimResult(False, -2011, "Unknown order sent.")
        return super().execute(command, time)


class _Clock:
    def now_ms(self) -> int:
        return T0


class Binance:
    """Binance's REST answers, from the same refusing paper venue (the lanes' only need of it)."""

    def __init__(self, paper: PaperVenue) -> None:
        self.paper = paper
        self.rest = _Clock()

    async def execute(self, command: Command, placement: object = None) -> VenueResult:
        await asyncio.sleep(0)  # an answer comes back later, on the lane's task
        res = self.paper.execute(command, T0)
        return VenueResult(res.ok, res.code, res.message)


def _engine_and_paper() -> tuple[Engine, RefusesCancels]:
    book = compile_text(RESTING)
    instruments = {"ADAUSDT": builtin_instruments(Market.USDM)["ADAUSDT"]}
    brackets = {"ADAUSDT": builtin_brackets(Market.USDM)["ADAUSDT"]}
    balances = {"USDT": Decimal(10_000)}
    sim = paper_venue(book, instruments, brackets, balances, fee_rates=DEFAULT_FEE_RATES)
    return Engine(book, instruments, balances, brackets=brackets), RefusesCancels(sim.sim, Market.USDM)


def _trade() -> Trade:
    return Trade("ADAUSDT", Decimal("0.40"), Decimal(1000), T0 + 1000, False, 1)


def _cancel(cid: str) -> Step:
    step = Step()
    step.commands.append(CancelOrder("ADAUSDT", cid, T0 + 2000))
    return step


def backtest(tmp: Path) -> tuple[Engine, list[str]]:
    engine, paper = _engine_and_paper()
    journal: list[object] = []
    session = Session(engine, paper, journal=journal.append)
    session.start(T0)
    session.market(_trade())
    (working,) = engine.open_orders("ADAUSDT")
    session.process(_cancel(working.client_order_id), T0 + 2000)
    return engine, [r.message for r in journal if isinstance(r, rec.EngineNotice) and r.kind == "cancel-failed"]


async def _runtime(tmp: Path, live: bool) -> Engine:
    engine, paper = _engine_and_paper()
    outcomes: list[Outcome] = []
    venue = LaneVenue(Binance(paper), outcomes.append) if live else PaperRunVenue(paper, tmp / "paper", ["ADAUSDT"])  # type: ignore[arg-type]
    journal = await Journal.create(tmp / "journal.sqlite", "run-1", "live" if live else "dry-run")
    desk = Executor(engine, journal, venue)
    try:
        await desk.process(engine.start(T0), T0)
        await desk.market(_trade(), T0 + 1000)
        await desk.drain(5)
        (working,) = engine.open_orders("ADAUSDT")
        await desk.process(_cancel(working.client_order_id), T0 + 2000)
        await desk.drain(5)
        for outcome in outcomes:  # as the runner does: refusals come back through its queue
            await desk.settle(outcome)
    finally:
        await desk.close()
        await journal.close()
    return engine


def _journaled(tmp: Path) -> list[str]:
    db = sqlite3.connect(tmp / "journal.sqlite")
    try:
        bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'notice'")]
    finally:
        db.close()
    return [b["message"] for b in bodies if b["kind"] == "cancel-failed"]


def dry_run(tmp: Path) -> tuple[Engine, list[str]]:
    return asyncio.run(_runtime(tmp, live=False)), _journaled(tmp)


def live(tmp: Path) -> tuple[Engine, list[str]]:
    return asyncio.run(_runtime(tmp, live=True)), _journaled(tmp)


@pytest.mark.parametrize("run", [backtest, dry_run, live], ids=["backtest", "dry-run", "live"])
def test_a_refused_cancel_leaves_the_order_working_and_is_journaled_in_every_way_of_running(run, tmp_path):
    engine, notices = run(tmp_path)
    (working,) = engine.open_orders("ADAUSDT")
    assert working.is_open and working.status is not OrderStatus.REJECTED  # it may fill yet
    assert len(notices) == 1 and "-2011" in notices[0] and working.client_order_id in notices[0]
