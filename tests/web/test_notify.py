"""Notifications: settings beside the keys, which rows make a message, delivery to a webhook,
Telegram and Discord (all pointed at a loopback receiver) with retries, and a bot that never
waits for any of it."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.notify.deliver import Notifier
from rulebot.notify.events import Message, classify
from rulebot.notify.follow import JournalNotifications, run_with_notifications, settings_for
from rulebot.notify.settings import NotifySettingsError, load, parse
from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig

from .conftest import HOLD_ON_CANDLE, until

TG_TOKEN = "123456:secret-telegram-token"


class Receiver:
    """A loopback HTTP server standing in for a webhook, Telegram's API and Discord."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict]] = []
        self.fail_first = 0  # answer this many requests with 500 first
        self.hang = False  # never answer
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.hang:
            await asyncio.sleep(3600)
        body = await request.json()
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500)
        self.got.append((request.path, body))
        return web.json_response({"ok": True})

    def paths(self) -> list[str]:
        return [p for p, _ in self.got]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield rec
    await runner.cleanup()


def _settings(rec: Receiver, events: list[str] | None = None, retries: int = 5):
    block = {
        "webhook": {"url": f"{rec.url}/hook"},
        "telegram": {"token": TG_TOKEN, "chat_id": "42", "base_url": rec.url},
        "discord": {"url": f"{rec.url}/discord"},
        "retries": retries,
    }
    if events:
        block["events"] = events
    return parse(block)


def _message(event: str = "kill") -> Message:
    return Message(event, "bot stopped (flatten)", "kill switch on the web page", 1, "BTCUSDT", 7)


async def test_a_kill_reaches_the_webhook_telegram_and_discord(receiver):
    n = Notifier(_settings(receiver), "ema-trend")
    n.start()
    n.offer(_message())
    await n.close(5)
    got = dict(receiver.got)
    assert got["/hook"]["event"] == "kill" and got["/hook"]["bot"] == "ema-trend"
    assert got[f"/bot{TG_TOKEN}/sendMessage"] == {
        "chat_id": "42",
        "text": "[ema-trend] bot stopped (flatten)\nkill switch on the web page",
        "disable_web_page_preview": True,
    }
    assert got["/discord"]["content"].startswith("[ema-trend] bot stopped")


async def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(receiver):
    receiver.fail_first = 2
    n = Notifier(_settings(receiver), "b", first_delay_s=0.01)
    n.start()
    n.offer(_message())
    await n.close(5)
    assert sorted(receiver.paths()) == sorted(["/hook", f"/bot{TG_TOKEN}/sendMessage", "/discord"])
    assert sum(c.attempts for c in n.counts.values()) == 5 and all(c.failed == 0 for c in n.counts.values())


async def test_a_receiver_that_never_answers_gives_up_and_says_so_without_the_token(receiver):
    receiver.hang = True
    warnings: list[str] = []
    n = Notifier(_settings(receiver, retries=2), "b", timeout_s=0.2, first_delay_s=0.01, warn=warnings.append)
    n.start()
    n.offer(_message())
    await n.close(5)
    assert all(c.failed == 1 and c.attempts == 2 for c in n.counts.values())
    assert len(warnings) == 3 and all(TG_TOKEN not in w and receiver.url not in w for w in warnings)


async def test_fills_are_sent_only_when_asked_for(receiver):
    n = Notifier(_settings(receiver), "b")
    n.start()
    n.offer(_message("fill"))
    n.offer(_message("guard"))
    await n.close(5)
    assert {b["event"] for p, b in receiver.got if p == "/hook"} == {"guard"}


async def test_a_bot_whose_notifications_hang_still_trades_and_stops_at_once(receiver, tmp_path):
    """The receiver never answers: the engine must not notice. The bot trades, is killed, and
    its run ends while every delivery is still waiting."""
    receiver.hang = True
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(book)), cfg, "simulated", hours=24, speed=1000)
    settings = _settings(receiver, events=["guard", "kill", "halt", "liquidation", "fill"], retries=3)
    task = asyncio.create_task(run_with_notifications(runner, settings))
    await until(lambda: runner.status().get("positions"))
    await runner.request({"cmd": "kill", "policy": "flatten"})
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    final = await asyncio.wait_for(task, 30)
    assert final["positions"] == [] and final["guards"]["halted"]
    assert loop.time() - t0 < 8  # the drain is bounded (5 s), whatever the receiver does


async def test_a_dry_run_bot_notifies_its_fill_halt_and_kill_from_its_journal(receiver, tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(book)), cfg, "simulated", hours=24, speed=1000)
    settings = _settings(receiver, events=["kill", "halt", "fill"])
    notes = JournalNotifications(cfg.journal_path(), runner.run_id, settings, "web-test", every_s=0.05)
    notes.start()
    task = asyncio.create_task(runner.run())
    await until(lambda: any(b.get("event") == "fill" for p, b in receiver.got if p == "/hook"))
    await runner.request({"cmd": "kill", "policy": "flatten"})
    await asyncio.wait_for(task, 30)
    await notes.close(5)
    hook = [b for p, b in receiver.got if p == "/hook"]
    events = [b["event"] for b in hook]
    assert events[0] == "fill" and "halt" in events and events[-1] == "kill"
    assert "BUY 0.01 BTCUSDT" in hook[0]["text"]
    assert hook[-1]["title"] == "bot stopped (flatten)" and hook[-1]["text"] == "rulebot kill"


async def test_a_position_near_its_liquidation_price_is_warned_once(receiver, tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)  # 3x long: liquidation about 33% under the mark
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(book)), cfg, "simulated", hours=24, speed=1000)
    block = {"webhook": {"url": f"{receiver.url}/hook"}, "events": ["liquidation"], "liquidation_warning": "50%"}
    task = asyncio.create_task(run_with_notifications(runner, parse(block)))
    await until(lambda: receiver.got)
    await asyncio.sleep(1.5)  # another check or two: still one warning
    await runner.request({"cmd": "kill", "policy": "flatten"})
    await asyncio.wait_for(task, 30)
    (path, warning), *more = receiver.got
    assert path == "/hook" and more == []
    assert warning["title"] == "liquidation near BTCUSDT" and "% away (warning under 50%)" in warning["text"]


def test_classify_on_real_rows():
    notice = {
        "id": 8,
        "time": 1,
        "kind": "notice",
        "symbol": "BTCUSDT",
        "body": {"kind": "daily-loss-cap", "message": "daily loss -301 USDT reached the cap 300"},
    }
    assert classify(notice).event == "guard"
    back = {**notice, "body": {"kind": "volatility-breaker", "message": "volatility is back under the breaker"}}
    assert classify(back) is None
    verdict = {"guard": "max_margin_ratio", "kind": "act", "reason": "margin ratio 85%"}
    act = {"id": 9, "time": 1, "kind": "guard", "symbol": "BTCUSDT", "body": {"verdicts": [verdict]}}
    assert classify(act).title == "guard acted: max_margin_ratio BTCUSDT"
    allow = {**act, "body": {"verdicts": [{"guard": "daily_loss_cap", "kind": "allow", "reason": "ok"}]}}
    assert classify(allow) is None
    liq = {
        "id": 10,
        "time": 1,
        "kind": "order",
        "symbol": "BTCUSDT",
        "body": {"client_order_id": "autoclose-1", "last_filled_qty": "0.5", "side": "SELL"},
    }
    assert classify(liq).event == "liquidation"
    call = {
        "id": 11,
        "time": 1,
        "kind": "margin_call",
        "symbol": "",
        "body": {"positions": [{"symbol": "BTCUSDT", "amount": "1", "mark_price": "50000"}]},
    }
    assert classify(call).event == "liquidation" and "BTCUSDT" in classify(call).text


def test_settings_live_beside_the_keys_and_must_be_private(tmp_path):
    keys = tmp_path / "keys.env"
    keys.write_text("BINANCE_API_KEY=a\nBINANCE_API_SECRET=b\n")
    assert settings_for(None, str(keys)) is None  # no file: no notifications
    path = tmp_path / "notify.yaml"
    path.write_text("notify:\n  discord: {url: 'https://discord.com/api/webhooks/1/x'}\n  events: [kill, fill]\n")
    os.chmod(path, 0o644)
    with pytest.raises(NotifySettingsError, match="chmod 600"):
        settings_for(None, str(keys))
    os.chmod(path, 0o600)
    s = settings_for(None, str(keys))
    assert s is not None and s.events == {"kill", "fill"} and s.targets[0].kind == "discord"
    assert "x" not in repr(s.targets[0])  # the URL is a secret
    for bad, why in (
        ("notify: {}\n", "at least one"),
        ("notify:\n  webhook: {url: ftp://x}\n", "url"),
        ("notify:\n  telegram: {token: t}\n", "chat_id"),
        ("rules: []\n", "notify"),
        ("notify:\n  webhook: {url: 'https://x'}\n  events: [everything]\n", "events"),
        ("notify:\n  webhook: {url: 'https://x'}\n  liquidation_warning: 150%\n", "between"),
    ):
        path.write_text(bad)
        with pytest.raises(NotifySettingsError, match=why):
            load(path)


def test_a_broken_notify_file_stops_the_dry_run_before_it_starts(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)
    path = tmp_path / "notify.yaml"
    path.write_text("notify:\n  webhook: {url: nope}\n")
    os.chmod(path, 0o600)
    result = CliRunner().invoke(main, ["dry-run", str(book), "--notify", str(path), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 1 and "webhook needs a `url`" in result.output and "nothing was started" in result.output
    assert not (tmp_path / "r" / "journal.sqlite").exists()


async def test_a_notification_that_cannot_be_delivered_is_journaled_without_its_url(tmp_path):
    """It was said only on the bot's stderr: the page and `rulebot audit` never showed it."""
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(book)), cfg, "simulated", hours=24, speed=1000)
    dead = f"http://127.0.0.1:9/{TG_TOKEN}"  # the discard port: nothing listens
    settings = parse({"webhook": {"url": dead}, "events": ["fill"], "retries": 1})
    task = asyncio.create_task(run_with_notifications(runner, settings))
    await until(lambda: _failed(cfg), timeout=15)
    await runner.request({"cmd": "kill", "policy": "flatten"})
    await asyncio.wait_for(task, 30)
    failures = _failed(cfg)
    assert failures and all("webhook" in m and TG_TOKEN not in m and "127.0.0.1:9" not in m for m in failures)


def _failed(cfg: RunConfig) -> list[str]:
    if not cfg.journal_path().exists():
        return []
    db = sqlite3.connect(cfg.journal_path())
    try:
        rows = db.execute("SELECT body FROM entries WHERE kind = 'notice'").fetchall()
    except sqlite3.OperationalError:  # the file is there, its tables not yet: the bot is starting
        return []
    finally:
        db.close()
    return [json.loads(b)["message"] for (b,) in rows if json.loads(b)["kind"] == "notify-failed"]
