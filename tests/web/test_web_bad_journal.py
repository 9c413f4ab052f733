"""A journal whose rows are not the shape this release writes (another release's, or edited by
hand) is said to be unreadable where it is read: the page still loads, the other bots stay live."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from rulebot.backtest.api import demo
from rulebot.web.bots import Bot

from .conftest import HOLD_ON_CANDLE, client_for, until


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("bad-journal")
    (where / "book.yaml").write_text(HOLD_ON_CANDLE)
    demo(str(where / "book.yaml"), hours=1, journal_path=where / "good.sqlite")
    return where / "good.sqlite"


def _copy(src: Path, dst: Path, *sql: str) -> Path:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
        for statement in sql:
            b.execute(statement)
    return dst


def _add_notice(path: Path, body: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO entries (run_id, time, kind, body, prev_hash, hash) "
            "SELECT run_id, time + 1, 'notice', ?, '', '' FROM entries ORDER BY id DESC LIMIT 1",
            (body,),
        )


async def test_a_notice_that_is_not_an_object_leaves_the_page_and_the_other_bots_live(good, tmp_path):
    # /api/session was a 500 (the page said "cannot load"), and the poller died on it: no bot
    # was polled again, so no page heard anything live until the server restarted.
    ok = _copy(good, tmp_path / "ok.sqlite")
    bad = _copy(good, tmp_path / "bad.sqlite")
    _add_notice(bad, "[]")
    other = Bot("0", journal_file=ok)
    async with client_for([other, Bot("1", journal_file=bad)], control=False) as client:
        session = await client.get("/api/session")
        assert session.status == 200, await session.text()
        bots = (await session.json())["bots"]
        assert "cannot be read" in bots[1]["problems"][0]["message"]
        head = bots[0]["head"]
        await asyncio.sleep(0.3)  # a few rounds of the poller (0.1 s)
        _add_notice(ok, '{"kind": "note", "message": "still polled"}')
        await until(lambda: other.head > head, timeout=5)


@pytest.mark.parametrize(
    ("kind", "body"),
    [("decision", "[]"), ("decision", "not json"), ("guard", "null"), ("account", "[]"), ("order", "[]")],
)
async def test_views_of_a_row_of_the_wrong_shape_say_the_journal_cannot_be_read(good, tmp_path, kind, body):
    bad = _copy(good, tmp_path / "bad.sqlite", f"UPDATE entries SET body = '{body}' WHERE kind = '{kind}'")
    first = sqlite3.connect(good).execute("SELECT MIN(id) FROM entries WHERE kind = 'decision'").fetchone()[0]
    async with client_for([Bot("0", journal_file=bad)], control=False) as client:
        for url in ("/api/bots/0", "/api/bots/0/decisions", f"/api/bots/0/decisions/{first}", "/api/bots/0/chart"):
            r = await client.get(url)
            assert r.status < 500, (url, await r.text())


async def test_a_file_that_is_not_a_journal_is_said_to_be_so_not_that_there_is_no_journal(tmp_path):
    # Given with --journal, a text file or another program's database read "no journal for
    # this bot", as if the path were wrong.
    text = tmp_path / "notes.journal"
    text.write_text("hello\n")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE things (a)")
    async with client_for([Bot("0", journal_file=text), Bot("1", journal_file=other)], control=False) as client:
        for bot, why in (("0", "file is not a database"), ("1", "not a rulebot journal")):
            r = await client.get(f"/api/bots/{bot}/decisions")
            assert r.status == 404
            assert "cannot be read as a journal" in (error := (await r.json())["error"]) and why in error, error
            summary = await (await client.get(f"/api/bots/{bot}")).json()
            assert why in summary["problems"][0]["message"], summary["problems"]
