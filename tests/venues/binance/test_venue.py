"""The Binance venue over the fake exchange: commands, the algo service, account setup,
reconciliation and the exchange-side dead man's switch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import pytest

from rulebot.core.commands import (
    CancelAllOrders,
    CancelOrder,
    PlaceOrder,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
)
from rulebot.core.enums import (
    MarginType,
    Market,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from rulebot.core.events import BookTop, Trade
from rulebot.testing.fake_binance import FakeBinance
from rulebot.venues.binance.endpoints import Endpoints
from rulebot.venues.binance.rest import BinanceRest
from rulebot.venues.binance.venue import AccountSetupError, BinanceVenue

D = Decimal


async def until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def start(market: Market) -> tuple[FakeBinance, BinanceVenue]:
    fake = await FakeBinance(market).start()
    symbol = "BTCUSDT" if market is Market.USDM else "BTCUSD_PERP"
    await fake.feed(BookTop(symbol, D(60000), D(50), D("60000.1"), D(50), 0, 1))
    await fake.feed(Trade(symbol, D(60000), D(1), 0, True, 1))
    endpoints = Endpoints.custom(market, fake.rest_url, fake.ws_url)
    return fake, BinanceVenue(BinanceRest(endpoints, fake.api_key, fake.api_secret))


@pytest.fixture
async def usdm():
    fake, venue = await start(Market.USDM)
    yield fake, venue
    await venue.rest.close()
    await fake.stop()


@pytest.fixture
async def coinm():
    fake, venue = await start(Market.COINM)
    yield fake, venue
    await venue.rest.close()
    await fake.stop()


def buy(cid: str, qty: str = "0.01", symbol: str = "BTCUSDT") -> PlaceOrder:
    return PlaceOrder(cid, symbol, Side.BUY, OrderType.MARKET, D(qty))


def limit(cid: str, price: int = 55000, symbol: str = "BTCUSDT", qty: str = "0.01") -> PlaceOrder:
    return PlaceOrder(
        cid,
        symbol,
        Side.BUY,
        OrderType.LIMIT,
        D(qty),
        price=D(price),
        time_in_force=TimeInForce.GTC,
    )


def stop(cid: str, symbol: str = "BTCUSDT") -> PlaceOrder:
    return PlaceOrder(
        cid,
        symbol,
        Side.SELL,
        OrderType.STOP_MARKET,
        None,
        trigger_price=D(57000),
        close_position=True,
        working_type=WorkingType.MARK_PRICE,
    )


async def test_commands_run_and_stops_go_to_the_algo_service(usdm):
    fake, venue = usdm
    assert (await venue.execute(buy("e1"))).ok
    assert (await venue.execute(stop("s1"))).ok
    assert (await venue.execute(limit("l1"))).ok
    assert [a.client_algo_id for a in fake.sim.open_algo_orders("BTCUSDT")] == ["s1"]
    assert [o.client_order_id for o in fake.sim.open_orders("BTCUSDT")] == ["l1"]
    assert (await venue.execute(CancelOrder("BTCUSDT", "s1"))).ok  # an algo order, by client id
    assert not fake.sim.open_algo_orders("BTCUSDT")
    assert (await venue.execute(stop("s2"))).ok
    assert (await venue.execute(CancelAllOrders("BTCUSDT"))).ok  # plain and algo orders alike
    assert not fake.sim.open_orders("BTCUSDT") and not fake.sim.open_algo_orders("BTCUSDT")
    assert (await venue.execute(SetLeverage("BTCUSDT", 7))).ok and fake.sim.leverage("BTCUSDT") == 7
    refused = await venue.execute(limit("tiny", qty="0.001"))
    assert not refused.ok and not refused.unknown and refused.code == -4164
    gone = await venue.execute(CancelOrder("BTCUSDT", "never-placed"))
    assert not gone.ok and gone.code in (-2011, -2013)


async def test_coin_m_stops_are_plain_orders_with_stop_price(coinm):
    fake, venue = coinm
    assert (await venue.execute(buy("e1", "1", "BTCUSD_PERP"))).ok
    assert (await venue.execute(stop("s1", "BTCUSD_PERP"))).ok
    (order,) = fake.sim.open_orders("BTCUSD_PERP")
    assert order.client_order_id == "s1" and order.trigger_price == D(57000)
    snap = await venue.reconcile(["BTCUSD_PERP"])
    assert [o.client_order_id for o in snap.orders] == ["s1"] and snap.algo_orders == ()
    assert [p.amount for p in snap.account.positions if p.amount] == [D(1)]


async def test_a_coin_m_isolated_wallet_reconciled_from_position_risk_leaves_out_the_pnl(coinm):
    """/dapi/v1/positionRisk prints no isolatedWallet (the fake now leaves it out, as Binance does);
    the reconciliation took isolatedMargin, which includes the unrealized PnL, as the wallet."""
    fake, venue = coinm
    await venue.ensure_account_setup(["BTCUSD_PERP"], MarginType.ISOLATED, hedge=False, leverage=5)
    assert (await venue.execute(buy("e1", "10", "BTCUSD_PERP"))).ok
    row = next(r for r in await venue.rest.position_risk() if r["positionAmt"] != "0")
    assert "isolatedWallet" not in row and Decimal(row["unRealizedProfit"]) != 0
    snap = await venue.reconcile(["BTCUSD_PERP"])
    (pos,) = [p for p in snap.account.positions if p.amount]
    (held,) = [p for p in fake.sim.positions("BTCUSD_PERP") if p.amount]
    assert held.isolated_wallet is not None and held.isolated_wallet > 0
    assert pos.isolated_wallet == held.isolated_wallet
    assert pos.isolated_wallet == Decimal(row["isolatedMargin"]) - Decimal(row["unRealizedProfit"])


async def test_reconcile_reads_orders_positions_and_balances(usdm):
    fake, venue = usdm
    await venue.execute(buy("e1"))
    await venue.execute(stop("s1"))
    await venue.execute(limit("l1"))
    snap = await venue.reconcile(["BTCUSDT"])
    assert [o.client_order_id for o in snap.orders] == ["l1"]
    assert [a.client_algo_id for a in snap.algo_orders] == ["s1"]
    (pos,) = snap.account.positions
    assert pos.symbol == "BTCUSDT" and pos.amount == D("0.01") and pos.entry_price > 0
    (usdt,) = snap.account.balances
    assert usdt.asset == "USDT" and usdt.wallet_balance == fake.sim.balances()[0].wallet_balance
    assert abs(snap.time - fake.now()) < 2000


async def test_account_setup_and_a_refusal_that_stops_the_bot(usdm):
    fake, venue = usdm
    await venue.ensure_account_setup(["BTCUSDT"], MarginType.ISOLATED, hedge=False, leverage=5)
    assert fake.sim.margin_type("BTCUSDT") is MarginType.ISOLATED and fake.sim.leverage("BTCUSDT") == 5
    await venue.ensure_account_setup(["BTCUSDT"], MarginType.ISOLATED, hedge=False, leverage=5)  # no change: fine
    assert (await venue.execute(buy("e1"))).ok
    with pytest.raises(AccountSetupError) as info:  # a position is open: Binance refuses
        await venue.ensure_account_setup(["BTCUSDT"], MarginType.CROSSED, hedge=False, leverage=5)
    text = str(info.value)
    assert "margin type of BTCUSDT" in text and "Nothing was traded" in text and "close the" in text
    assert fake.sim.margin_type("BTCUSDT") is MarginType.ISOLATED


async def test_position_mode_switches_only_when_binance_accepts(usdm):
    fake, venue = usdm
    assert (await venue.execute(SetPositionMode(True))).ok and venue.hedge and fake.sim.hedge_mode
    long = PlaceOrder("h1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01"), position_side=PositionSide.LONG)
    assert (await venue.execute(long)).ok
    refused = await venue.execute(SetPositionMode(False))  # a hedge position is open
    assert not refused.ok and venue.hedge  # orders are still built for hedge mode
    assert (await venue.execute(SetMarginType("BTCUSDT", MarginType.CROSSED))).ok  # -4046: already so


async def test_an_order_of_unknown_fate_is_reported_unknown(usdm):
    fake, venue = usdm
    await venue.rest.balance()
    fake.rest_faults.drop_after_execute, fake.rest_faults.retry_after_s = 1, 120

    def ban_the_lookup(method: str, path: str, _t: float) -> None:
        if method == "GET" and path.endswith("/v1/order"):
            fake.rest_faults.status_418 = 1

    fake.on_request = ban_the_lookup
    res = await venue.execute(buy("u1"))
    assert not res.ok and res.unknown  # not "refused": the order may well exist
    assert fake.placed_ids == ["u1"]


async def test_a_cancel_that_executed_but_whose_answer_was_lost_is_not_said_refused(usdm):
    """Binance cancelled it and answered 503 -1007; the resend was answered -2011 (no such open
    order) and the venue said the cancel was refused, "-2013: Order does not exist." (the algo
    service's answer): a journal that says the order may still work when Binance cancelled it."""
    fake, venue = usdm
    assert (await venue.execute(buy("e1"))).ok
    assert (await venue.execute(limit("l1"))).ok and (await venue.execute(stop("s1"))).ok
    for cid in ("l1", "s1"):  # a plain order and an algo order
        fake.rest_faults.cancel_unknown_after_execute = 1
        res = await venue.execute(CancelOrder("BTCUSDT", cid))
        assert fake.rest_faults.cancel_unknown_after_execute == 0  # the fault fired
        assert res.ok, res
    assert not fake.sim.open_orders("BTCUSDT") and not fake.sim.open_algo_orders("BTCUSDT")
    filled = await venue.execute(CancelOrder("BTCUSDT", "e1"))  # a filled order: still refused, as Binance said
    assert not filled.ok and filled.code == -2011 and not filled.unknown


async def test_dead_mans_switch_cancels_orders_when_the_heartbeat_stops(usdm):
    fake, venue = usdm
    await venue.execute(limit("l1"))
    await venue.execute(buy("e1"))
    await venue.execute(stop("s1"))
    venue.start_heartbeat(["BTCUSDT"], countdown_ms=300, every_s=0.1)
    await asyncio.sleep(0.5)
    assert venue.heartbeats >= 3 and venue.heartbeat_failures == 0
    assert len(fake.sim.open_orders("BTCUSDT")) == 1  # kept alive past the countdown
    venue.stop_heartbeat_task()  # the bot "dies": no more heartbeats
    await until(lambda: not fake.sim.open_orders("BTCUSDT"), timeout=2)
    assert fake.sim.order("BTCUSDT", "l1").status.value == "CANCELED"


async def test_a_clean_stop_switches_the_countdown_off_and_keeps_orders(usdm):
    fake, venue = usdm
    await venue.execute(limit("l1"))
    venue.start_heartbeat(["BTCUSDT"], countdown_ms=200, every_s=0.05)
    await until(lambda: venue.heartbeats >= 2)
    await venue.stop_heartbeat(["BTCUSDT"])
    await asyncio.sleep(0.4)
    assert [o.client_order_id for o in fake.sim.open_orders("BTCUSDT")] == ["l1"]
    assert fake.sim.countdown("BTCUSDT") is None


async def test_the_switch_is_armed_only_while_an_entry_rests_so_a_dead_bots_stops_stay(usdm):
    """Binance's countdown cancels every open order of the symbol: armed for as long as the bot ran,
    a bot that died took its position's stops with it a countdown later."""
    fake, venue = usdm
    await venue.execute(buy("e1"))
    await venue.execute(stop("s1"))
    resting: set[str] = set()
    venue.start_heartbeat(["BTCUSDT"], countdown_ms=300, every_s=0.1, armed=lambda s: bool(resting))
    await asyncio.sleep(0.2)
    assert fake.sim.countdown("BTCUSDT") is None and venue.heartbeats == 0  # only a stop works: off
    resting.add("l1")
    await venue.execute(limit("l1"))  # an entry that rests: armed at once, not at the next heartbeat
    await until(lambda: fake.sim.countdown("BTCUSDT") is not None, timeout=0.09)
    assert (await venue.execute(CancelOrder("BTCUSDT", "l1"))).ok
    resting.clear()  # the entry is gone: switched off within a second
    await until(lambda: fake.sim.countdown("BTCUSDT") is None, timeout=1.5)
    venue.stop_heartbeat_task()  # the bot "dies"
    await asyncio.sleep(0.5)  # past the countdown
    fake.sim.tick(fake.now())
    assert [a.client_algo_id for a in fake.sim.open_algo_orders("BTCUSDT")] == ["s1"]  # the stop stays
    assert venue.heartbeat_failures == 0


def test_the_heartbeat_must_come_inside_the_countdown():
    venue = BinanceVenue(BinanceRest(Endpoints.of(Market.USDM)))
    with pytest.raises(ValueError, match="well inside the countdown"):
        venue.start_heartbeat(["BTCUSDT"], countdown_ms=10_000, every_s=20)
