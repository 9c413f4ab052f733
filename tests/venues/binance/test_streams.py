"""Market and user streams, the local order book and the venue, over the fake exchange with faults."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import pytest

from rulebot.binance.payloads.market import DepthUpdate
from rulebot.core.account_events import AccountUpdate, OrderUpdate, StreamStatus
from rulebot.core.commands import CancelOrder, PlaceOrder, SetMarginType
from rulebot.core.enums import MarginType, OrderType, Side, TimeInForce, WorkingType
from rulebot.core.events import BookTop, Trade
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.market_stream import MarketStream, stream_names
from rulebot.venues.binance.order_book import LocalOrderBook
from rulebot.venues.binance.user_stream import UserStream
from rulebot.venues.binance.venue import AccountSetupError, BinanceVenue

D = Decimal


async def until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def trade(i: int, price: str = "60000") -> Trade:
    return Trade("BTCUSDT", D(price), D("0.01"), 0, i % 2 == 0, i, i, i)


async def feed_trades(
    fake: FakeBinance, first: int, n: int, every: int = 0, fault: Callable[[int], None] | None = None
) -> None:
    for i in range(first, first + n):
        if fault is not None and every and (i - first) % every == every - 1:
            fault(i)
        await fake.feed(trade(i))
        if i % 50 == 0:
            await asyncio.sleep(0)


async def test_dropped_sockets_lose_nothing_and_duplicate_nothing(fake, rest):
    got: list[object] = []

    async def on_event(e: object) -> None:
        got.append(e)

    stream = MarketStream(
        rest.endpoints, stream_names(["BTCUSDT"], book=False, mark=False), on_event, backfill=rest.backfill_trades
    )
    stream.start()
    await until(lambda: fake.hub.connections == 1)
    await fake.feed(trade(1))
    await until(lambda: any(isinstance(e, Trade) for e in got))

    def drop(_: int) -> None:
        fake.hub.faults.drop_after_messages = 1

    for chunk in range(5):  # a socket cut early in every 400 trades; the rest come while the client reconnects
        await feed_trades(
            fake, 2 + chunk * 400, 400, every=10, fault=lambda i, c=chunk: drop(i) if i == 11 + c * 400 else None
        )
        await until(lambda: fake.hub.connections == 1)
    await fake.feed(trade(2002))
    await until(lambda: [e.trade_id for e in got if isinstance(e, Trade)][-1:] == [2002], timeout=5)
    ids = [e.trade_id for e in got if isinstance(e, Trade)]
    assert ids == list(range(1, 2003))  # every aggTrade exactly once, in order
    assert stream.backfilled > 0 and stream.gaps_lost == 0
    downs = [e for e in got if isinstance(e, StreamStatus) and not e.connected]
    assert len(downs) >= 5  # each cut was reported (the stale-data guard stops entries meanwhile)
    await stream.stop()


async def test_a_gap_that_cannot_be_backfilled_is_reported(fake, rest):
    got: list[object] = []

    async def on_event(e: object) -> None:
        got.append(e)

    stream = MarketStream(rest.endpoints, ["btcusdt@aggTrade"], on_event)  # no REST backfill
    stream.start()
    await until(lambda: fake.hub.connections == 1)
    await fake.feed(trade(1))
    fake.hub.faults.drop_after_messages = 1
    await fake.feed(trade(2))
    await fake.feed(trade(3))  # sent while nobody listens
    await until(lambda: fake.hub.connections == 1)
    await fake.feed(trade(4))
    await until(lambda: any(isinstance(e, Trade) and e.trade_id == 4 for e in got))
    gaps = [e for e in got if isinstance(e, StreamStatus) and e.detail.startswith("gap")]
    assert gaps and "1 aggTrades (3..3)" in gaps[0].detail
    await stream.stop()


async def test_rollover_overlaps_connections_without_loss_or_duplicates(fake, rest):
    got: list[Trade] = []

    async def on_event(e: object) -> None:
        if isinstance(e, Trade):
            got.append(e)

    stream = MarketStream(rest.endpoints, ["btcusdt@aggTrade"], on_event, rollover_s=0.15)
    stream.start()
    await until(lambda: fake.hub.connections == 1)
    for i in range(1, 301):
        await fake.feed(trade(i))
        await asyncio.sleep(0.002)
    await until(lambda: bool(got) and got[-1].trade_id == 300, timeout=5)
    assert [t.trade_id for t in got] == list(range(1, 301))
    assert stream.connections[0].rollovers >= 2 and stream.duplicates >= 0
    await stream.stop()


async def test_a_stalled_stream_is_noticed_and_reconnected(fake, rest):
    got: list[object] = []

    async def on_event(e: object) -> None:
        got.append(e)

    stream = MarketStream(rest.endpoints, ["btcusdt@aggTrade"], on_event, idle_timeout_s=0.2)
    stream.start()
    await until(lambda: fake.hub.connections == 1)
    await until(lambda: any(isinstance(e, StreamStatus) and not e.connected and "stalled" in e.detail for e in got))
    await until(lambda: stream.connections[0].connects >= 2)
    await stream.stop()


async def test_local_order_book_resyncs_on_sequence_gaps(fake, rest):
    book = LocalOrderBook("BTCUSDT", lambda s: rest.depth(s))

    async def on_event(e: object) -> None:
        if isinstance(e, DepthUpdate):
            await book.on_diff(e)

    stream = MarketStream(rest.endpoints, ["btcusdt@depth@100ms"], on_event)
    stream.start()
    await until(lambda: fake.hub.connections == 1)
    fake.hub.faults.gap_every = 7
    for i in range(40):
        px = D(60000 + i)
        await fake.feed(BookTop("BTCUSDT", px, D(1 + i), px + D("0.1"), D(2 + i), 0, i))
        await asyncio.sleep(0.005)  # a market's pace: the client keeps up between updates
    final = D(60039)
    await until(lambda: book.synced and book.best() == (final, final + D("0.1")))
    assert book.resyncs >= 1
    assert book.bids == {final: D(40)} and book.asks == {final + D("0.1"): D(41)}  # stale levels removed
    await stream.stop()


async def test_user_stream_delivers_order_events_and_survives_listen_key_expiry(fake, rest):
    got: list[object] = []

    async def on_event(e: object) -> None:
        got.append(e)

    user = UserStream(rest.endpoints, rest, on_event)
    user.start()
    await until(lambda: fake.hub.connections == 1)
    await fake.feed(BookTop("BTCUSDT", D(60000), D(1), D("60000.1"), D(1), 0, 1))
    await rest.new_order(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": D("0.01"), "newClientOrderId": "u1"}
    )
    await until(lambda: any(isinstance(e, OrderUpdate) and e.status.value == "FILLED" for e in got))
    assert any(isinstance(e, AccountUpdate) for e in got)
    first_key = user.listen_key
    await fake.expire_listen_key()
    await until(lambda: any(isinstance(e, StreamStatus) and e.detail == "reconnected" for e in got))
    assert user.listen_key != first_key and user.renewals == 1
    await rest.new_order(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": D("0.01"),
            "newClientOrderId": "u2",
            "reduceOnly": True,
        }
    )
    await until(lambda: any(isinstance(e, OrderUpdate) and e.client_order_id == "u2" for e in got))
    await user.stop()


async def test_venue_executes_commands_routes_stops_to_the_algo_service_and_reconciles(fake, rest):
    venue = BinanceVenue(rest)
    await fake.feed(BookTop("BTCUSDT", D(60000), D(1), D("60000.1"), D(1), 0, 1))
    await venue.ensure_account_setup(["BTCUSDT"], MarginType.ISOLATED, hedge=False, leverage=5)
    assert fake.sim.margin_type("BTCUSDT") is MarginType.ISOLATED and fake.sim.leverage("BTCUSDT") == 5
    assert (await venue.execute(PlaceOrder("e1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))).ok
    stop = PlaceOrder(
        "s1",
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        None,
        trigger_price=D(57000),
        close_position=True,
        working_type=WorkingType.MARK_PRICE,
    )
    assert (await venue.execute(stop)).ok
    limit = PlaceOrder(
        "l1", "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.01"), price=D(55000), time_in_force=TimeInForce.GTC
    )
    assert (await venue.execute(limit)).ok
    snap = await venue.reconcile(["BTCUSDT"])
    assert [o.client_order_id for o in snap.orders] == ["l1"]
    assert [a.client_algo_id for a in snap.algo_orders] == ["s1"]
    assert snap.account.positions[0].amount == D("0.01")
    assert (await venue.execute(CancelOrder("BTCUSDT", "s1"))).ok  # an algo order, cancelled by client id
    refused = await venue.execute(
        PlaceOrder("x", "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.001"), price=D(59000), time_in_force=TimeInForce.GTC)
    )
    assert not refused.ok and refused.code == -4164
    with pytest.raises(AccountSetupError, match="margin type"):  # a position is open: Binance refuses
        await venue.ensure_account_setup(["BTCUSDT"], MarginType.CROSSED, hedge=False, leverage=5)
    assert (await venue.execute(SetMarginType("BTCUSDT", MarginType.ISOLATED))).ok  # -4046 "no need" is fine


async def test_dead_mans_switch_cancels_orders_when_the_heartbeat_stops(fake, rest):
    venue = BinanceVenue(rest)
    await fake.feed(BookTop("BTCUSDT", D(60000), D(1), D("60000.1"), D(1), 0, 1))
    await venue.execute(
        PlaceOrder("l1", "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.01"), price=D(55000), time_in_force=TimeInForce.GTC)
    )
    venue.start_heartbeat(["BTCUSDT"], countdown_ms=300, every_s=0.1)
    await asyncio.sleep(0.5)
    assert venue.heartbeats >= 3 and len(fake.sim.open_orders("BTCUSDT")) == 1  # kept alive
    venue.stop_heartbeat_task()  # the bot "dies": no more heartbeats
    await until(lambda: not fake.sim.open_orders("BTCUSDT"), timeout=2)
