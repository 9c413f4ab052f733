"""The signed REST client against the fake exchange on loopback, through every fault."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest

from rulebot.core.enums import Market
from rulebot.core.events import BookTop, Trade
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.errors import BinanceError, MinNotional, RateLimited, UseAlgoService
from rulebot.venues.binance.limiter import RateLimiter
from rulebot.venues.binance.parse_rest import RateLimit, parse_order, parse_position_risk
from rulebot.venues.binance.rest import BinanceRest
from rulebot.venues.binance.signing import sign

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


@pytest.fixture
async def rest(fake):
    client = BinanceRest(Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url), fake.api_key, fake.api_secret)
    await client.sync_time()
    yield client
    await client.close()


def market_buy(cid: str, qty: str = "0.01") -> dict[str, object]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": D(qty), "newClientOrderId": cid,
            "newOrderRespType": "RESULT"}


async def test_orders_positions_and_typed_errors(fake, rest):
    order = parse_order(await rest.new_order(market_buy("a1")))
    assert order.status.value == "FILLED" and order.filled_qty == D("0.01")
    (pos,) = parse_position_risk(await rest.position_risk("BTCUSDT"))
    assert pos.amount == D("0.01")
    with pytest.raises(UseAlgoService):  # conditional orders on USDⓈ-M live in the algo service now
        await rest.new_order(
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "stopPrice": D(59000),
                "closePosition": True,
                "newClientOrderId": "s1",
            }
        )
    with pytest.raises(MinNotional):
        await rest.new_order(market_buy("tiny", "0.001") | {"type": "LIMIT", "price": D(59000), "timeInForce": "GTC"})


async def test_a_wrong_secret_is_refused_and_never_shown(fake):
    bad = BinanceRest(Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url), fake.api_key, "not-the-secret")
    with pytest.raises(BinanceError) as info:
        await bad.balance()
    assert info.value.code == -1022
    assert "not-the-secret" not in str(info.value) and "signature" not in str(info.value).lower().replace(
        "signature for this request is not valid", ""
    )
    assert "not-the-secret" not in repr(bad) and fake.api_key not in repr(bad)
    await bad.close()


async def test_clock_drift_is_remeasured_on_1021_and_the_request_retried_once(fake, rest):
    fake.rest_faults.clock_skew_ms = 8_000  # the server's clock jumps ahead: our timestamps look old
    before = rest.offset_ms
    balances = await rest.balance()
    assert balances and rest.offset_ms - before >= 7_000
    fake.rest_faults.timestamp_1021 = 5  # keeps failing: one retry, then the error
    with pytest.raises(BinanceError) as info:
        await rest.balance()
    assert info.value.code == -1021


async def test_429_and_418_are_honoured_with_retry_after(fake, rest):
    fake.rest_faults.status_429, fake.rest_faults.retry_after_s = 2, 0
    assert await rest.balance()
    assert rest.retries >= 2
    fake.rest_faults.status_418, fake.rest_faults.retry_after_s = 1, 120  # banned for two minutes: give up loudly
    with pytest.raises(RateLimited):
        await rest.balance()
    assert rest.limiter.banned_for > 100  # and nothing else goes out meanwhile


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
    assert rest.lookups == 1
    (pos,) = parse_position_risk(await rest.position_risk("BTCUSDT"))
    assert pos.amount == D("0.01")


async def test_the_limiter_paces_a_burst_below_the_exchange_limit(fake):
    # A tiny exchange limit (4 orders a second), so that pacing shows in a fraction of a second.
    limiter = RateLimiter(
        [RateLimit("ORDERS", "SECOND", 1, 4), RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 2400)], share=0.5
    )
    client = BinanceRest(
        Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url), fake.api_key, fake.api_secret, limiter=limiter
    )
    assert limiter.budgets()["x-mbx-order-count-1s"] == 2
    started = time.monotonic()
    sent: list[float] = []
    for i in range(4):
        await client.new_order(market_buy(f"b{i}"))
        sent.append(time.monotonic())
    assert time.monotonic() - started >= 0.9 and limiter.waited > 0.5  # the third order waited for the window
    for i, t in enumerate(sent):  # never more than the budget inside any one-second window
        assert sum(1 for u in sent[: i + 1] if u > t - 1.0) <= 2
    assert fake.rest_faults.status_429 == 0 and fake.placed_ids[-4:] == ["b0", "b1", "b2", "b3"]
    await client.close()


def test_the_budget_cannot_be_set_above_the_exchange_limits():
    with pytest.raises(ValueError):
        RateLimiter(share=1.0)


async def test_exchange_info_configures_the_limiter(fake, rest):
    await rest.exchange_info()
    assert rest.limiter.budgets()["x-mbx-used-weight-1m"] == int(2400 * 0.8)


async def test_nothing_secret_in_logs(fake, caplog):
    caplog.set_level(logging.DEBUG)
    client = BinanceRest(Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url), fake.api_key, fake.api_secret)
    await client.sync_time()
    await client.new_order(market_buy("log-1"))
    fake.rest_faults.status_503 = 1
    await client.balance()
    await client.close()
    text = caplog.text
    assert fake.api_key not in text and fake.api_secret not in text and "signature=" not in text
