"""The rejects Binance makes before the book, through the real client and the fake exchange:
-4131 for a market order outside the mark's band, -2019 with the open loss, and priceProtect
sent on the wire, kept by the exchange and enforced at the trigger."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from rulebot.binance.payloads.orders import parse_algo_order
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import Market, OrderType, Side, TimeInForce, WorkingType
from rulebot.core.events import BookTop, MarkPrice, Trade
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest
from rulebot.venues.binance.venue import BinanceVenue

D = Decimal
MSG_4131 = "The counterparty's best price does not meet the PERCENT_PRICE filter limit."


@pytest.fixture
async def usdm():
    fake = await FakeBinance(Market.USDM).start()
    await fake.feed(BookTop("BTCUSDT", D(60000), D(50), D("60000.1"), D(50), 0, 1))
    await fake.feed(Trade("BTCUSDT", D(60000), D(1), 0, True, 1))
    venue = BinanceVenue(
        BinanceRest(Endpoints.custom(Market.USDM, fake.rest_url, fake.ws_url), fake.api_key, fake.api_secret)
    )
    yield fake, venue
    await venue.rest.close()
    await fake.stop()


def buy(cid: str) -> PlaceOrder:
    return PlaceOrder(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01"))


def stop(cid: str) -> PlaceOrder:
    return PlaceOrder(
        cid,
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        None,
        trigger_price=D(57000),
        close_position=True,
        working_type=WorkingType.MARK_PRICE,
    )


async def test_market_order_beyond_the_band_is_refused_with_4131(usdm):
    fake, venue = usdm
    await fake.feed(MarkPrice("BTCUSDT", D(50000), 0))  # the book (60,000) is 20% over the mark
    refused = await venue.execute(buy("m1"))
    assert (refused.ok, refused.unknown, refused.code, refused.message) == (False, False, -4131, MSG_4131)
    assert fake.sim.positions() == []


async def test_short_limit_under_the_mark_needs_its_open_loss(usdm):
    fake, venue = usdm
    await fake.feed(MarkPrice("BTCUSDT", D(60000), 0))
    # 10,000 USDT at 20x: a 3.3 BTC short at 59,000 needs 9,735 of initial margin, which fits,
    # plus 3.3 * 1,000 = 3,300 of open loss, which does not.
    short = PlaceOrder(
        "s", "BTCUSDT", Side.SELL, OrderType.LIMIT, D("3.3"), price=D(59000), time_in_force=TimeInForce.GTC
    )
    refused = await venue.execute(short)
    assert (refused.code, refused.message) == (-2019, "Margin is insufficient.")
    assert (await venue.execute(replace(short, quantity=D("2.5")))).ok


async def test_price_protected_stop_is_kept_and_waits_for_last_and_mark_to_agree(usdm):
    fake, venue = usdm
    await fake.feed(MarkPrice("BTCUSDT", D(60000), 0))
    assert (await venue.execute(buy("e1"))).ok
    guarded = replace(stop("s1"), price_protect=True, working_type=WorkingType.MARK_PRICE)
    assert (await venue.execute(guarded)).ok
    assert parse_algo_order(await venue.rest.query_algo_order("BTCUSDT", "s1")).price_protect is True
    await fake.feed(Trade("BTCUSDT", D(50000), D(1), 0, True, 2))  # last 12% under the mark
    await fake.feed(MarkPrice("BTCUSDT", D(56900), 0))
    assert [a.client_algo_id for a in fake.sim.open_algo_orders("BTCUSDT")] == ["s1"]
    await fake.feed(BookTop("BTCUSDT", D(56800), D(50), D("56800.1"), D(50), 0, 3))
    await fake.feed(Trade("BTCUSDT", D(56800), D(1), 0, True, 4))
    await fake.feed(MarkPrice("BTCUSDT", D(56850), 0))
    assert not fake.sim.open_algo_orders("BTCUSDT")
    assert fake.sim.positions() == []
