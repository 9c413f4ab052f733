"""Market feeds for a running bot, as async iterators of core events.

`simulated` and `replay` can run as fast as the engine takes them (`speed=0`, the data clock
drives every timer) or paced at `speed` times real time, re-stamped so that the run starts
now (then the wall clock and the scheduler drive timers, as live). `binance` is the public
streams (no keys): market events and stream statuses as they come.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from typing import Any

from rulebot.core.events import CandleClosed, FundingRate


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
