"""The user data stream over the fake exchange: events, listen key life, and what a cut asks for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from rulebot.binance.payloads.user import MarginCalls, MultiAssetsModeChanged, TradeLite
from rulebot.core.account_events import (
    AccountUpdate,
    AlgoUpdate,
    LeverageChanged,
    MarginCall,
    OrderUpdate,
    StreamStatus,
)
from rulebot.core.enums import Market, OrderStatus, PositionSide, Side
from rulebot.core.events import BookTop
from rulebot.testing.fake_binance import FakeBinance
from rulebot.testing.shared import PAYLOADS
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest
from rulebot.venues.binance.user_stream import UserStream
from rulebot.venues.binance.venue import BinanceVenue
from rulebot.venues.binance.ws import Backoff

D = Decimal
FAST = {"backoff": Backoff(0.005, 0.02)}


async def until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Sink:
    def __init__(self) -> None:
        self.events: list[object] = []

    async def __call__(self, e: object) -> None:
        self.events.append(e)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def details(self) -> list[str]:
        return [s.detail for s in self.of(StreamStatus)]

    def reconnected(self) -> int:
        return self.details().count("reconnected")


async def open_stream(market: Market = Market.USDM, **options):
    fake = await FakeBinance(market, listen_key_validity_ms=options.pop("validity_ms", 3_600_000)).start()
    rest = BinanceRest(Endpoints.custom(market, fake.rest_url, fake.ws_url), fake.api_key, fake.api_secret)
    await rest.sync_time()
    sink = Sink()
    user = UserStream(rest.endpoints, rest, sink, **{**FAST, **options})
    user.start()
    await until(lambda: fake.hub.connections_on("private" if market is Market.USDM else "") == 1)
    return fake, rest, user, sink


@pytest.fixture
async def stream(request):
    options = getattr(request, "param", {})
    fake, rest, user, sink = await open_stream(**options)
    yield fake, rest, user, sink
    await user.stop()
    await rest.close()
    await fake.stop()


async def market_order(fake: FakeBinance, rest: BinanceRest, cid: str, side: str = "BUY", **extra) -> None:
    await fake.feed(BookTop("BTCUSDT", D(60000), D(5), D("60000.1"), D(5), 0, 1))
    params = {
        "symbol": "BTCUSDT",
        "side": side,
        "type": "MARKET",
        "quantity": D("0.01"),
        "newClientOrderId": cid,
    }
    await rest.new_order({**params, **extra})


def filled(sink: Sink, cid: str) -> bool:
    return any(u.client_order_id == cid and u.status is OrderStatus.FILLED for u in sink.of(OrderUpdate))


@pytest.mark.parametrize("stream", [{"validity_ms": 200, "keepalive_s": 0.05}], indirect=True)
async def test_order_events_arrive_and_keepalives_keep_the_key(stream):
    fake, rest, user, sink = stream
    await market_order(fake, rest, "k1")
    await until(lambda: filled(sink, "k1") and bool(sink.of(AccountUpdate)))
    position = sink.of(AccountUpdate)[-1].positions[0]
    assert (position.symbol, position.amount) == ("BTCUSDT", D("0.01"))
    await asyncio.sleep(0.45)  # twice the key's life: kept alive, never lapsed
    assert user.renewals == 0 and user.keepalives >= 5 and sink.details() == ["connected"]
    assert fake.requests.count(("PUT", "/fapi/v1/listenKey")) == user.keepalives


@pytest.mark.parametrize("stream", [{"validity_ms": 150}], indirect=True)
async def test_a_lapsed_key_is_replaced_and_the_reconnect_asks_for_reconciliation(stream):
    _fake, _rest, user, sink = stream
    first = user.listen_key
    await until(lambda: sink.reconnected() == 1)  # no keepalive in time: listenKeyExpired
    assert user.listen_key != first and user.renewals >= 1
    [down] = [s for s in sink.of(StreamStatus) if not s.connected][:1]
    assert down.stream == "user" and down.detail.startswith("the listen key expired; reconnecting with a new")


async def test_expiry_is_acted_on_even_when_the_socket_stays_open(stream):
    fake, rest, user, sink = stream
    first = user.listen_key
    key = fake.listen_key.close()  # the key lapses on the exchange ...
    await fake.hub.expire_listen_key(key, close=False)  # ... which says so and keeps the socket
    await until(lambda: sink.reconnected() == 1)
    assert user.listen_key not in (None, first)
    await market_order(fake, rest, "after")
    await until(lambda: filled(sink, "after"))


@pytest.mark.parametrize("stream", [{"keepalive_s": 0.05}], indirect=True)
async def test_a_keepalive_refused_with_1125_gets_a_new_key(stream):
    fake, rest, user, sink = stream
    first = user.listen_key
    await fake.end_listen_key()  # the exchange forgot it; the socket stays open and silent
    await until(lambda: sink.reconnected() == 1)
    assert user.listen_key != first and "-1125" in next(s for s in sink.of(StreamStatus) if not s.connected).detail
    await market_order(fake, rest, "again")
    await until(lambda: filled(sink, "again"))


@pytest.mark.parametrize("stream", [{"backoff": Backoff(0.4, 0.4)}], indirect=True)
async def test_events_missed_while_cut_are_not_replayed_and_reconciliation_finds_them(stream):
    fake, rest, _user, sink = stream
    await fake.hub.drop_all()
    await market_order(fake, rest, "during")  # fills while no socket is open
    await until(lambda: sink.reconnected() == 1)
    await asyncio.sleep(0.05)
    assert not any(u.client_order_id == "during" for u in sink.of(OrderUpdate))  # Binance never resends
    snap = await BinanceVenue(rest).reconcile(["BTCUSDT"])  # what the runner does on "reconnected"
    assert [(p.symbol, p.amount) for p in snap.account.positions if p.amount] == [("BTCUSDT", D("0.01"))]


async def test_every_user_event_payload_becomes_engine_events(stream):
    fake, _rest, user, sink = stream
    key = user.listen_key
    for name in (
        "ws_ORDER_TRADE_UPDATE",
        "ws_ACCOUNT_UPDATE",
        "ws_ALGO_UPDATE",
        "ws_MARGIN_CALL",
        "ws_ACCOUNT_CONFIG_UPDATE",
        "ws_ACCOUNT_CONFIG_UPDATE_multiassets",
        "ws_TRADE_LITE",
    ):
        await fake.hub.publish_user(key, json.loads((PAYLOADS / f"{name}.json").read_text()))
    await until(lambda: bool(sink.of(MultiAssetsModeChanged)))
    kinds = [type(e) for e in sink.events if not isinstance(e, StreamStatus)]
    assert kinds == [
        OrderUpdate,
        AccountUpdate,
        AlgoUpdate,
        MarginCall,
        LeverageChanged,
        MultiAssetsModeChanged,
    ]
    assert user.malformed == 0  # TRADE_LITE parsed, and left out: the engine books ORDER_TRADE_UPDATE


@pytest.mark.parametrize("stream", [{"trade_lite": True}], indirect=True)
async def test_trade_lite_on_request_and_a_margin_call_per_position(stream):
    fake, _rest, user, sink = stream
    lite = TradeLite("BTCUSDT", "c1", 5, 9, Side.BUY, D("0.01"), D(60000), D("0.01"), D(0), False, 10)
    calls = MarginCalls(
        (
            MarginCall("BTCUSDT", PositionSide.LONG, D(1), D(59000), D(3), 11),
            MarginCall("ETHUSDT", PositionSide.SHORT, D(-2), D(3000), D(1), 11),
        ),
        D(100),
        11,
    )
    await fake.hub.publish_user(user.listen_key, lite)
    await fake.hub.publish_user(user.listen_key, calls)
    await until(lambda: len(sink.of(MarginCall)) == 2)
    assert sink.of(TradeLite) == [lite] and tuple(sink.of(MarginCall)) == calls.calls


async def test_a_frame_that_does_not_parse_forces_a_reconnect_and_so_a_reconciliation(stream):
    fake, _rest, user, sink = stream
    await fake.hub.publish_user(user.listen_key, {"e": "ORDER_TRADE_UPDATE", "T": 1})
    await until(lambda: sink.reconnected() == 1)
    [down] = [s for s in sink.of(StreamStatus) if not s.connected]
    assert "did not parse" in down.detail and user.malformed == 1


async def test_stop_deletes_the_listen_key():
    fake, rest, user, _sink = await open_stream()
    assert fake.listen_key.key == user.listen_key
    await user.stop()
    assert fake.listen_key.key is None and ("DELETE", "/fapi/v1/listenKey") in fake.requests
    await rest.close()
    await fake.stop()


async def test_coin_m_user_stream_on_dstream():
    fake, rest, user, sink = await open_stream(Market.COINM)
    try:
        assert fake.hub.connections_on("") == 1
        await fake.feed(BookTop("BTCUSD_PERP", D(60000), D(50), D("60000.1"), D(50), 0, 1))
        await rest.new_order(
            {
                "symbol": "BTCUSD_PERP",
                "side": "SELL",
                "type": "MARKET",
                "quantity": 1,
                "newClientOrderId": "cm",
            }
        )
        await until(lambda: any(u.client_order_id == "cm" for u in sink.of(OrderUpdate)))
        assert any(b.asset == "BTC" for a in sink.of(AccountUpdate) for b in a.balances)
    finally:
        await user.stop()
        await rest.close()
        await fake.stop()
