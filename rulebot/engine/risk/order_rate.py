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


class OrderBudget:
    """The send times of the orders of the last minute."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times: deque[int] = deque()

    def sent(self, time: int) -> None:
        self.times.append(time)

    def used(self, now: int) -> int:
        """Orders sent in the minute before `now`."""
        return orders_last_minute(self.times, now)

    def peek(self, now: int) -> int:
        """The same count without dropping anything (for a status page that reads a live engine)."""
        return sum(1 for t in self.times if t > now - WINDOW_MS)
