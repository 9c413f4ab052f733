"""One Binance WebSocket kept open: reconnects with backoff and jitter, rolls over before 24 h.

Binance closes every connection after 24 hours (FACTS §9). Waiting for that cut loses what is
sent while a new connection opens, so the rollover opens the successor first and keeps reading
the old connection until it has caught up with the successor's first frames (`Seam`): every
frame is passed on once, in order, none is lost. A connection that is cut instead (network,
server, stall) is reopened after a backoff with jitter, and the cut is reported as a
`StreamStatus`; what was sent meanwhile is gone from this socket, and the consumer recovers it
(REST backfill, order book resync, reconciliation) or reports it.

Ping/pong is the websockets library's: it answers Binance's pings (every 3 minutes; Binance
drops a client silent for 10) and sends its own, so a dead peer is found within
`ping_interval_s + ping_timeout_s`. A peer that answers pings but sends no data for
`idle_timeout_s` counts as stalled and is reconnected (off for the user stream, which can be
quiet for hours).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import websockets
from websockets.asyncio.client import ClientConnection

from rulebot.core.account_events import StreamStatus

Message = bytes | str
OnMessage = Callable[[Message], Awaitable[None]]
OnStatus = Callable[[StreamStatus], Awaitable[None]]
UrlSource = Callable[[], Awaitable[str]]

DAY_S = 24 * 3600
CONNECTED, RECONNECTED, ROLLED_OVER = "connected", "reconnected", "rolled over to a new connection"
# What a cut connection raises; anything else is a bug and ends the stream loudly.
_CUTS = (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake, TimeoutError)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: doubling from `first_s` up to `max_s`, each drawn from its upper half.

    The random half keeps many clients cut by the same outage from reconnecting in lockstep;
    the fixed half keeps a flapping server from being hammered.
    """

    first_s: float = 0.2
    max_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        cap = min(self.max_s, self.first_s * 2.0 ** min(max(attempt - 1, 0), 30))
        return cap / 2 + rng.random() * cap / 2


class Seam:
    """Joins a connection to its successor during a rollover, each frame once, none lost.

    Both connections carry the same frames for a while. Frames of the old connection are passed
    on as they come; the new one's are held. When the old connection delivers a frame the new
    one holds, it has caught up with the new one's start: the held frames it did not deliver
    are passed on and the new connection takes over. Binance sends the same bytes to every
    subscriber of a stream, so equal frames are the same event. Pure: no I/O, no clock.
    """

    def __init__(self) -> None:
        self._held: list[Message] = []
        self._held_set: set[Message] = set()
        self._from_old: set[Message] = set()
        self.joined = False

    def from_new(self, msg: Message) -> None:
        self._held.append(msg)
        self._held_set.add(msg)

    def from_old(self, msg: Message) -> bool:
        """Record a frame the old connection delivered; True once the two have met."""
        self._from_old.add(msg)
        if msg in self._held_set:
            self.joined = True
        return self.joined

    def rest(self) -> list[Message]:
        """The held frames the old connection did not deliver, in the new one's order."""
        self.joined = True
        return [m for m in self._held if m not in self._from_old]


class Stalled(TimeoutError):
    """No frame for longer than the idle timeout although the socket is open."""


class ReconnectingStream:
    """A WebSocket that stays open: frames to `on_message`, (dis)connections to `on_status`.

    `url` is a string or an async callable asked before every connection (a user stream's
    listen key changes). Statuses: connected (detail "connected", then "reconnected" after a
    cut, "rolled over to a new connection" after a rollover) and disconnected (detail says why
    and when the next attempt is).
    """

    def __init__(
        self,
        name: str,
        url: str | UrlSource,
        on_message: OnMessage,
        on_status: OnStatus,
        *,
        rollover_s: float = DAY_S - 15 * 60,
        overlap_s: float = 5.0,
        idle_timeout_s: float | None = 60.0,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
        open_timeout_s: float = 10.0,
        backoff: Backoff = Backoff(),
        rng: random.Random | None = None,
        clock: Callable[[], int] | None = None,
        on_cut: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._url = url
        self._on_message = on_message
        self._on_status = on_status
        self.rollover_s = rollover_s
        self.overlap_s = overlap_s
        self.idle_timeout_s = idle_timeout_s
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.open_timeout_s = open_timeout_s
        self.backoff = backoff
        self._rng = rng or random.Random()
        self._clock = clock or _wall_ms
        self._on_cut = on_cut  # told why a connection was lost or refused, before the backoff
        self.connects = 0  # connections opened, rollover successors included
        self.reconnects = 0  # after a cut
        self.rollovers = 0
        self._conn: ClientConnection | None = None
        self._cut_reason: str | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"ws:{self.name}")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await _close(self._conn)
            self._conn = None

    async def reconnect(self, reason: str) -> None:
        """Drop the current connection now (a listen key was replaced): the loop opens a new one.

        Returns at once: the loop reads what the connection still holds, then sees it closed.
        """
        conn = self._conn
        if conn is not None:
            self._cut_reason = reason
            task = asyncio.create_task(conn.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                self._conn = await self._connect()
                attempt = 0
                detail = RECONNECTED if self.connects > 1 else CONNECTED
                await self._on_status(StreamStatus(self.name, True, self._clock(), detail))
                while True:  # a rollover hands over to the successor and goes on
                    self._conn = await self._pump(self._conn)
            except _CUTS as exc:
                conn, self._conn = self._conn, None
                if conn is not None:
                    await _close(conn)
                if self._stopping:
                    break
                if self._on_cut is not None:
                    await self._on_cut(exc)
                attempt += 1
                self.reconnects += 1
                wait = self.backoff.delay(attempt, self._rng)
                why = self._cut_reason or _describe(exc)
                self._cut_reason = None
                detail = f"{why}; reconnecting in {wait:.1f} s (attempt {attempt})"
                await self._on_status(StreamStatus(self.name, False, self._clock(), detail))
                await asyncio.sleep(wait)
            except Exception as exc:
                # A consumer's bug, not a network fault: say the stream is down (so nothing acts
                # on data that stopped), then fail loudly rather than retry the same bug.
                conn, self._conn = self._conn, None
                if conn is not None:
                    await _close(conn)
                detail = f"stream stopped by an internal error ({type(exc).__name__}: {exc})"
                with contextlib.suppress(Exception):
                    await self._on_status(StreamStatus(self.name, False, self._clock(), detail))
                raise

    async def _connect(self) -> ClientConnection:
        url = self._url if isinstance(self._url, str) else await self._url()
        conn = await websockets.connect(
            url,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_timeout_s,
            open_timeout=self.open_timeout_s,
            max_size=2**24,
            compression=None,  # Binance does not compress; skipping the offer saves the hot path
            logger=_PROTOCOL_LOG,  # its debug lines show the handshake's path: the listen key, redacted
        )
        self.connects += 1
        return conn

    async def _pump(self, conn: ClientConnection) -> ClientConnection:
        """Pass frames on until the connection is due for rollover; return its successor."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.rollover_s
        idle = self.idle_timeout_s
        on_message = self._on_message
        while True:
            left = due - loop.time()
            if left <= 0:
                successor = await self._rollover(conn)
                if successor is not conn:
                    return successor
                due = loop.time() + min(60.0, self.rollover_s)  # no successor yet: try again
                continue
            try:
                async with asyncio.timeout(left if idle is None else min(idle, left)):
                    msg = await conn.recv(decode=False)
            except TimeoutError:
                if loop.time() < due:
                    raise Stalled(f"no data for {idle:g} s although the socket is open") from None
                continue
            await on_message(msg)

    async def _rollover(self, old: ClientConnection) -> ClientConnection:
        """Open the successor, read both until they meet at a `Seam`, close the old one."""
        try:
            new = await self._connect()
        except _CUTS:
            return old  # keep the old one; Binance's own cut, if it comes first, is a reconnect
        seam = Seam()
        deadline = asyncio.get_running_loop().time() + self.overlap_s
        old_recv: asyncio.Task[Message] | None = asyncio.create_task(old.recv(decode=False))
        new_recv = asyncio.create_task(new.recv(decode=False))
        try:
            while old_recv is not None and not seam.joined:
                left = deadline - asyncio.get_running_loop().time()
                done, _ = await asyncio.wait(
                    {old_recv, new_recv}, timeout=max(left, 0), return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    break  # the old one had nothing more to say in time: the new one takes over
                if new_recv in done:
                    seam.from_new(new_recv.result())  # a successor that died raises: a cut
                    new_recv = asyncio.create_task(new.recv(decode=False))
                if old_recv in done:
                    try:
                        msg = old_recv.result()
                    except websockets.ConnectionClosed:
                        old_recv = None  # cut mid-overlap: everything it had was passed on
                        break
                    await self._on_message(msg)
                    joined = seam.from_old(msg)
                    old_recv = None if joined else asyncio.create_task(old.recv(decode=False))
        except BaseException:
            new_recv.cancel()
            await _close(new)
            raise
        finally:
            if old_recv is not None:
                old_recv.cancel()
            await _close(old)
        if new_recv.done():
            seam.from_new(new_recv.result())
        else:
            new_recv.cancel()  # recv is cancel-safe: what the new connection queued stays queued
            with contextlib.suppress(asyncio.CancelledError):
                await new_recv
        for msg in seam.rest():
            await self._on_message(msg)
        self.rollovers += 1
        await self._on_status(StreamStatus(self.name, True, self._clock(), ROLLED_OVER))
        return new


async def _close(conn: ClientConnection, timeout_s: float = 2.0) -> None:
    """Close a connection nobody reads any more, without waiting out websockets' close timeout.

    A connection whose frames are not read stops reading its socket once its queue is full,
    and then never sees the server's answer to the close. Reading (and dropping) what is left
    lets the closing handshake through; a server that still does not answer is cut.
    """
    closing = asyncio.create_task(conn.close())
    try:
        async with asyncio.timeout(timeout_s):
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    await conn.recv(decode=False)
    except TimeoutError:
        conn.transport.abort()
    except websockets.ConcurrencyError:
        pass  # another task reads it: the close gets through on its own
    with contextlib.suppress(Exception):
        await closing


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Stalled):
        return f"stream stalled: {exc}"
    if isinstance(exc, websockets.ConnectionClosed):
        return f"connection closed ({exc})"
    if isinstance(exc, websockets.InvalidHandshake):
        return f"the server refused the connection ({exc})"
    if isinstance(exc, TimeoutError):
        return "timed out opening the connection"
    return f"connection failed ({type(exc).__name__}: {exc})"


def _wall_ms() -> int:
    return int(time.time() * 1000)


# A user stream's URL carries its listen key (`/ws/<key>`, `?listenKey=<key>`), which reads the
# account's orders and positions for as long as it lives: the websockets library logs the
# handshake's request line at debug level, so its lines pass through this redaction first.
_LISTEN_KEY = re.compile(r"(/ws/|listenKey=)[A-Za-z0-9_-]{16,}")


class _RedactListenKey(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = _LISTEN_KEY.sub(r"\1<listen key>", text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


_PROTOCOL_LOG = logging.getLogger("rulebot.binance.ws.protocol")
_PROTOCOL_LOG.addFilter(_RedactListenKey())
