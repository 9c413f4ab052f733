"""Delivery to a webhook, a Telegram bot or a Discord channel: one queue and one worker per
target (a slow Telegram never holds up the webhook), retries with exponential backoff and
jitter, and a bounded queue that drops the oldest message rather than grow or wait: nothing
here can slow the engine, which only ever calls `offer`.

URLs are never printed: a Telegram URL holds the bot token, a Discord one its webhook secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from rulebot.notify.events import Message
from rulebot.notify.settings import NotifySettings, Target


@dataclass
class Counts:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


def payload(target: Target, message: Message, bot: str) -> dict[str, Any]:
    if target.kind == "telegram":
        return {"chat_id": target.chat_id, "text": message.plain(bot)[:4000], "disable_web_page_preview": True}
    if target.kind == "discord":
        return {"content": message.plain(bot)[:2000]}
    return message.json(bot)


class Notifier:
    def __init__(
        self,
        settings: NotifySettings,
        bot: str,
        *,
        queue_size: int = 500,
        timeout_s: float = 10.0,
        first_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.bot = bot
        self.timeout_s = timeout_s
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.counts = {t.name: Counts() for t in settings.targets}
        self._queues: dict[str, asyncio.Queue[Message]] = {
            t.name: asyncio.Queue(maxsize=queue_size) for t in settings.targets
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._warn = warn or (lambda text: print(text, file=sys.stderr))

    def start(self) -> None:
        for t in self.settings.targets:
            self._tasks.append(asyncio.create_task(self._worker(t), name=f"notify-{t.name}"))

    def offer(self, message: Message) -> None:
        """Queue `message` for every target; never waits (a full queue loses its oldest)."""
        if message.event not in self.settings.events:
            return
        for name, q in self._queues.items():
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
                    q.task_done()
                self.counts[name].dropped += 1
            q.put_nowait(message)

    async def close(self, drain_s: float = 5.0) -> None:
        """Give queued messages up to `drain_s` to go out (a kill's own message, say), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues.values())), drain_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _worker(self, target: Target) -> None:
        q = self._queues[target.name]
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                message = await q.get()
                try:
                    await self._deliver(session, target, message)
                finally:
                    q.task_done()

    async def _deliver(self, session: aiohttp.ClientSession, target: Target, message: Message) -> None:
        counts = self.counts[target.name]
        body = payload(target, message, self.bot)
        why = ""
        for attempt in range(self.settings.retries):
            counts.attempts += 1
            wait = min(self.max_delay_s, self.first_delay_s * 2**attempt) * (0.5 + random.random() / 2)
            try:
                async with session.post(target.url, json=body) as r:
                    if 200 <= r.status < 300:
                        counts.sent += 1
                        return
                    why = f"HTTP {r.status}"
                    if r.status == 429:
                        wait = min(self.max_delay_s, _retry_after(r.headers.get("Retry-After")) or wait)
                    elif 400 <= r.status < 500:
                        break  # the request itself is wrong (a bad token, a bad chat): retrying will not help
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = type(exc).__name__
            if attempt + 1 < self.settings.retries:
                await asyncio.sleep(wait)
        counts.failed += 1
        counts.errors.append(why)
        self._warn(f"notification to {target.name} failed ({why}): {message.title}")


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
