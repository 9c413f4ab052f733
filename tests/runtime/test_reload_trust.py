"""Hot reload trusts the rulebook file as the key file is trusted, takes it only whole, and says
(and journals) why whenever it refuses one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rulebot.journal.writer import read_only
from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner

from .conftest import HOLD_ON_CANDLE, until

BOOK = HOLD_ON_CANDLE
# The run: the same rulebook short and 5x the size, as another local user wrote it.
HOSTILE = BOOK.replace("side: long", "side: short").replace('"0.01"', '"0.05"')


def _aged(path: Path, seconds: float = 60) -> None:
    """As if the file had been written a while ago (no settle period to wait out)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


@contextlib.asynccontextmanager
async def running(tmp_path: Path, watch: bool = False, settle_s: float = 0.2) -> AsyncIterator[Runner]:
    path = tmp_path / "book.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=watch, reload_settle_s=settle_s)
    runner = await dry_run(compile_file(str(path)), cfg, "simulated", hours=24, speed=300)
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.status().get("positions"), timeout=10)
        yield runner
    finally:
        await runner.request({"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 10)


def _journaled_refusals(runner: Runner) -> list[str]:
    db = read_only(runner.cfg.journal_path())
    return [r[0] for r in db.execute("SELECT errors FROM reloads WHERE NOT accepted ORDER BY id")]


async def test_a_rulebook_other_users_can_write_is_not_reloaded(tmp_path):
    async with running(tmp_path) as runner:
        version = runner.status()["version"]
        path = runner.cfg.rulebook
        path.write_text(HOSTILE)
        path.chmod(0o666)
        _aged(path)
        answer = await runner.request({"cmd": "reload"})
        assert not answer["ok"] and "writable by other users" in answer["errors"][0]
        assert "chmod go-w" in answer["errors"][0] and runner.status()["version"] == version
    assert "writable by other users" in _journaled_refusals(runner)[0]


async def test_a_rulebook_in_a_folder_others_can_write_is_not_reloaded(tmp_path):
    async with running(tmp_path) as runner:
        path = runner.cfg.rulebook
        path.write_text(HOSTILE)
        _aged(path)
        tmp_path.chmod(0o777)
        try:
            answer = await runner.request({"cmd": "reload"})
        finally:
            tmp_path.chmod(0o700)
        assert not answer["ok"] and "other users may replace it" in answer["errors"][0]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
async def test_a_rulebook_owned_by_another_user_is_not_reloaded(tmp_path):
    async with running(tmp_path) as runner:
        path = runner.cfg.rulebook
        path.write_text(HOSTILE)
        os.chown(path, 65534, 65534)  # nobody
        _aged(path)
        answer = await runner.request({"cmd": "reload"})
        assert not answer["ok"] and "owned by" in answer["errors"][0] and "uid 65534" in answer["errors"][0]


async def test_a_half_written_rulebook_is_not_traded_while_it_is_being_written(tmp_path):
    """The issue's run: a file valid up to `risk:` was loaded and traded 7 s without its risk block."""
    whole = BOOK.replace("holding at", "still holding at") + "risk: {daily_loss_cap: 2%}\n"
    half = whole[: whole.index("risk:")]  # valid up to `risk:`: it compiles, without its risk block
    async with running(tmp_path, watch=True, settle_s=1.0) as runner:
        await asyncio.sleep(0.3)  # the watcher is up
        path = runner.cfg.rulebook
        path.write_text(half)
        await asyncio.sleep(0.6)  # a slow writer: the rest comes later
        path.write_text(whole)
        await until(lambda: any(r["accepted"] for r in runner.reloads), timeout=10)
        await asyncio.sleep(0.3)
    db = read_only(runner.cfg.journal_path())
    texts = [r[0] for r in db.execute("SELECT text FROM rulebook_versions WHERE loaded_by = 'reload'")]
    assert texts == [whole]  # the half file was never loaded


async def test_a_rulebook_moved_into_place_by_a_rename_is_reloaded(tmp_path):
    async with running(tmp_path, watch=True, settle_s=30.0) as runner:
        await asyncio.sleep(0.3)
        new = tmp_path / ".book.yaml.tmp"
        new.write_text(BOOK.replace("holding at", "still holding at"))
        _aged(new)  # written whole a while ago, then renamed: no settle period to wait out
        os.replace(new, runner.cfg.rulebook)
        await until(lambda: any(r["accepted"] for r in runner.reloads), timeout=5)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (BOOK.encode().replace(b"rules:", b"rules:\x00"), ""),
        (b"a: " + b"[" * 600 + b"]" * 600 + b"\n", ""),
        (b"rulebook: \xff\xfe\n", "not UTF-8"),
    ],
    ids=["nul-byte", "deep-nesting", "not-utf8"],
)
async def test_every_refused_reload_says_why_and_is_journaled(tmp_path, content, reason):
    async with running(tmp_path) as runner:
        path = runner.cfg.rulebook
        path.write_bytes(content)
        _aged(path)
        answer = await runner.request({"cmd": "reload"})
        assert not answer["ok"] and answer["errors"] and all(e.strip() for e in answer["errors"])
        assert reason in answer["errors"][0]
    refusals = _journaled_refusals(runner)
    assert len(refusals) == 1 and reason in refusals[0] and len(refusals[0]) > 10


async def test_a_rulebook_linked_to_a_folder_others_can_write_is_not_reloaded(tmp_path):
    async with running(tmp_path) as runner:
        shared = tmp_path / "shared"
        shared.mkdir()
        target = shared / "book.yaml"
        target.write_text(HOSTILE)
        _aged(target)
        shared.chmod(0o777)
        path = runner.cfg.rulebook
        path.unlink()
        path.symlink_to(target)
        try:
            answer = await runner.request({"cmd": "reload"})
        finally:
            shared.chmod(0o700)
        assert not answer["ok"] and f"directory {shared} is writable" in answer["errors"][0]


async def test_a_refusal_seen_by_the_watcher_and_by_rulebot_reload_is_journaled_once(tmp_path):
    """The watcher refuses the file, then the operator runs `rulebot reload` on the same file: the
    journal had the same refusal twice. Once per refused content; another refused content, and the
    same content again after a reload was taken, are new refusals."""
    broken = BOOK.replace("rules:", "rules: [")
    async with running(tmp_path, watch=True) as runner:
        await asyncio.sleep(0.3)  # the watcher is up
        path = runner.cfg.rulebook
        path.write_text(broken)
        _aged(path)
        await until(lambda: len(runner.reloads) == 1, timeout=8)  # the watcher's
        answer = await runner.request({"cmd": "reload"})  # the operator's, on the same file
        assert not answer["ok"] and answer["errors"], answer  # the answer still says why
        assert len(_journaled_refusals(runner)) == 1
        path.write_text(broken + "#\n")  # another content, as badly broken
        _aged(path)
        await until(lambda: len(_journaled_refusals(runner)) == 2, timeout=8)
        path.write_text(BOOK.replace("holding at", "still holding at"))
        _aged(path)
        await until(lambda: any(r["accepted"] for r in runner.reloads), timeout=8)
        path.write_text(broken)
        _aged(path)
        await until(lambda: len(_journaled_refusals(runner)) == 3, timeout=8)
        await runner.request({"cmd": "reload"})
    refusals = _journaled_refusals(runner)
    assert len(refusals) == 3 and refusals[0] == refusals[2], refusals


async def test_the_same_refusal_asked_for_again_later_is_journaled_again(tmp_path, monkeypatch):
    """Only the watcher and `rulebot reload` judging one edit are one attempt: an operator who tries
    the same refused file again later made a new attempt, and the journal must show it."""
    from rulebot.runtime import runner_requests

    broken = BOOK.replace("rules:", "rules: [")
    async with running(tmp_path) as runner:
        path = runner.cfg.rulebook
        path.write_text(broken)
        _aged(path)
        await runner.request({"cmd": "reload"})
        await runner.request({"cmd": "reload"})  # at once: the same attempt
        assert len(_journaled_refusals(runner)) == 1
        monkeypatch.setattr(runner_requests, "REFUSAL_REPEAT_S", 0.0)  # as if the window had passed
        await runner.request({"cmd": "reload"})
    assert len(_journaled_refusals(runner)) == 2


async def test_a_rulebook_stamped_in_the_future_is_refused_at_once_with_what_to_do(tmp_path):
    """A file whose modification time is ahead of this machine's clock (copied with its time from
    a machine whose clock runs ahead, an NFS server ahead): the reload waited 30 s for it to
    "settle", then refused it as "changed -600.0 s ago", and so on every try until the clock
    caught up."""
    async with running(tmp_path) as runner:
        path = runner.cfg.rulebook
        path.write_text(BOOK.replace("holding at", "still holding at"))
        ahead = time.time() + 600
        os.utime(path, (ahead, ahead))
        answer = await asyncio.wait_for(runner.request({"cmd": "reload"}), 5)
        assert not answer["ok"], answer
        why = answer["errors"][0]
        assert "600 s in the future" in why and f"touch {path}" in why and "changed -" not in why, why
        path.touch()  # what it says to do
        _aged(path, 5)
        answer = await runner.request({"cmd": "reload"})
        assert answer["ok"], answer
