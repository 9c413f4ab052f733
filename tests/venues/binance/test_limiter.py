"""The internal rate budget on a virtual clock: paced, refused, corrected by headers, banned."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.binance.payloads.rest import RateLimit
from rulebot.venues.binance.limiter import DEFAULT_LIMITS, RateBudgetExceeded, RateLimiter


class VirtualTime:
    """A clock that only moves when the limiter sleeps: pacing is measured, never waited for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(limits=DEFAULT_LIMITS, share=0.8, max_wait_s=120.0) -> tuple[RateLimiter, VirtualTime]:
    t = VirtualTime()
    return RateLimiter(limits, share, max_wait_s=max_wait_s, clock=t.clock, sleep=t.sleep), t


def test_budgets_are_a_share_of_the_exchange_limits():
    lim, _ = limiter()
    assert lim.budgets() == {
        "x-mbx-used-weight-1m": 1920,
        "x-mbx-order-count-1m": 960,
        "x-mbx-order-count-10s": 240,
    }
    assert lim.limits()["x-mbx-order-count-10s"] == 300


@pytest.mark.parametrize("share", [0.0, -0.1, 0.95, 1.0, 1.5])
def test_a_budget_at_or_above_the_exchange_limit_cannot_be_configured(share):
    with pytest.raises(ValueError, match=r"at most 0\.9"):
        RateLimiter(share=share)


async def test_a_burst_of_orders_is_paced_into_the_next_window():
    lim, t = limiter([RateLimit("ORDERS", "SECOND", 10, 10)], share=0.5)  # 5 orders per 10 s
    start = t.now
    sent = []
    for _ in range(12):
        await lim.acquire(weight=0, orders=1)
        sent.append(t.now - start)
    assert sent[:5] == [0.0] * 5
    assert sent[5:10] == [10.0] * 5 and sent[10:] == [20.0] * 2
    assert lim.waited == pytest.approx(20.0)


async def test_weight_and_orders_are_budgeted_separately():
    lim, t = limiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 100), RateLimit("ORDERS", "SECOND", 10, 100)])
    await lim.acquire(weight=80)  # the whole weight budget
    await lim.acquire(weight=0, orders=5)  # orders cost no IP weight: not held back
    assert t.sleeps == []
    await lim.acquire(weight=1)
    assert t.sleeps == [60.0]


async def test_refused_when_it_would_wait_too_long_or_could_never_fit():
    lim, t = limiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 100)], max_wait_s=5)
    with pytest.raises(RateBudgetExceeded, match="more than the whole budget"):
        await lim.acquire(weight=81)
    await lim.acquire(weight=80)
    with pytest.raises(RateBudgetExceeded, match="was not sent"):
        await lim.acquire(weight=10)
    assert lim.refused == 2 and t.sleeps == []
    assert lim.used() == {"x-mbx-used-weight-1m": 80}  # refused requests spend nothing


async def test_the_exchange_headers_correct_the_local_count():
    lim, t = limiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 100)])
    await lim.acquire(weight=10)
    lim.observe({"X-MBX-USED-WEIGHT-1M": "70"})  # another process on this IP spent 60
    assert lim.used()["x-mbx-used-weight-1m"] == 70
    lim.observe({"X-MBX-USED-WEIGHT-1M": "5"})  # a lower count never loosens the budget
    assert lim.used()["x-mbx-used-weight-1m"] == 70
    await lim.acquire(weight=10)
    assert t.sleeps == []
    await lim.acquire(weight=10)  # 90 > 80: waits for the first spend to leave the window
    assert t.sleeps == [60.0]


async def test_retry_after_holds_every_request():
    lim, t = limiter(max_wait_s=30)
    lim.ban(12.5)
    await lim.acquire(weight=1)
    assert t.sleeps == [12.5] and lim.banned_for == 0
    lim.ban(300)  # an IP ban: refused at once rather than hanging the bot for five minutes
    with pytest.raises(RateBudgetExceeded, match="Binance asked to back off"):
        await lim.acquire(weight=1)


async def test_exchange_info_reconfigures_and_keeps_what_was_spent():
    lim, _ = limiter([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 2400)])
    await lim.acquire(weight=100)
    lim.configure([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 6000), RateLimit("ORDERS", "SECOND", 10, 300)])
    assert lim.budgets() == {"x-mbx-used-weight-1m": 4800, "x-mbx-order-count-10s": 240}
    assert lim.used()["x-mbx-used-weight-1m"] == 100


async def test_concurrent_callers_never_overspend():
    lim, t = limiter([RateLimit("ORDERS", "SECOND", 1, 10)], share=0.5)
    stamps: list[float] = []

    async def order() -> None:
        await lim.acquire(weight=0, orders=1)
        stamps.append(t.now)

    await asyncio.gather(*(order() for _ in range(20)))
    assert len(stamps) == 20
    for s in stamps:
        assert sum(1 for u in stamps if s - 1.0 < u <= s) <= 5


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 3), st.floats(0, 5, allow_nan=False)),
        max_size=60,
    )
)
def test_no_window_ever_holds_more_than_its_budget(requests):
    limits = [RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 100), RateLimit("ORDERS", "SECOND", 10, 8)]
    lim, t = limiter(limits, share=0.8)
    log: list[tuple[float, int, int]] = []

    async def run() -> None:
        for weight, orders, gap in requests:
            t.now += gap
            await lim.acquire(weight, orders)
            log.append((t.now, weight, orders))

    asyncio.run(run())
    for at, _, _ in log:
        assert sum(w for u, w, _ in log if at - 60 < u <= at) <= 80
        assert sum(o for u, _, o in log if at - 10 < u <= at) <= 6
