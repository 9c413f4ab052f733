"""A bot stopped over a timer's fire time does not make it up when it starts again, live or dry-run,
and says so: an `every 1h` exit that came due while it was stopped waits for its next hour, and the
start journals a `timers-missed` notice that names the rule, how often it came due and when it fires
next. (A restarted dry-run used to start its clock at its paper account's last update and fire every
missed hour at once, which a live bot never did.)"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

from rulebot.core.enums import Market
from rulebot.core.events import MarkPrice, Trade
from rulebot.engine.timers import MISSED_COUNT_LIMIT, missed
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until

D = Decimal
HOUR = 3_600_000
BOOK = """\
rulebook: give-up
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: give-up
    on: every 1h
    in: long
    do: [exit, {goto: flat}]
  - name: tick
    on: every 1m
    in: long
    do: [{log: "still long"}]
  - name: midnight
    on: cron "0 0 * * *"
    in: long
    do: [{log: "a new day"}]
  - name: before
    on: before_funding 5m
    in: long
    do: [{log: "funding soon"}]
"""


def rows(journal: Path, kind: str, run: int) -> list[dict[str, object]]:
    db = sqlite3.connect(journal)
    try:
        run_id = db.execute("SELECT run_id FROM runs ORDER BY started").fetchall()[run][0]
        found = db.execute("SELECT body FROM entries WHERE kind = ? AND run_id = ?", (kind, run_id)).fetchall()
    finally:
        db.close()
    return [json.loads(b) for (b,) in found]


async def dry_run_on(fake: FakeBinance, cfg: RunConfig, until_long: bool) -> None:
    runner = await dry_run(
        compile_text(BOOK), cfg, "binance", connection=Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
    )
    task = asyncio.create_task(runner.run())
    await until(lambda: fake.hub.connections >= 1 or task.done(), timeout=20)
    assert not task.done(), task.result()
    await fake.feed(MarkPrice("BTCUSDT", D(60000), 0))
    for i in range(1, 41):
        await fake.feed(Trade("BTCUSDT", D(60000), D("0.01"), 0, True, i, i, i))
        await asyncio.sleep(0.02)
        if until_long and runner.status().get("positions"):
            break
    await until(lambda: runner.events >= 2, timeout=20)
    await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
    await asyncio.wait_for(task, 20)


async def test_a_restarted_dry_run_fires_no_missed_timer_and_says_which_came_due(tmp_path: Path):
    (tmp_path / "b.yaml").write_text(BOOK)
    cfg = RunConfig(tmp_path / "b.yaml", "dry-run", tmp_path / "run", watch=False, use_scheduler=False)
    async with FakeBinance(Market.USDM) as fake:
        await dry_run_on(fake, cfg, until_long=True)
        fake.rest_faults.clock_skew_ms = 3 * HOUR + 60_000  # the bot was stopped for three hours
        await dry_run_on(fake, RunConfig(**{**cfg.__dict__}), until_long=False)
    journal = cfg.journal_path()
    assert [s["to_state"] for s in rows(journal, "state", 0)] == ["long"]
    fired = [d["rule"] for d in rows(journal, "decision", 1) if d["fired"]]
    assert fired == [], f"the restart made up missed timers: {fired}"
    notes = {
        n["message"].split("`")[1]: n["message"] for n in rows(journal, "notice", 1) if n["kind"] == "timers-missed"
    }
    assert set(notes) == {"every 1h", "every 1m"} | ({"cron 0 0 * * *"} & set(notes)), notes
    hourly = notes["every 1h"]
    # 3 hours and a minute cross 3 hours, or 4 when the first run was in an hour's last minute
    assert re.search(r"\(give-up\) came due [34] times while the bot was stopped \(since ", hourly), hourly
    assert "a restart does not make it up: it fires next at " in hourly
    assert "(tick) came due 18" in notes["every 1m"]  # 181 or 182 minutes, by where the seconds fell
    # The paper account did not trade while the process was down, as a live account would have: said.
    (paused,) = [n["message"] for n in rows(journal, "notice", 1) if n["kind"] == "paper-paused"]
    assert paused.startswith("the paper account stood still for 3h ") and "its 1 position(s)" in paused


def test_missed_counts_each_timer_and_leaves_before_funding_out():
    book = compile_text(BOOK)
    found = {key: (count, last, nxt) for key, count, last, nxt in missed(book, 23 * HOUR + 5, 49 * HOUR)}
    assert found == {
        ("every", "1h"): (26, 49 * HOUR, 50 * HOUR),
        ("every", "1m"): (1560, 49 * HOUR, 49 * HOUR + 60_000),
        ("cron", "0 0 * * *"): (2, 48 * HOUR, 72 * HOUR),
    }
    assert missed(book, HOUR, HOUR + 59_999) == []  # nothing came due
    # A cron timer is counted one fire time at a time: a long stop stops counting at the limit.
    minutely = compile_text(BOOK.replace('cron "0 0 * * *"', 'cron "* * * * *"'))
    counts = {key: count for key, count, _, _ in missed(minutely, 0, 30 * 24 * HOUR)}
    assert counts[("cron", "* * * * *")] == MISSED_COUNT_LIMIT


async def test_a_restarted_live_bot_fires_no_missed_timer_and_says_which_came_due(tmp_path: Path):
    from .test_live_faults import running

    async with FakeBinance(Market.USDM) as fake:
        async with running(fake, BOOK, tmp_path) as runner:
            await until(lambda: bool(fake.sim.positions("BTCUSDT")), timeout=20)
            await until(lambda: bool(fake.sim.open_algo_orders("BTCUSDT")), timeout=20)
        fake.rest_faults.clock_skew_ms = 2 * HOUR + 60_000  # the bot was stopped for two hours
        async with running(fake, BOOK, tmp_path) as runner:
            await until(lambda: runner.events >= 20, timeout=20)
        journal = runner.cfg.journal_path()
    fired = [d["rule"] for d in rows(journal, "decision", 1) if d["fired"]]
    assert fired == [], f"the restart made up missed timers: {fired}"
    assert len(fake.sim.positions("BTCUSDT")) == 1  # the hourly exit waits for its next hour
    notes = [n["message"] for n in rows(journal, "notice", 1) if n["kind"] == "timers-missed"]
    assert any(re.match(r"`every 1h` \(give-up\) came due [23] times while the bot was stopped", n) for n in notes), (
        notes
    )
    assert not [n for n in rows(journal, "notice", 1) if n["kind"] == "paper-paused"]  # Binance's account went on
