"""The server's poller (rulebot/web/server.py): each bot is asked on its own, so that one bot
slow to answer its control socket does not hold back what the page hears of the others."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from rulebot.backtest.api import demo
from rulebot.runtime.control import ControlServer
from rulebot.web.bots import Bot

from .conftest import HOLD_ON_CANDLE, client_for, until


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    (tmp_path / "book.yaml").write_text(HOLD_ON_CANDLE)
    demo(str(tmp_path / "book.yaml"), hours=1, journal_path=tmp_path / "j.sqlite")
    return tmp_path / "j.sqlite"


async def test_a_bot_that_does_not_answer_does_not_delay_the_others(journal: Path, tmp_path: Path) -> None:
    # The bots were polled one after another: a bot busy for the status timeout (3 s) held
    # every other bot's news back by as long, each round.
    async def busy(request: dict) -> dict:
        await asyncio.Event().wait()  # never answers
        return {}

    stuck = ControlServer(tmp_path / "stuck", busy)
    await stuck.start()
    quick = Bot("0", journal_file=journal)
    try:
        async with client_for([quick, Bot("1", run_dir=tmp_path / "stuck")], control=False):
            await until(lambda: quick.head > 0, timeout=5)
            await asyncio.sleep(0.2)  # the poller is now in a round that waits on the stuck bot
            with sqlite3.connect(journal) as db:
                db.execute(
                    "INSERT INTO entries (run_id, time, kind, body, prev_hash, hash) "
                    "SELECT run_id, time + 1, 'notice', '{}', '', '' FROM entries ORDER BY id DESC LIMIT 1"
                )
            head, started = quick.head, time.monotonic()
            await until(lambda: quick.head > head, timeout=5)
            assert time.monotonic() - started < 1.0
    finally:
        await stuck.stop()
