"""The fake exchange on loopback and a REST client signed for it, shared by the venue tests."""

from __future__ import annotations

import pytest

from rulebot.core.enums import Market
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest


@pytest.fixture
async def fake():
    async with FakeBinance(Market.USDM) as f:
        yield f


@pytest.fixture
async def rest(fake):
    client = BinanceRest(Endpoints.custom(fake.market, fake.rest_url, fake.ws_url), fake.api_key, fake.api_secret)
    yield client
    await client.close()
