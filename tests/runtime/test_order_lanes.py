"""Order lanes: per symbol, commands reach the venue in the engine's order, one at a time, and
every answer comes back exactly once, however long each answer takes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.account_events import AlgoUpdate, OrderUpdate
from rulebot.core.commands import CancelAllOrders, CancelOrder, PlaceOrder
from rulebot.core.enums import Market, OrderStatus, OrderType, Side, TimeInForce
from rulebot.core.events import Trade
from rulebot.runtime.executor import OrderLane, Outcome
from rulebot.runtime.run_venues import LaneVenue
from rulebot.testing.bots import until
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest
from rulebot.venues.binance.venue import BinanceVenue, VenueResult

D = Decimal


class _Clock:
    def now_ms(self) -> int:
        return 0


class SlowVenue:
    """A venue whose answers take the given time; it records what reached it and when it was busy."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.rest = _Clock()
        self.delays = delays
        self.arrived: list[str] = []
        self.busy: dict[str, int] = {}
        self.overlapped = False

    async def execute(self, cmd: CancelOrder, placement: object = None) -> VenueResult:
        self.arrived.append(cmd.client_order_id)
        self.busy[cmd.symbol] = self.busy.get(cmd.symbol, 0) + 1
        self.overlapped |= self.busy[cmd.symbol] > 1  # two of one symbol in flight at once
        await asyncio.sleep(self.delays[cmd.client_order_id])
        self.busy[cmd.symbol] -= 1
        return VenueResult(cmd.client_order_id.endswith("0"), -2011, "refused")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["BTCUSDT", "ETHUSDT", "SOLUSDT"]), st.integers(0, 4)), min_size=1, max_size=12)
)
def test_each_symbols_commands_go_out_in_order_and_each_answer_comes_back_once(plan):
    commands = [CancelOrder(symbol, f"{symbol}-{n}-{ms}", n) for n, (symbol, ms) in enumerate(plan)]
    venue = SlowVenue({c.client_order_id: int(c.client_order_id.rsplit("-", 1)[1]) / 1000 for c in commands})
    answers: list[Outcome] = []

    async def run() -> None:
        lanes: dict[str, OrderLane] = {}
        for cmd in commands:
            lane = lanes.get(cmd.symbol) or lanes.setdefault(cmd.symbol, OrderLane(venue, answers.append))  # type: ignore[arg-type]
            lane.queue.put_nowait((cmd, cmd.time))
        await asyncio.gather(*(lane.queue.join() for lane in lanes.values()))
        for lane in lanes.values():
            lane.task.cancel()

    asyncio.run(run())
    for symbol in {c.symbol for c in commands}:
        mine = [c.client_order_id for c in commands if c.symbol == symbol]
        assert [cid for cid in venue.arrived if cid.startswith(symbol)] == mine
    assert not venue.overlapped
    assert sorted(a.command.client_order_id for a in answers) == sorted(c.client_order_id for c in commands)
    assert all(a.result.ok == a.command.client_order_id.endswith("0") for a in answers)


@contextlib.asynccontextmanager
async def binance_at_60000() -> AsyncIterator[tuple[FakeBinance, BinanceVenue]]:
    """The fake exchange with BTCUSDT at 60,000, and the real Binance venue in front of it."""
    fake = await FakeBinance(Market.USDM).start()
    endpoints = Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url)
    venue = BinanceVenue(BinanceRest(endpoints, fake.api_key, fake.api_secret))
    try:
        await fake.feed(Trade("BTCUSDT", D(60000), D(1), 0, True, 1))
        await venue.rest.sync_time()
        yield fake, venue
    finally:
        await venue.rest.close()
        await fake.stop()


async def test_cancels_withdraw_orders_that_wait_out_a_ban_and_are_answered_as_binance_would():
    """The first order's POST is answered 418 and waits out Retry-After; the second waits behind it
    in the lane. Cancelled meanwhile, neither is ever sent: each cancel is answered at once with the
    CANCELED Binance would have reported (the stop's from the algo service), for the engine."""
    async with binance_at_60000() as (fake, venue):
        posts: list[str] = []
        fake.on_request = lambda method, path, _: posts.append(path) if method == "POST" else None
        fake.rest_faults.status_418, fake.rest_faults.retry_after_s = 1, 20
        outcomes: list[Outcome] = []
        lanes = LaneVenue(venue, outcomes.append)
        entry = PlaceOrder("e-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01"))
        stop = PlaceOrder("s-1", "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, D("0.01"), trigger_price=D(57000))
        for cmd in (entry, stop):
            lanes.execute(cmd, 1)
        await lanes.release(_no_settle)
        await until(lambda: venue.rest.limiter.banned_for > 0, timeout=5)  # the entry waits out the ban
        for cmd in (CancelOrder("BTCUSDT", "s-1", 2), CancelOrder("BTCUSDT", "e-1", 2)):
            lanes.execute(cmd, 2)
        await lanes.release(_no_settle)
        assert [(o.command.client_order_id, o.result.ok) for o in outcomes] == [("s-1", True), ("e-1", True)]
        stop_report, entry_report = (o.report for o in outcomes)
        assert isinstance(stop_report, AlgoUpdate) and stop_report.status == "CANCELED"
        assert isinstance(entry_report, OrderUpdate) and entry_report.status is OrderStatus.CANCELED
        assert entry_report.filled_qty == 0 and entry_report.client_order_id == "e-1"
        assert set(lanes.in_flight) == {"e-1", "s-1"}  # until the engine has settled the answers
        for o in outcomes:
            lanes.answered(o)
        assert lanes.in_flight == {}
        assert await lanes.drain(1)  # the entry no longer waits out the 20 s ban: it will not be sent
        assert posts == ["/fapi/v1/order"] and fake.placed_ids == []  # only the send answered 418
        assert len(outcomes) == 2
        await lanes.close()


async def _no_settle(outcome: Outcome) -> None:
    raise AssertionError(f"answered inline: {outcome}")


async def test_a_cancel_all_withdraws_the_orders_waiting_and_still_cancels_on_binance():
    """The entry waits out a ban, a limit order behind it: the symbol's cancel-all withdraws both
    (answered CANCELED at once) and goes to Binance for what Binance has, once the ban is over."""
    async with binance_at_60000() as (fake, venue):
        requests: list[tuple[str, str]] = []
        fake.on_request = lambda method, path, _: requests.append((method, path))
        fake.rest_faults.status_418, fake.rest_faults.retry_after_s = 1, 1
        outcomes: list[Outcome] = []
        lanes = LaneVenue(venue, outcomes.append)
        entry = PlaceOrder("e-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01"))
        bid = PlaceOrder(
            "l-1", "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.01"), D(50000), time_in_force=TimeInForce.GTC
        )
        for cmd in (entry, bid):
            lanes.execute(cmd, 1)
        await lanes.release(_no_settle)
        await until(lambda: venue.rest.limiter.banned_for > 0, timeout=5)
        lanes.execute(CancelAllOrders("BTCUSDT", 2), 2)
        await lanes.release(_no_settle)
        assert [(o.command, o.report.status if o.report else None) for o in outcomes] == [
            (CancelOrder("BTCUSDT", "e-1", 2), OrderStatus.CANCELED),
            (CancelOrder("BTCUSDT", "l-1", 2), OrderStatus.CANCELED),
        ]
        for o in outcomes:
            lanes.answered(o)
        assert await lanes.drain(5)
        assert ("DELETE", "/fapi/v1/allOpenOrders") in requests  # Binance's own orders are cancelled too
        assert [r for r in requests if r[0] == "POST"] == [("POST", "/fapi/v1/order")]  # the 418'd send only
        assert fake.placed_ids == [] and lanes.in_flight == {} and len(outcomes) == 2  # accepted: nothing to settle
        await lanes.close()


async def test_a_cancel_sent_without_the_journal_withdraws_an_order_still_waiting():
    """The journal broke: the shutdown cancels working entries without a journal row. One still
    waiting out a ban is withdrawn, not left to go out when the ban ends."""
    async with binance_at_60000() as (fake, venue):
        fake.rest_faults.status_418, fake.rest_faults.retry_after_s = 1, 20
        lanes = LaneVenue(venue, lambda outcome: None)
        lanes.execute(PlaceOrder("e-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")), 1)
        await lanes.release(_no_settle)
        await until(lambda: venue.rest.limiter.banned_for > 0, timeout=5)
        assert await lanes.send_unjournaled(CancelOrder("BTCUSDT", "e-1", 2), 2)
        assert await lanes.drain(1) and fake.placed_ids == [] and lanes.in_flight == {}
        await lanes.close()
