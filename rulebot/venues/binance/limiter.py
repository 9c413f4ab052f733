"""The internal rate budget: requests wait here rather than get the account banned.

Budgets are a share (80 % by default, never above 90 %) of the limits exchangeInfo reports:
request weight per minute (per IP) and orders per 10 s and per minute (per account). The
usage headers Binance returns (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-*`) correct the
local count when something else shares the IP or account. A 429/418 with `Retry-After`
stops every request until then.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rulebot.venues.binance.parse_rest import RateLimit

MAX_SHARE = 0.9
# Binance's documented limits, until exchangeInfo says otherwise (FACTS §4).
DEFAULT_LIMITS = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 2400),
    RateLimit("ORDERS", "MINUTE", 1, 1200),
    RateLimit("ORDERS", "SECOND", 10, 300),
)


@dataclass
class _Window:
    kind: str
    seconds: float
    budget: int
    header: str
    spent: deque[tuple[float, int]]

    def used(self, now: float) -> int:
        while self.spent and self.spent[0][0] <= now - self.seconds:
            self.spent.popleft()
        return sum(n for _, n in self.spent)

    def wait(self, now: float, amount: int) -> float:
        """Seconds until `amount` more fits (0 when it fits now)."""
        if amount <= 0:
            return 0.0
        total = self.used(now)
        if total + amount <= self.budget:
            return 0.0
        need = total + amount - self.budget
        freed = 0
        for at, n in self.spent:
            freed += n
            if freed >= need:
                return max(0.0, at + self.seconds - now)
        return self.seconds


class RateLimiter:
    def __init__(
        self,
        limits: Sequence[RateLimit] = DEFAULT_LIMITS,
        share: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < share <= MAX_SHARE:
            raise ValueError(f"the rate budget must be a share in (0, {MAX_SHARE}] of Binance's limits, got {share}")
        self.share = share
        self._clock = clock
        self._banned_until = 0.0
        self.waited = 0.0  # seconds spent waiting, for tests and status
        self._windows: list[_Window] = []
        self.configure(limits)

    def configure(self, limits: Sequence[RateLimit]) -> None:
        """Take the live limits from exchangeInfo."""
        windows = []
        for lim in limits:
            if lim.kind not in ("REQUEST_WEIGHT", "ORDERS"):
                continue
            seconds = lim.window_ms / 1000
            if lim.kind == "REQUEST_WEIGHT":
                header = f"x-mbx-used-weight-{lim.interval_num}{lim.interval[0].lower()}"
            else:
                header = f"x-mbx-order-count-{lim.interval_num}{lim.interval[0].lower()}"
            windows.append(_Window(lim.kind, seconds, max(1, int(lim.limit * self.share)), header, deque()))
        self._windows = windows

    def budgets(self) -> dict[str, int]:
        return {w.header: w.budget for w in self._windows}

    async def acquire(self, weight: int, orders: int = 0) -> None:
        """Wait until the request fits every budget, then count it."""
        while True:
            now = self._clock()
            delay = max(self._banned_until - now, 0.0)
            for w in self._windows:
                delay = max(delay, w.wait(now, weight if w.kind == "REQUEST_WEIGHT" else orders))
            if delay <= 0:
                break
            self.waited += delay
            await asyncio.sleep(delay)
        now = self._clock()
        for w in self._windows:
            amount = weight if w.kind == "REQUEST_WEIGHT" else orders
            if amount:
                w.spent.append((now, amount))

    def observe(self, headers: Mapping[str, str]) -> None:
        """The exchange's own count: if it is higher than ours, something else spends too."""
        now = self._clock()
        lower = {k.lower(): v for k, v in headers.items()}
        for w in self._windows:
            raw = lower.get(w.header)
            if raw is None or not raw.isdigit():
                continue
            extra = int(raw) - w.used(now)
            if extra > 0:
                w.spent.append((now, extra))

    def ban(self, retry_after_s: float) -> None:
        """429/418: nothing goes out before Retry-After has passed."""
        self._banned_until = max(self._banned_until, self._clock() + retry_after_s)

    @property
    def banned_for(self) -> float:
        return max(0.0, self._banned_until - self._clock())
