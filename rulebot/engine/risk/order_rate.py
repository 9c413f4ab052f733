"""Order budget at event time: how many orders went out in the last minute (the rate_limiter
entry guard reads it; the engine's own resends of an exit are held back by it too)."""

from __future__ import annotations

from collections import deque

WINDOW_MS = 60_000


def orders_last_minute(times: deque[int], now: int) -> int:
    """The orders sent in the minute before `now`; older send times are dropped as it counts."""
    while times and times[0] <= now - WINDOW_MS:
        times.popleft()
    return len(times)
