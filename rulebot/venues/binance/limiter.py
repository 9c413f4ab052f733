"""The internal rate budget: a request waits here, or is refused here, before Binance would ban.

Budgets are a share (80 % by default, never more than 90 %) of the limits exchangeInfo reports:
request weight per minute (per IP) and orders per 10 s and per minute (per account). Counting
is over sliding windows, so no fixed window of Binance's can see more than the budget. The
usage headers Binance returns (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, ...) correct
the local count when something else spends on the same IP or account. A 429/418 with
`Retry-After` holds every request until then.

A request that cannot fit within `max_wait_s` (or can never fit: more weight than the whole
budget) is refused with `RateBudgetExceeded` instead of being sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from rulebot.binance.payloads.rest import RateLimit

MAX_SHARE = 0.9
DEFAULT_SHARE = 0.8
DEFAULT_MAX_WAIT_S = 30.0
# Binance's documented limits, until exchangeInfo says otherwise (FACTS §4).
DEFAULT_LIMITS = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 2400),
    RateLimit("ORDERS", "MINUTE", 1, 1200),
    RateLimit("ORDERS", "SECOND", 10, 300),
)
_TICK_S = 0.001
_KINDS = {"REQUEST_WEIGHT": "x-mbx-used-weight", "ORDERS": "x-mbx-order-count"}


class RateBudgetExceeded(Exception):
    """Refused by the internal budget: the request was not sent, so nothing happened on Binance."""


@dataclass
class _Window:
    kind: str  # REQUEST_WEIGHT or ORDERS
    seconds: float
    limit: int  # the exchange's
    budget: int  # ours, below it
    header: str  # the usage header that reports this window, lowercase
    spent: deque[tuple[float, int]] = field(default_factory=deque)

    def used(self, now: float) -> int:
        while self.spent and self.spent[0][0] <= now - self.seconds:
            self.spent.popleft()
        return sum(n for _, n in self.spent)

    def wait(self, now: float, amount: int) -> float:
        """Seconds until `amount` more fits the budget (0 when it fits now)."""
        if amount <= 0:
            return 0.0
        excess = self.used(now) + amount - self.budget
        if excess <= 0:
            return 0.0
        freed = 0
        for at, n in self.spent:
            freed += n
            if freed >= excess:
                # Never 0 here: float rounding could otherwise call a full window free.
                return max(_TICK_S, at + self.seconds - now)
        return self.seconds


def _header(limit: RateLimit) -> str:
    return f"{_KINDS[limit.kind]}-{limit.interval_num}{limit.interval[0].lower()}"


class RateLimiter:
    """Paces requests below Binance's limits. One per IP (weight) and account (orders)."""

    def __init__(
        self,
        limits: Sequence[RateLimit] = DEFAULT_LIMITS,
        share: float = DEFAULT_SHARE,
        *,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 < share <= MAX_SHARE:
            raise ValueError(
                f"the rate budget is a share of Binance's own limits, at most {MAX_SHARE}; "
                f"got {share}. A budget at or above the exchange's limit gets the IP banned"
            )
        self.share = share
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._sleep = sleep
        self._banned_until = 0.0
        self.waited = 0.0  # seconds spent waiting, for status and tests
        self.refused = 0
        self._windows: list[_Window] = []
        self.configure(limits)

    def configure(self, limits: Sequence[RateLimit]) -> None:
        """Take the live limits (exchangeInfo's `rateLimits`); what was spent carries over."""
        old = {w.header: w.spent for w in self._windows}
        windows = []
        for lim in limits:
            if lim.kind not in _KINDS or lim.limit <= 0:
                continue
            header = _header(lim)
            budget = max(1, int(lim.limit * self.share))
            seconds, spent = lim.window_ms / 1000, old.get(header, deque())
            windows.append(_Window(lim.kind, seconds, lim.limit, budget, header, spent))
        self._windows = windows

    def budgets(self) -> dict[str, int]:
        """Budget per window, keyed by the header that reports it (`x-mbx-order-count-10s`)."""
        return {w.header: w.budget for w in self._windows}

    def limits(self) -> dict[str, int]:
        """The exchange's own limit per window, same keys as `budgets`."""
        return {w.header: w.limit for w in self._windows}

    def used(self) -> dict[str, int]:
        now = self._clock()
        return {w.header: w.used(now) for w in self._windows}

    def delay(self, weight: int, orders: int = 0) -> float:
        """Seconds before a request of this weight and order count may go out (0: now).

        Raises RateBudgetExceeded when it never could: more than a whole budget at once.
        """
        now = self._clock()
        wait = max(self._banned_until - now, 0.0)
        for w in self._windows:
            amount = weight if w.kind == "REQUEST_WEIGHT" else orders
            if amount > w.budget:
                self.refused += 1
                raise RateBudgetExceeded(
                    f"a request of {amount} ({w.header}) is more than the whole budget of "
                    f"{w.budget} ({self.share:.0%} of Binance's {w.limit}); it was not sent. "
                    "Split it into smaller requests"
                )
            wait = max(wait, w.wait(now, amount))
        return wait

    async def acquire(self, weight: int, orders: int = 0) -> None:
        """Wait until the request fits every budget, then count it; refuse it rather than wait
        longer than `max_wait_s`."""
        while True:
            wait = self.delay(weight, orders)
            if wait <= 0:
                break
            if wait > self.max_wait_s:
                self.refused += 1
                why = "Binance asked to back off" if self.banned_for > 0 else "the budget is spent"
                raise RateBudgetExceeded(
                    f"{why}: the request would wait {wait:.1f} s (more than "
                    f"{self.max_wait_s:.0f} s), so it was not sent. Nothing changed on the "
                    "exchange; retry later or send fewer requests"
                )
            self.waited += wait
            await self._sleep(wait)
        now = self._clock()
        for w in self._windows:
            amount = weight if w.kind == "REQUEST_WEIGHT" else orders
            if amount > 0:
                w.spent.append((now, amount))

    def observe(self, headers: Mapping[str, str]) -> None:
        """The exchange's own count: when it is above ours, something else spends too."""
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


__all__ = ["DEFAULT_LIMITS", "MAX_SHARE", "RateBudgetExceeded", "RateLimiter"]
