"""The fake exchange's fault controls: over HTTP while it runs and on the command line, so each
run of issue 11 can be reproduced against `rulebot fake-exchange`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import pytest

from rulebot.binance.codes import TimestampOutsideRecvWindow
from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest

ROOT = Path(__file__).resolve().parents[2]
BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": D("0.01")}


def rest_of(fake: FakeBinance) -> BinanceRest:
    return BinanceRest(Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url), fake.api_key, fake.api_secret)


async def test_faults_are_set_over_http_with_the_key_and_never_without():
    async with FakeBinance(Market.USDM) as fake, aiohttp.ClientSession() as http:
        url = f"{fake.rest_url}/fake/faults"
        async with http.post(url, json={"order_1021": 2}) as res:
            assert res.status == 401
        assert fake.rest_faults.order_1021 == 0
        key = {"X-MBX-APIKEY": fake.api_key}
        async with http.post(url, json={"order_1021": 2, "hold_user": True}, headers=key) as res:
            assert res.status == 200 and (await res.json())["order_1021"] == 2
        assert fake.rest_faults.order_1021 == 2 and fake.hub.faults.hold_user
        async with http.post(url, json={"order_1021": "two", "stall_ms": 5}, headers=key) as res:
            assert res.status == 400 and "order_1021 is a whole number" in (await res.json())["error"]
        assert fake.hub.faults.stall_ms == 0  # all or nothing
        async with http.post(url, json={"nope": 1}, headers=key) as res:
            assert res.status == 400 and "hold_market" in (await res.json())["error"]


async def test_order_1021_refuses_order_placements_and_lets_other_signed_requests_pass():
    async with FakeBinance(Market.USDM) as fake:
        await fake.feed(Trade("BTCUSDT", D(60000), D(1), 0, True, 1))
        fake.rest_faults.order_1021 = 2  # the order, and the client's resend after its clock resync
        async with rest_of(fake) as rest:
            await rest.balance()
            with pytest.raises(TimestampOutsideRecvWindow):
                await rest.new_order({**BUY, "newClientOrderId": "x-1"})
            assert not fake.sim.positions("BTCUSDT")
            await rest.new_order({**BUY, "newClientOrderId": "x-2"})
        assert [p.amount for p in fake.sim.positions("BTCUSDT")] == [D("0.01")]


async def test_a_held_user_stream_sends_nothing_then_everything_at_once_when_released():
    async with FakeBinance(Market.USDM) as fake, rest_of(fake) as rest, aiohttp.ClientSession() as http:
        await fake.feed(Trade("BTCUSDT", D(60000), D(1), 0, True, 1))
        key = await rest.create_listen_key()
        async with http.ws_connect(f"{fake.ws_url}/private/ws/{key}") as ws:
            fake.hub.faults.hold_user = True
            await rest.new_order({**BUY, "newClientOrderId": "x-1"})
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.3)
            fake.hub.faults.hold_user = False
            burst = [await ws.receive(timeout=2) for _ in range(3)]
        kinds = [m.json()["e"] for m in burst]
        assert kinds.count("ORDER_TRADE_UPDATE") >= 2 and "ACCOUNT_UPDATE" in kinds


async def test_a_position_opened_by_hand_is_on_the_account_with_its_margin_and_leverage():
    async with FakeBinance(Market.USDM) as fake, aiohttp.ClientSession() as http:
        await fake.feed(Trade("BTCUSDT", D(60000), D(1), 0, True, 1))
        key = {"X-MBX-APIKEY": fake.api_key}
        body = {"symbol": "BTCUSDT", "amount": "-0.02", "margin": "isolated", "leverage": 3}
        async with http.post(f"{fake.rest_url}/fake/position", json=body, headers=key) as res:
            assert res.status == 200, await res.text()
        (pos,) = fake.sim.positions("BTCUSDT")
        assert pos.amount == D("-0.02") and pos.leverage == 3 and pos.margin_type.value == "ISOLATED"
        async with http.post(f"{fake.rest_url}/fake/position", json={"symbol": "XYZ", "amount": 1}, headers=key) as res:
            assert res.status == 400 and "unknown symbol" in (await res.json())["error"]


def test_the_command_refuses_a_fault_it_does_not_have_and_lists_the_ones_it_has():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rulebot.cli", "fake-exchange", "--port", "0"]
    res = subprocess.run([*cmd, "--fault", "order_1021=x"], capture_output=True, env=env, timeout=30)
    assert res.returncode == 2 and "order_1021 is a whole number" in res.stderr.decode()
    listed = subprocess.run([*cmd, "--list-faults"], capture_output=True, env=env, timeout=30)
    assert listed.returncode == 0 and "hold_user=False" in listed.stdout.decode()
