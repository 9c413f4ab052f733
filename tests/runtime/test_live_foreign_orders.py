"""A live bot that starts beside orders it did not send: on its own symbols they can fill into a
position larger than its rulebook says, or close its position outside its rules. It refuses to
start unless told what to do with them (`--foreign-orders cancel|keep`)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from rulebot.core.commands import PlaceOrder, SetLeverage, SetMarginType
from rulebot.core.enums import MarginType, Market, OrderType, Side, TimeInForce
from rulebot.core.events import Trade
from rulebot.runtime.foreign_orders import ForeignOrders
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_position_binding import BOOK, largest_position
from .test_live_runner import notices, running, seen

D = Decimal


def _limit_buy(cid: str, price: Decimal) -> PlaceOrder:
    return PlaceOrder(cid, "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.05"), price=price, time_in_force=TimeInForce.GTC)


async def _foreign_limit_buy(fake: FakeBinance, cid: str = "manual-buy-1") -> None:
    """A resting buy below the market, placed by hand or by a bot whose journal is gone."""
    await fake.feed(Trade("BTCUSDT", D(60000), D("0.01"), 0, True, 1, 1, 1))
    buy = _limit_buy(cid, D(59990))
    for cmd in (SetMarginType("BTCUSDT", MarginType.ISOLATED), SetLeverage("BTCUSDT", 3), buy):
        assert fake.sim.execute(cmd, fake.now()).ok


async def test_a_live_start_beside_an_order_it_did_not_send_is_refused_and_touches_nothing(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        await _foreign_limit_buy(fake)
        with pytest.raises(ForeignOrders) as refused:
            async with running(fake, BOOK, tmp_path, []):
                pass
        assert not fake.placed_ids  # the bot sent no order
        assert fake.sim.order("BTCUSDT", "manual-buy-1") is not None
        assert fake.sim.order("BTCUSDT", "manual-buy-1").status.value == "NEW"  # still resting
    message = str(refused.value)
    assert "manual-buy-1" in message and "BTCUSDT" in message and "LIMIT BUY 0.05 at 59990" in message
    assert "--foreign-orders cancel" in (refused.value.hint or "")


async def test_cancelled_at_start_the_old_order_never_adds_to_the_bots_position(tmp_path):
    level = {"price": D(60000)}
    async with FakeBinance(Market.USDM) as fake:
        await _foreign_limit_buy(fake)
        async with (
            largest_position(fake) as largest,
            running(fake, BOOK, tmp_path, [], price=lambda i: level["price"], foreign_orders="cancel") as runner,
        ):
            await until(lambda: bool(seen(runner, "positions")), timeout=10)
            level["price"] = D(59980)  # through the old buy's price
            await asyncio.sleep(0.5)
            said = notices(runner)
        assert fake.sim.order("BTCUSDT", "manual-buy-1").status.value == "CANCELED"
    assert largest[0] == D("0.01")
    assert any(n["kind"] == "foreign-order" and "cancelled" in n["message"] for n in said), said


async def test_kept_at_start_the_old_order_is_left_and_said(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        await _foreign_limit_buy(fake)
        async with running(fake, BOOK, tmp_path, [], foreign_orders="keep") as runner:
            await until(lambda: bool(seen(runner, "positions")), timeout=10)
            said = notices(runner)
        assert fake.sim.order("BTCUSDT", "manual-buy-1").status.value == "NEW"
    assert any(n["kind"] == "foreign-order" and "left alone" in n["message"] for n in said), said


async def test_under_cancel_an_order_placed_beside_the_running_bot_is_cancelled_at_the_next_reconciliation(tmp_path):
    async with (
        FakeBinance(Market.USDM) as fake,
        running(fake, BOOK, tmp_path, [], foreign_orders="cancel") as runner,
    ):
        await until(lambda: bool(seen(runner, "positions")), timeout=10)
        assert fake.sim.execute(_limit_buy("manual-2", D(59000)), fake.now()).ok
        await fake.expire_listen_key()  # the user stream reconnects: the account is read again
        await until(lambda: fake.sim.order("BTCUSDT", "manual-2").status.value == "CANCELED", timeout=10)
        await until(lambda: any("manual-2" in n["message"] for n in notices(runner)), timeout=5)
