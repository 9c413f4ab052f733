"""The fake exchange's REST side: answers shaped like Binance's real payloads (and accepted by the
project's parsers), requests checked like Binance checks them, limits enforced, the listen key,
the history endpoints."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from rulebot.binance.payloads.account_state import (
    parse_balances,
    parse_commission_rate,
    parse_leverage,
    parse_listen_key,
    parse_position_risk,
    parse_user_trades,
)
from rulebot.binance.payloads.market_data import (
    parse_depth,
    parse_funding_rates,
    parse_klines,
    parse_premium_index,
    parse_premium_indexes,
)
from rulebot.binance.payloads.orders import parse_algo_order, parse_batch_orders, parse_order, parse_orders
from rulebot.binance.payloads.rest import parse_exchange_info, parse_leverage_brackets, parse_rate_limits
from rulebot.core.enums import Market
from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice, Trade
from rulebot.testing.fake_binance import FakeBinance
from rulebot.testing.shared import load_payload
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest

D = Decimal


def real(name: str) -> Any:
    return load_payload(name)


def keys_of(payload: Any) -> set[str]:
    item = payload[0] if isinstance(payload, list) else payload
    return set(item)


def assert_shaped_like(fake_answer: Any, real_file: str, *, ignore: set[str] = frozenset()) -> None:
    """Every field of Binance's real payload is in the fake's answer (extra fields are fine)."""
    missing = keys_of(real(real_file)) - keys_of(fake_answer) - ignore
    assert not missing, f"{real_file}: the fake's answer lacks {sorted(missing)}"


async def started(market: Market = Market.USDM, **kw: Any) -> FakeBinance:
    fake = await FakeBinance(market, **kw).start()
    symbol = "BTCUSDT" if market is Market.USDM else "BTCUSD_PERP"
    await fake.feed(BookTop(symbol, D(60000), D(50), D("60000.1"), D(50), 0, 1))
    for i in range(1, 4):
        await fake.feed(Trade(symbol, D(60000) + i, D(1), 0, i % 2 == 0, i))
    await fake.feed(MarkPrice(symbol, D(60001), 0, D(60000), D("0.0002"), 0))
    return fake


def rest_of(fake: FakeBinance) -> BinanceRest:
    return BinanceRest(Endpoints.custom(fake.market, fake.rest_url, fake.ws_url), fake.api_key, fake.api_secret)


@pytest.fixture
async def usdm():
    fake = await started(Market.USDM)
    rest = rest_of(fake)
    yield fake, rest
    await rest.close()
    await fake.stop()


@pytest.fixture
async def coinm():
    fake = await started(Market.COINM, balances={"BTC": D(2)})
    rest = rest_of(fake)
    yield fake, rest
    await rest.close()
    await fake.stop()


def order(cid: str, **more: object) -> dict[str, object]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": D("0.01"), "newClientOrderId": cid} | more


# -- shapes: every answer parses, and has the real payload's fields ----------------------------


async def test_usdm_answers_parse_and_have_the_real_payloads_fields(usdm):
    fake, rest = usdm
    info = await rest.exchange_info()
    assert set(parse_exchange_info(info, Market.USDM)) == set(fake.instruments)
    assert parse_rate_limits(info) and keys_of(real("rest_fapi_v1_exchangeInfo.json")) <= set(info)
    assert keys_of(real("rest_fapi_v1_exchangeInfo.json")["symbols"]) <= keys_of(info["symbols"])

    brackets = await rest.leverage_brackets()
    assert "BTCUSDT" in parse_leverage_brackets(brackets, Market.USDM)
    assert_shaped_like(brackets, "rest_fapi_v1_leverageBracket.json")
    assert keys_of(real("rest_fapi_v1_leverageBracket.json")[0]["brackets"]) <= keys_of(brackets[0]["brackets"])

    new = await rest.new_order(order("n1", type="LIMIT", price=D(55000), timeInForce="GTC"))
    assert parse_order(new).client_order_id == "n1"
    assert_shaped_like(new, "rest_fapi_v1_order_new.json")
    opened = await rest.open_orders("BTCUSDT")
    assert [o.client_order_id for o in parse_orders(opened)] == ["n1"]
    assert_shaped_like(opened, "rest_fapi_v1_openOrders.json")
    cancelled = await rest.cancel_order("BTCUSDT", "n1")
    assert parse_order(cancelled).status.value == "CANCELED"
    assert_shaped_like(cancelled, "rest_fapi_v1_order_cancel.json")

    take_profit = order("tp1", side="SELL", type="TAKE_PROFIT", price=D(70000), timeInForce="GTC")
    take_profit["triggerPrice"] = D(70000)
    take_profit["clientAlgoId"] = take_profit.pop("newClientOrderId")
    algo = await rest.new_algo_order(take_profit)
    assert parse_algo_order(algo).client_algo_id == "tp1"
    assert_shaped_like(algo, "rest_fapi_v1_algoOrder_new.json")
    assert parse_algo_order(await rest.query_algo_order("BTCUSDT", "tp1")).status == "NEW"
    assert [parse_algo_order(a).client_algo_id for a in await rest.open_algo_orders("BTCUSDT")] == ["tp1"]

    await rest.new_order(order("m1"))
    risk = await rest.position_risk("BTCUSDT")
    assert [p.amount for p in parse_position_risk(risk)] == [D("0.01")]
    assert_shaped_like(risk, "rest_fapi_v2_positionRisk.json")
    balance = await rest.balance()
    assert parse_balances(balance)[0].asset == "USDT"
    assert_shaped_like(balance, "rest_fapi_v2_balance.json")
    trades = await rest.user_trades("BTCUSDT")
    assert [t.order_id for t in parse_user_trades(trades)] == [
        parse_order(await rest.query_order("BTCUSDT", "m1")).order_id
    ]
    assert_shaped_like(trades, "rest_fapi_v1_userTrades.json")

    premium = await rest.premium_index("BTCUSDT")
    assert parse_premium_index(premium).mark.mark_price == D(60001)
    assert_shaped_like(premium, "rest_fapi_v1_premiumIndex.json")
    assert len(parse_premium_indexes(await rest.premium_index())) == len(fake.instruments)
    depth = await rest.depth("BTCUSDT", 100)
    book = parse_depth(depth, "BTCUSDT")
    assert book.bids[0][0] == D(60000) and book.asks[0][0] == D("60000.1")
    assert_shaped_like(depth, "rest_fapi_v1_depth.json")
    klines = await rest.klines("BTCUSDT", "1m")
    assert parse_klines(klines, "BTCUSDT", "1m") and len(klines[0]) == len(real("rest_fapi_v1_klines.json")[0])
    rate = await rest.commission_rate("BTCUSDT")
    assert parse_commission_rate(rate).taker == fake.fee_rates.taker
    assert_shaped_like(rate, "rest_fapi_v1_commissionRate.json")
    lev = await rest.set_leverage("BTCUSDT", 10)
    assert parse_leverage(lev).leverage == 10
    assert_shaped_like(lev, "rest_fapi_v1_leverage.json")
    key = await rest.request("POST", "v1/listenKey", key=True)
    assert parse_listen_key(key) == fake.listen_key.key
    assert_shaped_like(key, "rest_fapi_v1_listenKey.json")
    batch = await rest.batch_orders([order("b1"), order("b2", quantity=D(-1))])
    got = parse_batch_orders(batch)
    assert got[0].client_order_id == "b1" and got[1].code == -4003  # type: ignore[union-attr]


async def test_coin_m_answers_use_dapi_shapes(coinm):
    _, rest = coinm
    info = await rest.exchange_info()
    assert "BTCUSD_PERP" in parse_exchange_info(info, Market.COINM)
    assert keys_of(real("rest_dapi_v1_exchangeInfo.json")["symbols"]) <= keys_of(info["symbols"])
    brackets = await rest.leverage_brackets("BTCUSD_PERP")  # /dapi/v2, per symbol
    assert "BTCUSD_PERP" in parse_leverage_brackets(brackets, Market.COINM)
    await rest.new_order(order("c1", symbol="BTCUSD_PERP", quantity=D(2), newOrderRespType="RESULT"))
    filled = parse_order(await rest.query_order("BTCUSD_PERP", "c1"))
    assert filled.cum_base is not None and filled.cum_quote is None  # coin, as /dapi prints it
    assert filled.cum_base == D(200) / filled.average_price
    risk = await rest.position_risk()
    (pos,) = [p for p in parse_position_risk(risk) if p.amount]
    assert pos.amount == 2 and pos.max_qty is not None and pos.max_notional is None
    assert_shaped_like(risk, "rest_dapi_v1_positionRisk.json")
    (btc,) = [b for b in parse_balances(await rest.balance()) if b.asset == "BTC"]
    assert btc.wallet_balance < 2 and btc.margin_available is None  # paid the fee, in coin
    (trade,) = parse_user_trades(await rest.user_trades("BTCUSD_PERP"))
    assert trade.base_qty == D(200) / trade.price and trade.quote_qty is None
    assert_shaped_like(await rest.commission_rate("BTCUSD_PERP"), "rest_dapi_v1_commissionRate.json")
    assert "totalWalletBalance" not in await rest.account()


async def test_error_answers_are_binances(usdm):
    fake, _ = usdm
    async with aiohttp.ClientSession() as http:
        status, body, _ = await call(http, fake, "GET", "/fapi/v1/premiumIndex", {"symbol": "NOPE"}, sign=False)
        assert status == 400 and body == real("rest_error_-1121.json")
        status, body, _ = await call(http, fake, "GET", "/fapi/v2/balance", {"timestamp": fake.now() - 60_000})
        assert body == real("rest_error_-1021.json")
        stop = order("s", type="STOP_MARKET", stopPrice="50000", quantity="0.01")
        status, body, _ = await call(http, fake, "POST", "/fapi/v1/order", stop)
        assert body == real("rest_error_-4120.json")


# -- requests are checked as Binance checks them -----------------------------------------------


async def call(
    http: aiohttp.ClientSession,
    fake: FakeBinance,
    method: str,
    path: str,
    params: Mapping[str, object],
    *,
    body: Mapping[str, object] | None = None,
    sign: bool = True,
    key: str | None = "",
    secret: str | None = None,
) -> tuple[int, Any, Mapping[str, str]]:
    """A hand-made request: query and body exactly as given, HMAC over query + body."""
    p = dict(params)
    if sign:
        p.setdefault("timestamp", fake.now())
    query = urlencode({k: str(v) for k, v in p.items()})
    form = urlencode({k: str(v) for k, v in (body or {}).items()})
    if sign:
        sig = hmac.new((secret or fake.api_secret).encode(), (query + form).encode(), hashlib.sha256).hexdigest()
        query += f"&signature={sig}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if key is not None:
        headers["X-MBX-APIKEY"] = key or fake.api_key
    url = f"{fake.rest_url}{path}?{query}"
    async with http.request(method, url, data=form or None, headers=headers) as r:
        return r.status, await r.json(), r.headers


async def test_signature_key_and_timestamp_are_checked(usdm):
    fake, _ = usdm
    async with aiohttp.ClientSession() as http:
        ok = await call(http, fake, "GET", "/fapi/v2/balance", {})
        assert ok[0] == 200 and ok[1][0]["asset"] == "USDT"
        assert (await call(http, fake, "GET", "/fapi/v2/balance", {}, key=None))[1]["code"] == -2014
        assert (await call(http, fake, "GET", "/fapi/v2/balance", {}, key="someone-else"))[1]["code"] == -2015
        assert (await call(http, fake, "GET", "/fapi/v2/balance", {}, secret="wrong"))[1]["code"] == -1022
        assert (await call(http, fake, "GET", "/fapi/v2/balance", {}, sign=False))[1]["code"] == -1022
        ahead = await call(http, fake, "GET", "/fapi/v2/balance", {"timestamp": fake.now() + 1500})
        assert ahead[1] == {
            "code": -1021,
            "msg": "Timestamp for this request was 1000ms ahead of the server's time.",
        }
        late = {"timestamp": fake.now() - 3000, "recvWindow": 2000}
        assert (await call(http, fake, "GET", "/fapi/v2/balance", late))[1]["code"] == -1021
        assert (await call(http, fake, "GET", "/fapi/v2/balance", late | {"recvWindow": 5000}))[0] == 200
        public = await call(http, fake, "GET", "/fapi/v1/time", {}, sign=False, key=None)
        assert public[0] == 200 and abs(public[1]["serverTime"] - fake.now()) < 1000


async def test_signed_body_and_the_query_string_wins(usdm):
    fake, _ = usdm
    async with aiohttp.ClientSession() as http:
        # Parameters in the body are signed as query + body, concatenated without '&'.
        path, now = "/fapi/v1/leverage", {"timestamp": fake.now()}
        status, body, _ = await call(http, fake, "POST", path, now, body={"symbol": "BTCUSDT", "leverage": 9})
        assert status == 200 and body["leverage"] == 9 and fake.sim.leverage("BTCUSDT") == 9
        query = {"symbol": "ETHUSDT", "leverage": 4}
        status, body, _ = await call(http, fake, "POST", path, query, body={"symbol": "BTCUSDT", "leverage": 3})
        assert body["symbol"] == "ETHUSDT" and fake.sim.leverage("ETHUSDT") == 4 and fake.sim.leverage("BTCUSDT") == 9


# -- usage, limits, faults ------------------------------------------------------------------------


async def test_usage_headers_and_limits_as_binance_counts_them():
    limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 12},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 2},
    ]
    fake = await started(rate_limits=limits)
    try:
        async with aiohttp.ClientSession() as http:
            _, info, headers = await call(http, fake, "GET", "/fapi/v1/exchangeInfo", {}, sign=False, key=None)
            assert info["rateLimits"] == limits and headers["X-MBX-USED-WEIGHT-1M"] == "1"
            _, _, headers = await call(http, fake, "GET", "/fapi/v2/account", {})
            assert headers["X-MBX-USED-WEIGHT-1M"] == "6" and "X-MBX-ORDER-COUNT-10S" not in headers
            for i in range(2):
                _, _, headers = await call(http, fake, "POST", "/fapi/v1/order", order(f"o{i}"))
            assert headers["X-MBX-ORDER-COUNT-10S"] == "2"
            status, body, headers = await call(http, fake, "POST", "/fapi/v1/order", order("o3"))
            assert status == 429 and body["code"] == -1015 and 1 <= int(headers["Retry-After"]) <= 10
            assert fake.placed_ids == ["o0", "o1"]  # refused before it executed
            status, body, headers = await call(http, fake, "GET", "/fapi/v2/balance", {})  # 6 + 5 + 1 = 12: still fits
            assert status == 200
            depth = {"symbol": "BTCUSDT", "limit": 5}  # weight 2: over the limit
            status, body, headers = await call(http, fake, "GET", "/fapi/v1/depth", depth, sign=False, key=None)
            assert status == 429 and body["code"] == -1003 and int(headers["Retry-After"]) <= 60
            assert fake.meter.refused == 2
    finally:
        await fake.stop()


async def test_fault_knobs_count_down(usdm):
    fake, _ = usdm
    f = fake.rest_faults
    f.status_429, f.status_418, f.status_503, f.retry_after_s = 1, 1, 1, 7
    async with aiohttp.ClientSession() as http:
        seen = [await call(http, fake, "GET", "/fapi/v1/time", {}, sign=False, key=None) for _ in range(4)]
    assert [s for s, _, _ in seen] == [418, 429, 503, 200]
    assert seen[0][2]["Retry-After"] == "7" and seen[1][1]["code"] == -1003
    f.delay_ms = 150
    started_at = time.monotonic()
    async with aiohttp.ClientSession() as http:
        await call(http, fake, "GET", "/fapi/v1/ping", {}, sign=False, key=None)
    assert time.monotonic() - started_at >= 0.14


# -- the listen key --------------------------------------------------------------------------------


async def test_listen_key_lifecycle_and_expiry_reaches_the_stream():
    fake = await started(listen_key_validity_ms=300)
    rest = rest_of(fake)
    try:
        key = await rest.create_listen_key()
        assert await rest.create_listen_key() == key  # the live key, extended
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{fake.ws_url}/private/ws/{key}") as ws,
        ):
            await rest.keepalive_listen_key()
            await asyncio.sleep(0.15)
            await rest.keepalive_listen_key()  # kept alive past its first 300 ms
            msg = await ws.receive(timeout=2)  # then left to lapse
            assert json.loads(msg.data) == {
                "e": "listenKeyExpired",
                "E": json.loads(msg.data)["E"],
                "listenKey": key,
            }
        assert fake.listen_key.key is None
        with pytest.raises(Exception, match="-1125"):
            await rest.keepalive_listen_key()
        fresh = await rest.create_listen_key()
        assert fresh != key
        await rest.close_listen_key()
        assert fake.listen_key.key is None
    finally:
        await rest.close()
        await fake.stop()


# -- history -------------------------------------------------------------------------------------


async def test_history_endpoints_answer_from_what_was_fed_and_filled(usdm):
    fake, rest = usdm
    await rest.new_order(order("h1", quantity=D("0.02")))
    await rest.new_order(order("h2", side="SELL", reduceOnly=True))
    await fake.feed(FundingRate("BTCUSDT", D("0.0003"), 0, D(60001)))
    ledger = fake.sim.ledger("USDT")
    income = await rest.income("BTCUSDT")
    by_type: dict[str, Decimal] = {}
    for row in income:
        by_type[row["incomeType"]] = by_type.get(row["incomeType"], D(0)) + D(row["income"])
    assert by_type["COMMISSION"] == -ledger.commission and by_type["REALIZED_PNL"] == ledger.realized_pnl
    assert by_type["FUNDING_FEE"] == ledger.funding != 0
    assert len(parse_user_trades(await rest.user_trades("BTCUSDT"))) == 2
    (rate,) = parse_funding_rates(await rest.funding_rate("BTCUSDT"))
    assert rate.rate == D("0.0003")
    trades = await rest.agg_trades("BTCUSDT", 2)
    assert [t.trade_id for t in trades] == [2, 3]
    candle = CandleClosed("BTCUSDT", "1h", 0, 3_599_999, D(1), D(3), D("0.5"), D(2), D(10), D(20), 5, D(4))
    await fake.feed(candle)
    (row,) = parse_klines(await rest.klines("BTCUSDT", "1h"), "BTCUSDT", "1h")
    assert row == candle
    built = parse_klines(await rest.klines("BTCUSDT", "1m"), "BTCUSDT", "1m")  # from the trade tape
    assert sum(c.volume for c in built) == 3 and built[-1].close == D(60003)
