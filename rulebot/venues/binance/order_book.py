"""A local order book kept with Binance's futures snapshot + diff algorithm (FACTS §9.1).

1. Buffer the diff stream (`<symbol>@depth`) while a REST snapshot (`depth?limit=1000`) is
   fetched; it carries `lastUpdateId` (L).
2. Drop buffered diffs with `u` < L. The first diff applied must have `U` <= L <= `u`; if the
   oldest one left starts after L, the snapshot is older than the buffer: fetch another.
3. Every later diff must chain: its `pu` equals the previous diff's `u`. Otherwise diffs were
   missed (a dropped socket, a gap): the book is thrown away and rebuilt from a new snapshot.
Quantities are absolute; 0 removes the level, and removing an absent level is normal.

`BookSync` is the algorithm without I/O; `LocalOrderBook` drives it, fetching snapshots in the
background so that the stream is never held up by REST.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from rulebot.binance.payloads.market import DepthUpdate
from rulebot.binance.payloads.market_data import DepthSnapshot, parse_depth
from rulebot.core.account_events import StreamStatus

FetchDepth = Callable[[str], Awaitable[Mapping[str, Any]]]
Levels = dict[Decimal, Decimal]


class BookSync:
    """The book of one symbol and whether it is in sync; feed it diffs and snapshots.

    `needs_snapshot` says when a snapshot is wanted; `synced` whether the levels are
    Binance's book as of `last_update_id`. Pure: no I/O, no clock.
    """

    def __init__(self, symbol: str, max_buffer: int = 50_000) -> None:
        self.symbol = symbol
        self.bids: Levels = {}
        self.asks: Levels = {}
        self.last_update_id: int | None = None
        self.synced = False
        self.needs_snapshot = True
        self.resyncs = 0  # times the chain broke and the book was rebuilt
        self.stale_snapshots = 0  # snapshots older than every buffered diff, fetched again
        self._buffer: list[DepthUpdate] = []
        self._snapshot: DepthSnapshot | None = None
        self._max_buffer = max_buffer

    def on_diff(self, d: DepthUpdate) -> None:
        if not self.synced:
            self._buffer.append(d)
            if len(self._buffer) > self._max_buffer:  # a snapshot that never comes: stay bounded
                del self._buffer[: len(self._buffer) // 2]
            self._start()
            return
        if d.final_update_id <= (self.last_update_id or 0):
            return  # seen already (a rollover's overlap)
        if d.prev_final_update_id != self.last_update_id:
            self._lose_sync(d)
            return
        self._apply(d)

    def on_snapshot(self, snap: DepthSnapshot) -> None:
        if self.synced:
            return  # a late answer to a request the stream made unnecessary
        self._snapshot = snap
        self.needs_snapshot = False
        self._start()

    def invalidate(self) -> None:
        """The stream was cut: the diffs sent meanwhile are gone, so is the book."""
        if self.synced:
            self.resyncs += 1
        self._reset([])

    def _lose_sync(self, d: DepthUpdate) -> None:
        self.resyncs += 1
        self._reset([d])

    def _reset(self, buffer: list[DepthUpdate]) -> None:
        self.synced = False
        self.needs_snapshot = True
        self._snapshot = None
        self._buffer = buffer
        self.bids, self.asks = {}, {}
        self.last_update_id = None

    def _start(self) -> None:
        snap = self._snapshot
        if snap is None:
            return
        last = snap.last_update_id
        pending = [d for d in self._buffer if d.final_update_id >= last]
        self._buffer = pending
        if not pending:
            return  # the snapshot is newer than every diff so far: wait for the one covering it
        if pending[0].first_update_id > last:
            self.stale_snapshots += 1
            self._snapshot = None
            self.needs_snapshot = True
            return
        self.bids = {p: q for p, q in snap.bids if q}
        self.asks = {p: q for p, q in snap.asks if q}
        self.last_update_id = last
        self.synced = True
        self._snapshot = None
        self._buffer = []
        self._apply(pending[0])
        for d in pending[1:]:
            if d.prev_final_update_id != self.last_update_id:
                self._lose_sync(d)
                return
            self._apply(d)

    def _apply(self, d: DepthUpdate) -> None:
        for book, levels in ((self.bids, d.bids), (self.asks, d.asks)):
            for price, qty in levels:
                if qty:
                    book[price] = qty
                else:
                    book.pop(price, None)
        self.last_update_id = d.final_update_id

    def best(self) -> tuple[Decimal | None, Decimal | None]:
        """(best bid, best ask), None for an empty side."""
        return (max(self.bids) if self.bids else None, min(self.asks) if self.asks else None)

    def top(self, n: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The best `n` levels a side, best first."""
        return sorted(self.bids.items(), reverse=True)[:n], sorted(self.asks.items())[:n]


class LocalOrderBook:
    """A `BookSync` fed by the depth stream, with snapshots fetched in the background.

    Pass it every `DepthUpdate` of its symbol (`on_diff`) or every event (`on_event`: a
    disconnected `StreamStatus` also throws the book away, since the diffs sent meanwhile are
    lost). `fetch_depth(symbol)` returns Binance's JSON (`BinanceRest.depth` does); a failed
    fetch is retried after `retry_s`.
    """

    def __init__(self, symbol: str, fetch_depth: FetchDepth, *, retry_s: float = 1.0) -> None:
        self.symbol = symbol
        self.sync = BookSync(symbol)
        self._fetch = fetch_depth
        self.retry_s = retry_s
        self.snapshots = 0  # snapshots fetched
        self.fetch_errors = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()

    @property
    def bids(self) -> Levels:
        return self.sync.bids

    @property
    def asks(self) -> Levels:
        return self.sync.asks

    @property
    def synced(self) -> bool:
        return self.sync.synced

    @property
    def resyncs(self) -> int:
        return self.sync.resyncs

    @property
    def last_update_id(self) -> int | None:
        return self.sync.last_update_id

    def best(self) -> tuple[Decimal | None, Decimal | None]:
        return self.sync.best()

    async def on_event(self, event: object) -> None:
        if isinstance(event, DepthUpdate):
            if event.symbol == self.symbol:
                await self.on_diff(event)
        elif isinstance(event, StreamStatus) and not event.connected:
            self.sync.invalidate()
            self._synced.clear()

    async def on_diff(self, d: DepthUpdate) -> None:
        self.sync.on_diff(d)
        self._after()

    async def wait_synced(self, timeout: float) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _after(self) -> None:
        if self.sync.synced:
            self._synced.set()
            return
        self._synced.clear()
        if self.sync.needs_snapshot and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._snapshot(), name=f"depth:{self.symbol}")

    async def _snapshot(self) -> None:
        while self.sync.needs_snapshot:
            try:
                raw = await self._fetch(self.symbol)
                snap = parse_depth(raw, self.symbol)
            except Exception as exc:  # REST trouble: the book stays out of sync, and says why
                self.fetch_errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(self.retry_s)
                continue
            self.snapshots += 1
            self.sync.on_snapshot(snap)
            if self.sync.needs_snapshot:  # older than the buffered diffs: Binance lags, wait a bit
                await asyncio.sleep(self.retry_s / 10)
        if self.sync.synced:
            self._synced.set()
