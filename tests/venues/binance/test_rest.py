"""The signed REST client against the fake exchange on loopback, through every fault it injects."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import pytest

from rulebot.binance.codes import (
    AuthError,
    BadSymbol,
    BinanceError,
    MinNotional,
    RateLimited,
    TimestampOutsideRecvWindow,
    UnknownOrder,
    UseAlgoService,
)
from rulebot.binance.payloads.account_state import parse_position_risk
from rulebot.binance.payloads.orders import parse_batch_orders, parse_order
from rulebot.core.enums import Market
from rulebot.core.events import BookTop, Trade
from rulebot.testing.bots import until
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.limiter import RateLimiter
from rulebot.venues.binance.rest import BinanceRest
from rulebot.venues.binance.signing import sign
from rulebot.venues.binance.transport import OrderFateUnknown, Placement, TransportError, Withdrawn

D = Decimal


def test_signature_matches_binance_test_vector():
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    total = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    )
    assert sign(secret, total) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


@pytest.fixture
async def fake():
    async with FakeBinance(Market.USDM) as f:
        await f.feed(BookTop("BTCUSDT", D("60000"), D(1), D("60000.1"), D(1), 0, 1))
        await f.feed(Trade("BTCUSDT", D("60000"), D("0.1"), 0, True, 1))
        yield f


def client(fake: FakeBinance, secret: str | None = None, **kw: object) -> BinanceRest:
    endpoints = Endpoints.custom(fake.market, fake.rest_url, fake.ws_url)
    return BinanceRest(endpoints, fake.api_key, secret or fake.api_secret, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def rest(fake):
    c = client(fake)
    yield c
    await c.close()


def market_buy(cid: str, qty: str = "0.01") -> dict[str, object]:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": D(qty),
        "newClientOrderId": cid,
        "newOrderRespType": "RESULT",
    }


async def test_orders_positions_and_typed_errors(fake, rest):
    order = parse_order(await rest.new_order(market_buy("a1")))
    assert order.status.value == "FILLED" and order.filled_qty == D("0.01")
    ack = parse_order(await rest.new_order(market_buy("a2") | {"newOrderRespType": "ACK"}))
    assert ack.status.value == "NEW" and ack.filled_qty == 0  # as Binance acknowledges it
    (pos,) = [p for p in parse_position_risk(await rest.position_risk("BTCUSDT")) if p.amount]
    assert pos.amount == D("0.02")
    stop = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "stopPrice": D(59000),
        "closePosition": True,
        "newClientOrderId": "s1",
    }
    with pytest.raises(UseAlgoService):  # USDⓈ-M conditional orders live in the algo service now
        await rest.new_order(stop)
    limit = {"type": "LIMIT", "price": D(59000), "timeInForce": "GTC"}
    with pytest.raises(MinNotional):
        await rest.new_order(market_buy("tiny", "0.001") | limit)
    with pytest.raises(BadSymbol):
        await rest.new_order(market_buy("x") | {"symbol": "NOPEUSDT"})
    with pytest.raises(UnknownOrder):
        await rest.query_order("BTCUSDT", "never-sent")
    assert fake.placed_ids == ["a1", "a2"]


async def test_the_clock_offset_is_measured_before_the_first_signed_request(fake):
    fake.rest_faults.clock_skew_ms = 30_000  # the server runs 30 s ahead of this machine
    c = client(fake)
    assert await c.balance()  # no -1021: the offset was measured first
    assert c.synced and 29_000 < c.offset_ms < 31_000
    await c.close()


async def test_clock_drift_is_remeasured_on_1021_and_the_request_retried_once(fake, rest):
    await rest.balance()
    fake.rest_faults.clock_skew_ms = 8_000  # the server's clock jumps ahead: our timestamps look old
    before = rest.offset_ms
    assert await rest.balance()
    assert rest.offset_ms - before >= 7_000
    fake.rest_faults.timestamp_1021 = 5  # keeps failing: one retry, then the error
    with pytest.raises(TimestampOutsideRecvWindow):
        await rest.balance()
    assert fake.rest_faults.timestamp_1021 == 3


async def test_429_and_418_are_honoured_with_retry_after(fake, rest):
    await rest.balance()
    fake.rest_faults.status_429, fake.rest_faults.retry_after_s = 2, 0
    assert await rest.balance()
    assert rest.retries == 2
    fake.rest_faults.status_418, fake.rest_faults.retry_after_s = 1, 120  # banned for 2 minutes
    with pytest.raises(RateLimited):  # given up loudly rather than hanging the bot
        await rest.balance()
    assert rest.limiter.banned_for > 100  # and nothing else goes out meanwhile


async def test_retry_after_holds_the_next_request(fake, rest):
    await rest.balance()
    fake.rest_faults.status_429, fake.rest_faults.retry_after_s = 1, 1
    started = time.monotonic()
    assert await rest.balance()
    assert time.monotonic() - started >= 0.95  # waited out Retry-After before the retry


async def test_an_order_waiting_out_a_ban_can_be_withdrawn_and_is_never_sent(fake, rest):
    await rest.balance()
    fake.rest_faults.status_429, fake.rest_faults.retry_after_s = 1, 1
    placement = Placement()
    posts: list[str] = []
    fake.on_request = lambda method, path, _t: posts.append(path) if method == "POST" else None
    sending = asyncio.create_task(rest.new_order(market_buy("w-1"), placement))
    await until(lambda: rest.limiter.banned_for > 0)  # its POST was answered 429: not executed
    assert placement.withdraw()  # it waits out Retry-After, in this process
    with pytest.raises(Withdrawn):
        await sending
    assert posts == ["/fapi/v1/order"] and fake.placed_ids == []  # the 429'd send, and none after the ban


async def test_an_order_on_the_wire_cannot_be_withdrawn(fake, rest):
    await rest.balance()
    fake.rest_faults.slow_requests, fake.rest_faults.slow_ms = 1, 300
    placement = Placement()
    sending = asyncio.create_task(rest.new_order(market_buy("w-2"), placement))
    await until(lambda: placement.on_wire)
    assert not placement.withdraw()  # only Binance can cancel it now
    assert parse_order(await sending).status.value == "FILLED"
    assert fake.placed_ids == ["w-2"] and not placement.withdrawn


async def test_an_order_whose_answer_was_lost_stays_on_the_wire(fake, rest):
    fake.rest_faults.unknown_after_execute = 1  # executed, then 503 "unknown": its fate is not known
    placement = Placement()
    assert parse_order(await rest.new_order(market_buy("w-3"), placement)).status.value == "FILLED"
    assert placement.on_wire and not placement.withdraw()


async def test_5xx_not_executed_is_retried(fake, rest):
    fake.rest_faults.status_503 = 2
    order = parse_order(await rest.new_order(market_buy("r1")))
    assert order.status.value == "FILLED" and fake.placed_ids.count("r1") == 1


@pytest.mark.parametrize("fault", ["drop_after_execute", "unknown_after_execute"])
async def test_an_order_whose_answer_is_lost_is_found_by_client_id_not_sent_twice(fake, rest, fault):
    setattr(fake.rest_faults, fault, 1)
    order = parse_order(await rest.new_order(market_buy("lost-1")))
    assert order.client_order_id == "lost-1" and order.status.value == "FILLED"
    assert fake.placed_ids.count("lost-1") == 1  # executed once
    assert rest.lookups == 1 and rest.resent == 0
    (pos,) = [p for p in parse_position_risk(await rest.position_risk("BTCUSDT")) if p.amount]
    assert pos.amount == D("0.01")


async def test_a_slow_order_that_executes_after_the_timeout_is_found_not_sent_twice(fake):
    c = client(fake, timeout_s=0.2, recv_window_ms=500)
    await c.sync_time()
    fake.rest_faults.slow_requests, fake.rest_faults.slow_ms = 1, 400  # arrives late, in its window
    order = parse_order(await c.new_order(market_buy("slow-1")))
    assert order.status.value == "FILLED"
    assert fake.placed_ids == ["slow-1"] and c.lookups == 1 and c.resent == 0
    await c.close()


async def test_an_order_that_arrives_after_its_recv_window_is_refused_and_sent_again_once(fake):
    c = client(fake, timeout_s=0.2, recv_window_ms=300)
    await c.sync_time()
    fake.rest_faults.slow_requests, fake.rest_faults.slow_ms = 1, 600  # arrives after recvWindow
    order = parse_order(await c.new_order(market_buy("late-1")))
    assert order.status.value == "FILLED"
    assert fake.placed_ids == ["late-1"]  # the late copy was refused (-1021), the resend placed
    assert c.lookups == 1 and c.resent == 1


async def test_a_lost_answer_whose_lookup_fails_is_reported_unknown_not_resent(fake, rest):
    await rest.balance()
    fake.rest_faults.drop_after_execute, fake.rest_faults.retry_after_s = 1, 120

    def ban_the_lookup(method: str, path: str, _t: float) -> None:
        if method == "GET" and path.endswith("/v1/order"):
            fake.rest_faults.status_418 = 1  # the lookup is refused: an IP ban

    fake.on_request = ban_the_lookup
    with pytest.raises(OrderFateUnknown, match="may exist on Binance"):
        await rest.new_order(market_buy("u-1"))
    assert fake.placed_ids == ["u-1"] and rest.resent == 0


async def test_a_lost_batch_is_settled_order_by_order(fake, rest):
    orders = [market_buy(f"b{i}") for i in range(3)]
    orders[2] = orders[2] | {"symbol": "NOPEUSDT"}  # refused inside the batch, the others go
    fake.rest_faults.drop_after_execute = 1
    got = parse_batch_orders(await rest.batch_orders(orders))
    assert [getattr(g, "client_order_id", None) for g in got[:2]] == ["b0", "b1"]
    assert isinstance(got[2], BinanceError) and got[2].code == -1121
    assert fake.placed_ids == ["b0", "b1"] and rest.lookups == 1


async def test_a_burst_of_orders_is_paced_below_the_exchange_limit_and_never_429(fake):
    # A small account order limit so that pacing shows within a second.
    fake.rate_limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1, "limit": 5},
    ]
    c = client(fake)
    await c.exchange_info()  # the client's budget: 80 % of what the exchange advertises
    assert c.limiter.budgets()["x-mbx-order-count-1s"] == 4
    started = time.monotonic()
    for i in range(6):
        await c.new_order(market_buy(f"p{i}"))
    assert time.monotonic() - started >= 0.9 and c.limiter.waited > 0  # the fifth waited
    assert fake.meter.refused == 0 and c.retries == 0  # the exchange never had to say 429
    assert fake.placed_ids == [f"p{i}" for i in range(6)]
    await c.close()

    # Without the exchange's limits the same burst breaks them: the fake does enforce them.
    # All at once, so that a loaded machine cannot spread them over two of the exchange's seconds.
    blind = client(fake, limiter=RateLimiter(max_wait_s=0.5))
    burst = [blind.new_order(market_buy(f"q{i}")) for i in range(10)]
    results = await asyncio.gather(*burst, return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert refused and all(isinstance(r, RateLimited) and r.code == -1015 for r in refused), results
    assert fake.meter.refused == len(refused)
    await blind.close()


async def test_exchange_info_configures_the_limiter(fake, rest):
    await rest.exchange_info()
    assert rest.limiter.budgets() == {
        "x-mbx-used-weight-1m": 1920,
        "x-mbx-order-count-1m": 960,
        "x-mbx-order-count-10s": 240,
    }


async def test_usage_headers_feed_the_limiter(fake, rest):
    other = client(fake)  # another process on the same IP spends weight
    for _ in range(3):
        await other.account()
    await other.close()
    await rest.ping()
    assert rest.limiter.used()["x-mbx-used-weight-1m"] >= 3 * 5 + 1


async def test_nothing_secret_in_errors_or_logs(fake, caplog):
    caplog.set_level(logging.DEBUG)
    bad = client(fake, secret="not-the-secret-at-all")
    with pytest.raises(AuthError) as info:
        await bad.balance()  # a failing signed request
    assert info.value.code == -1022
    await bad.close()
    c = client(fake)
    await c.new_order(market_buy("log-1"))
    fake.rest_faults.status_503 = 1
    await c.balance()
    fake.rest_faults.drop_after_execute = 1  # a lost answer: logged, looked up
    await c.new_order(market_buy("log-2"))
    await c.close()
    texts = [caplog.text, str(info.value), repr(info.value), repr(c), repr(bad)]
    for text in texts:
        for secret in (
            fake.api_key,
            fake.api_secret,
            "not-the-secret-at-all",
            "signature=",
            "timestamp=",
        ):
            assert secret not in text, (secret, text)
    assert "looking it up by client id" in caplog.text  # the log does say what happened


async def test_a_server_that_cannot_be_reached_is_named_and_nothing_was_sent():
    # "ClientConnectorError, the answer was lost" read as if an answer had existed: a refused
    # connection sent nothing, and the message says where it tried and why it failed.
    endpoints = Endpoints.custom(Market.USDM, "http://127.0.0.1:9", "ws://127.0.0.1:9")
    c = BinanceRest(endpoints, "k", "s")
    with pytest.raises(TransportError) as info:
        await c.server_time()
    await c.close()
    text = str(info.value)
    assert "cannot connect to 127.0.0.1:9" in text and "not sent" in text, text
    assert "answer was lost" not in text


def test_a_proxy_login_in_the_base_is_hidden_wherever_the_base_is_shown():
    e = Endpoints.custom(Market.USDM, "http://user:pa55@proxy.local:8080/", "ws://user:pa55@proxy.local:8080")
    assert e.shown == "http://***@proxy.local:8080" and e.rest == "http://user:pa55@proxy.local:8080"
    assert Endpoints.custom(Market.USDM, "http://127.0.0.1:1", "ws://x").shown == "http://127.0.0.1:1"
    c = BinanceRest(e, "k", "s")
    assert "pa55" not in repr(c)


async def test_a_backfill_stops_at_the_newest_trade_instead_of_chasing_a_busy_market(fake, rest):
    tape = fake.history
    printed = iter(range(2, 100_000))

    def prints(n: int) -> None:
        for _ in range(n):
            tape.on_market(Trade("BTCUSDT", D("60000"), D("0.1"), 0, True, next(printed)))

    prints(1499)  # ids 1..1500 on the tape
    # A busy symbol prints 20 more trades as each request arrives.
    fake.on_request = lambda method, path, t: prints(20) if path.endswith("/aggTrades") else None
    got = await rest.backfill_trades("BTCUSDT", 1, 20_000)
    # Two pages (1..1000, then 1001..1540, short): the newest Binance had; the socket brings what
    # followed. Chasing the tape 20 trades a page spent the weight budget in 96 pages (RateBudgetExceeded).
    assert [t.trade_id for t in got] == list(range(1, 1541))
    assert fake.requests.count(("GET", "/fapi/v1/aggTrades")) == 2
    assert [t.trade_id for t in await rest.backfill_trades("BTCUSDT", 1, 1000)] == list(range(1, 1001))
