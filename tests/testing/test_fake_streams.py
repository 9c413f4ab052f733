"""The fake exchange's stream hub, seen by a plain aiohttp client: paths, controls, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D

import aiohttp
import orjson
import pytest

from rulebot.binance.payloads.market import DepthUpdate
from rulebot.core.account_events import LeverageChanged
from rulebot.core.enums import Market
from rulebot.core.events import BookTop, Trade
from rulebot.testing.fake_streams import StreamHub, serve
from rulebot.testing.shared import PAYLOADS

TRADE = Trade("BTCUSDT", D(60000), D(1), 5, False, 1)


def trade(i: int) -> Trade:
    return Trade("BTCUSDT", D(60000), D(1), 5, False, i)


def top(u: int) -> BookTop:
    return BookTop("BTCUSDT", D(60000), D(1), D("60000.1"), D(1), 5, u)


async def until(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
async def usdm() -> AsyncIterator[tuple[StreamHub, str, aiohttp.ClientSession]]:
    hub = StreamHub(Market.USDM)
    async with serve(hub) as url, aiohttp.ClientSession() as http:
        yield hub, url, http


async def frames(ws: aiohttp.ClientWebSocketResponse, wait: float = 0.05) -> list[object]:
    """Every frame that arrives within `wait` seconds of the last one."""
    out: list[object] = []
    while True:
        try:
            msg = await ws.receive(timeout=wait)
        except TimeoutError:
            return out
        if msg.type is not aiohttp.WSMsgType.TEXT:  # Binance sends text frames
            return out
        out.append(orjson.loads(msg.data))


async def test_usdm_routes_deliver_what_binance_routes_there(usdm):
    hub, url, http = usdm
    names = "btcusdt@aggTrade/btcusdt@bookTicker"
    paths = (f"/market/ws/{names}", f"/public/ws/{names}", f"/ws/{names}")
    paths += (f"/market/stream?streams={names}",)
    sockets = {path: await http.ws_connect(f"{url}{path}") for path in paths}
    await hub.publish_market(TRADE)
    await hub.publish_market(top(9))
    got = {path: await frames(ws) for path, ws in sockets.items()}
    assert [f["e"] for f in got[f"/market/ws/{names}"]] == ["aggTrade"]
    assert [f["e"] for f in got[f"/public/ws/{names}"]] == ["bookTicker"]
    assert [f["e"] for f in got[f"/ws/{names}"]] == ["bookTicker"]  # unrouted: book data only
    [wrapped] = got[f"/market/stream?streams={names}"]
    assert wrapped["stream"] == "btcusdt@aggTrade" and wrapped["data"]["a"] == 1
    assert hub.connections_on("market") == 2 and hub.connections_on("public") == 1
    for ws in sockets.values():
        await ws.close()


async def test_coin_m_serves_everything_unrouted_and_has_no_routes():
    hub = StreamHub(Market.COINM)
    async with serve(hub) as url, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}/ws/btcusd_perp@aggTrade")
        await hub.publish_market(Trade("BTCUSD_PERP", D(60000), D(1), 5, False, 3))
        assert [f["a"] for f in await frames(ws)] == [3]
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(f"{url}/market/ws/btcusd_perp@aggTrade")
        await ws.close()


async def test_subscribe_unsubscribe_list_and_properties(usdm):
    hub, url, http = usdm
    ws = await http.ws_connect(f"{url}/market/ws")
    await ws.send_str((PAYLOADS / "ws_subscribe_request.json").read_text())
    assert await frames(ws) == [json.loads((PAYLOADS / "ws_subscribe_response.json").read_text())]
    await ws.send_str('{"method": "LIST_SUBSCRIPTIONS", "id": 2}')
    assert await frames(ws) == [{"result": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 2}]
    await ws.send_str('{"method": "SET_PROPERTY", "params": ["combined", true], "id": 3}')
    await ws.send_str('{"method": "GET_PROPERTY", "params": ["combined"], "id": 4}')
    assert await frames(ws) == [{"result": None, "id": 3}, {"result": True, "id": 4}]
    await hub.publish_market(TRADE)
    assert (await frames(ws))[0]["stream"] == "btcusdt@aggTrade"
    await ws.send_str('{"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 5}')
    await ws.send_str('{"method": "NOPE", "id": 6}')
    refusal = {"error": {"code": 2, "msg": "Invalid request: NOPE"}, "id": 6}
    assert await frames(ws) == [{"result": None, "id": 5}, refusal]
    await hub.publish_market(TRADE)
    assert await frames(ws) == []
    await ws.close()


async def test_a_client_sending_more_than_ten_messages_a_second_is_disconnected(usdm):
    hub, url, http = usdm
    ws = await http.ws_connect(f"{url}/market/ws")
    for i in range(12):
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
    got = [await ws.receive(timeout=1) for _ in range(11)]
    assert [m.type for m in got[:10]] == [aiohttp.WSMsgType.TEXT] * 10
    assert got[-1].type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 1008
    await until(lambda: hub.connections == 0)


async def test_user_streams_by_path_query_and_multi_key(usdm):
    hub, url, http = usdm
    for key in ("k1", "k2"):
        hub.register_listen_key(key)
    by_path = await http.ws_connect(f"{url}/private/ws/k1")
    only_orders = await http.ws_connect(f"{url}/private/ws?listenKey=k1&events=ORDER_TRADE_UPDATE")
    both = await http.ws_connect(f"{url}/private/stream?listenKey=k1&listenKey=k2")
    await hub.publish_user("k1", LeverageChanged("BTCUSDT", 20, 5))
    await hub.publish_user("k2", LeverageChanged("ETHUSDT", 10, 6))
    assert [f["ac"]["s"] for f in await frames(by_path)] == ["BTCUSDT"]
    assert await frames(only_orders) == []  # ACCOUNT_CONFIG_UPDATE was not asked for
    assert [(f["stream"], f["data"]["ac"]["l"]) for f in await frames(both)] == [
        ("k1", 20),
        ("k2", 10),
    ]
    await hub.expire_listen_key("k1", 77)
    assert await frames(by_path) == [{"e": "listenKeyExpired", "E": 77, "listenKey": "k1"}]
    assert by_path.closed or (await by_path.receive(timeout=1)).type is aiohttp.WSMsgType.CLOSE
    [expired] = await frames(both)
    assert expired["stream"] == "k1" and not both.closed  # k2 still lives on it
    for ws in (only_orders, both):
        await ws.close()


@pytest.mark.parametrize("path", ["/private/ws/unknown", "/private/ws", "/private/ws/btcusdt@aggTrade"])
async def test_refused_user_stream_handshakes(usdm, path):
    hub, url, http = usdm
    hub.register_listen_key("k1")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url + path)
    assert refused.value.status == 400


async def test_usdm_user_data_comes_only_from_the_private_route(usdm):
    hub, url, http = usdm
    hub.register_listen_key("k1")
    legacy = [await http.ws_connect(f"{url}{path}") for path in ("/ws/k1", "/market/ws/k1")]
    await hub.publish_user("k1", LeverageChanged("BTCUSDT", 20, 5))
    assert [await frames(ws) for ws in legacy] == [[], []]


async def test_drop_after_messages_cuts_every_socket_then_turns_itself_off(usdm):
    hub, url, http = usdm
    a = await http.ws_connect(f"{url}/market/ws/btcusdt@aggTrade")
    b = await http.ws_connect(f"{url}/market/ws/btcusdt@aggTrade")
    hub.faults.drop_after_messages = 3
    for i in range(1, 4):
        await hub.publish_market(trade(i))
    assert hub.connections == 0 and hub.faults.drop_after_messages is None and hub.messages_sent == 3
    assert [f["a"] for f in await frames(a)] == [1, 2] and [f["a"] for f in await frames(b)] == [1]
    assert (await a.receive(timeout=1)).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def test_a_stall_delays_only_the_stalled_sends_and_keeps_their_order(usdm):
    hub, url, http = usdm
    ws = await http.ws_connect(f"{url}/market/ws/btcusdt@aggTrade")
    other = await http.ws_connect(f"{url}/market/ws/btcusdt@aggTrade")
    hub.faults.stall_ms = 100
    started = asyncio.get_running_loop().time()
    for i in range(1, 4):
        await hub.publish_market(trade(i))
    assert asyncio.get_running_loop().time() - started < 0.05  # the publisher never waits
    assert await frames(ws, wait=0.05) == []
    assert [f["a"] for f in await frames(ws, wait=0.25)] == [1, 2, 3]
    assert [f["a"] for f in await frames(other, wait=0.05)] == [1, 2, 3]
    hub.faults.stall_ms = 0


async def test_gap_every_skips_depth_updates_and_book_ticker_ids_only_grow(usdm):
    hub, url, http = usdm
    ws = await http.ws_connect(f"{url}/public/ws/btcusdt@depth@100ms/btcusdt@bookTicker")
    hub.faults.gap_every = 3
    for u in range(1, 7):
        await hub.publish_market(DepthUpdate("BTCUSDT", u, u, u - 1, (), (), 5, 5))
    await hub.publish_market(top(0))
    await hub.publish_market(top(0))
    got = await frames(ws)
    assert [f["u"] for f in got if f["e"] == "depthUpdate"] == [1, 2, 4, 5]
    assert [f["u"] for f in got if f["e"] == "bookTicker"] == [1, 2]


async def test_connections_older_than_the_limit_are_closed(usdm):
    hub, url, http = usdm
    hub.faults.max_connection_ms = 50
    ws = await http.ws_connect(f"{url}/market/ws/btcusdt@aggTrade")
    msg = await ws.receive(timeout=1)
    assert msg.type is aiohttp.WSMsgType.CLOSE and hub.connections_opened == 1
    await until(lambda: hub.connections == 0)


async def test_a_client_that_never_answers_pings_is_cut():
    hub = StreamHub(Market.USDM, ping_interval_s=0.05)
    async with serve(hub) as url, aiohttp.ClientSession() as http:
        polite = await http.ws_connect(f"{url}/market/ws/btcusdt@aggTrade")  # answers pings
        mute = await http.ws_connect(f"{url}/market/ws/btcusdt@aggTrade", autoping=False)
        await until(lambda: hub.connections == 2)
        reader = asyncio.create_task(polite.receive())  # a reading client answers pings
        kinds = [(await mute.receive(timeout=1)).type for _ in range(3)]
        assert aiohttp.WSMsgType.PING in kinds and hub.connections == 1
        assert kinds[-1] in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        reader.cancel()
        await polite.close()


async def test_ignore_pings_makes_a_dead_server(usdm):
    hub, url, http = usdm
    ws = await http.ws_connect(f"{url}/market/ws/btcusdt@aggTrade", autoping=False)
    hub.faults.ignore_pings = True
    await ws.ping(b"anyone?")
    await hub.publish_market(TRADE)
    assert await frames(ws, wait=0.15) == []
    hub.faults.ignore_pings = False
    await ws.ping(b"now?")
    assert (await ws.receive(timeout=1)).type is aiohttp.WSMsgType.PONG
    await ws.close()
