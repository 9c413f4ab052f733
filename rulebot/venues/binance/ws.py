"""One WebSocket kept open: reconnect with backoff and jitter, and roll over before Binance's 24-hour cut.

Binance closes every connection after 24 hours; rather than lose what arrives while a new one
opens, the rollover opens the new connection first and closes the old one once the new one
delivers, so the two overlap. Consumers drop the duplicates of the overlap by event id.
Ping/pong is the websockets library's: it answers Binance's pings and sends its own, and a
silent peer closes the connection (so a stalled stream is noticed and reconnected).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

import websockets
from websockets.asyncio.client import ClientConnection

from rulebot.core.account_events import StreamStatus

OnMessage = Callable[[bytes | str], Awaitable[None]]
OnStatus = Callable[[StreamStatus], Awaitable[None]]
UrlSource = Callable[[], Awaitable[str]]

DAY_S = 24 * 3600


class ReconnectingStream:
    def __init__(
        self,
        name: str,
        url: str | UrlSource,
        on_message: OnMessage,
        on_status: OnStatus,
        *,
        rollover_s: float = DAY_S - 15 * 60,
        idle_timeout_s: float = 60.0,
        ping_interval_s: float = 20.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.name = name
        self._url = url
        self._on_message = on_message
        self._on_status = on_status
        self.rollover_s = rollover_s
        self.idle_timeout_s = idle_timeout_s
        self.ping_interval_s = ping_interval_s
        self.max_backoff_s = max_backoff_s
        self.connects = 0
        self.rollovers = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _resolve(self) -> str:
        return self._url if isinstance(self._url, str) else await self._url()

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"ws:{self.name}")
        return self._task

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _connect(self) -> ClientConnection:
        url = await self._resolve()
        conn = await websockets.connect(
            url, ping_interval=self.ping_interval_s, ping_timeout=self.ping_interval_s, max_size=2**24, open_timeout=10
        )
        self.connects += 1
        return conn

    async def run(self) -> None:
        attempt = 0
        conn: ClientConnection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = await self._connect()
                    await self._on_status(StreamStatus(self.name, True, _now(), "connected"))
                attempt = 0
                conn = await self._pump(conn)  # returns the successor connection on a rollover
            except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake, TimeoutError) as exc:
                with contextlib.suppress(Exception):
                    if conn is not None:
                        await conn.close()
                conn = None
                if self._stop.is_set():
                    break
                await self._on_status(StreamStatus(self.name, False, _now(), f"{type(exc).__name__}: {exc}"[:200]))
                attempt += 1
                await asyncio.sleep(self._backoff(attempt))
        if conn is not None:
            await conn.close()

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff_s, 0.1 * 2 ** min(attempt, 10)) * (0.5 + random.random())

    async def _pump(self, conn: ClientConnection) -> ClientConnection:
        opened = time.monotonic()
        while True:
            if time.monotonic() - opened >= self.rollover_s:
                return await self._rollover(conn)
            timeout = min(self.idle_timeout_s, max(0.05, self.rollover_s - (time.monotonic() - opened)))
            try:
                msg = await asyncio.wait_for(conn.recv(), timeout)
            except TimeoutError:
                if time.monotonic() - opened >= self.rollover_s:
                    continue
                raise TimeoutError(f"no message for {self.idle_timeout_s:g}s: the stream stalled") from None
            await self._on_message(msg)

    async def _rollover(self, old: ClientConnection) -> ClientConnection:
        """Open the successor, keep reading the old one until the successor delivers, then close it."""
        new = await self._connect()
        self.rollovers += 1
        first = asyncio.create_task(new.recv())
        old_open = True
        while not first.done():
            if not old_open:
                await asyncio.wait({first})
                break
            old_msg = asyncio.create_task(old.recv())
            done, _ = await asyncio.wait({first, old_msg}, return_when=asyncio.FIRST_COMPLETED)
            if old_msg in done:
                try:
                    await self._on_message(old_msg.result())
                except websockets.ConnectionClosed:
                    old_open = False
            else:
                old_msg.cancel()
        await old.close()
        await self._on_message(first.result())
        await self._on_status(StreamStatus(self.name, True, _now(), "rolled over to a new connection"))
        return new


def _now() -> int:
    return int(time.time() * 1000)
