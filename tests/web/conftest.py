"""A dry-run bot on the simulated market, in this process, the web app in front of it, and the
system's Chromium (headless, through Playwright) to look at pages with."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, async_playwright

from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner
from rulebot.testing.bots import hold_on_candle
from rulebot.testing.bots import until as wait_until
from rulebot.web.bots import Bot
from rulebot.web.security import Guard
from rulebot.web.server import make_app

# Enters at the first closed 1m candle with a stop, then logs every candle.
HOLD_ON_CANDLE = hold_on_candle("web-test")


async def until(cond: Callable[[], object], timeout: float = 30.0) -> None:
    await wait_until(cond, timeout)  # the page tests wait longer: a browser and a bot


CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does)"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


TOKEN = "t0ken-for-the-tests-0123456789abcdef"


@dataclass
class Live:
    runner: Runner
    task: asyncio.Task[dict]
    run_dir: Path


@pytest.fixture
async def live_bot(tmp_path: Path) -> AsyncIterator[Live]:
    """Enters long at the first closed minute with a stop, then logs each minute."""
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(book)), cfg, "simulated", hours=24, speed=600)
    task = asyncio.create_task(runner.run())
    await until(lambda: (cfg.run_dir / "control.sock").exists(), timeout=30)
    yield Live(runner, task, cfg.run_dir)
    if not task.done():
        with contextlib.suppress(Exception):
            await runner.request({"cmd": "kill", "policy": "flatten"})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def client_for(bots: list[Bot], *, loopback: bool = True, control: bool = True) -> AsyncIterator[TestClient]:
    app = make_app(bots, Guard(TOKEN, loopback=loopback, control=control), poll_s=0.1)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def signed_in(client: TestClient) -> str:
    """Sign in as the page does; returns the CSRF value the page would get."""
    r = await client.get(f"/login?token={TOKEN}", allow_redirects=False)
    assert r.status == 303
    session = await (await client.get("/api/session")).json()
    assert session["signed_in"]
    return str(session["csrf"])
