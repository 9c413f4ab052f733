"""Market feeds for a running bot: async iterators of core events, or sources that push them.

`simulated` and `replay` are iterators the runner pumps into its queue. They can run as fast
as the engine takes them (`speed=0`, the data clock drives every timer) or paced at `speed`
times real time, re-stamped so that the run starts now (then the wall clock and the scheduler
drive timers, as live). `binance` is the public streams (no keys), a `PushSource`: market
events and stream statuses as they come, put by the stream itself into the runner's queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from rulebot.core.events import CandleClosed, FundingRate

Put = Callable[[object], Awaitable[None]]


@runtime_checkable
class PushSource(Protocol):
    """A feed that delivers by itself (a WebSocket's frames come when they come): started with
    the runner's `put`, it puts each event straight into the runner's queue, so an event is
    queued once, and waits there while the queue is full (back-pressure on the socket)."""

    def start(self, put: Put) -> None: ...

    async def stop(self) -> None: ...


MarketSource = AsyncIterator[Any] | PushSource


async def pushed(source: PushSource, put: Put) -> None:
    """Run `source` into `put` until cancelled (the run's end), then stop it: the stream lives
    exactly as long as the task that holds this, as an iterator's pump does."""
    try:
        source.start(put)
        await asyncio.Future()  # never done: the source delivers on its own tasks
    finally:
        await source.stop()


async def paced(events: Iterable[Any], speed: float) -> AsyncIterator[Any]:
    """Yield `events`; with `speed` > 0, at `speed` times their own pace, stamped from now."""
    it = iter(events)
    if speed <= 0:
        for n, ev in enumerate(it, 1):
            yield ev
            if n % 256 == 0:
                await asyncio.sleep(0)  # let control requests and the journal in
        return
    first_data: int | None = None
    start = time.time() * 1000
    for ev in it:
        t = ev.close_time if isinstance(ev, CandleClosed) else ev.time
        if first_data is None:
            first_data = t
        due = start + (t - first_data) / speed
        delay = due / 1000 - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield _restamp(ev, int(start + (t - first_data)))


def _restamp(ev: Any, t: int) -> Any:
    if isinstance(ev, CandleClosed):
        span = ev.close_time - ev.open_time
        return replace(ev, open_time=t - span, close_time=t)
    if isinstance(ev, FundingRate):
        return replace(ev, funding_time=t)
    return replace(ev, time=t)
