"""`rulebot fake-exchange` and `serve_fake_exchange`: the simulated market, served like Binance."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import aiohttp
import orjson

from rulebot.binance.payloads.account_state import parse_position_risk
from rulebot.binance.payloads.market import parse_market_message
from rulebot.binance.payloads.orders import parse_order
from rulebot.cli.fake_exchange import FakeExchangeInfo, serve_fake_exchange
from rulebot.core.enums import Market
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest

ROOT = Path(__file__).resolve().parents[2]


async def test_serves_the_simulated_market_to_a_real_client():
    infos: list[FakeExchangeInfo] = []
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve_fake_exchange(port=0, speed=20, seed=3, preset_name="volatile", ready=infos.append, stop=stop)
    )
    while not infos:
        await asyncio.sleep(0.01)
    (info,) = infos
    assert info.symbols == ("BTCUSDT",) and info.prefix == "/fapi"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{info.ws_url}/market/ws/btcusdt@aggTrade") as ws:
            msg = await ws.receive(timeout=5)  # the paced market reaches the streams
        trade = parse_market_message(msg.data)
        assert trade is not None and trade.symbol == "BTCUSDT"  # type: ignore[union-attr]
    rest = BinanceRest(Endpoints.custom(Market.USDM, info.rest_url, info.ws_url), info.api_key, info.api_secret)
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": Decimal("0.01"),
        "newClientOrderId": "cli-1",
        "newOrderRespType": "RESULT",
    }
    assert parse_order(await rest.new_order(order)).status.value == "FILLED"
    assert [p.amount for p in parse_position_risk(await rest.position_risk("BTCUSDT"))] == [Decimal("0.01")]
    await rest.close()
    stop.set()
    await asyncio.wait_for(server, 5)


def test_the_command_prints_what_a_client_needs_as_json_on_coin_m():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rulebot.cli",
            "fake-exchange",
            "--port",
            "0",
            "--market",
            "coinm",
            "--format",
            "json",
            "--api-key",
            "my-key",
            "--api-secret",
            "my-secret",
            "--speed",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["market"] == "coinm" and info["symbols"] == ["BTCUSD_PERP"]
        assert info["api_key"] == "my-key" and info["api_secret"] == "my-secret"

        async def check() -> None:
            endpoints = Endpoints.custom(Market.COINM, info["rest_url"], info["ws_url"])
            async with BinanceRest(endpoints, "my-key", "my-secret") as rest:
                balances = await rest.balance()
                assert {b["asset"]: b["balance"] for b in balances}["BTC"] == "1"
                async with (
                    aiohttp.ClientSession() as http,
                    http.ws_connect(f"{info['ws_url']}/ws/btcusd_perp@aggTrade") as ws,
                ):
                    data = orjson.loads((await ws.receive(timeout=5)).data)
                    assert data["e"] == "aggTrade" and data["s"] == "BTCUSD_PERP"

        asyncio.run(check())
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_busy_port_is_an_error_a_person_can_act_on():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = subprocess.run(
            [sys.executable, "-m", "rulebot.cli", "fake-exchange", "--port", str(port)],
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=30,
        )
    assert res.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr.decode() and "--port" in res.stderr.decode()
