"""Live, a stop the exchange expires on its own while the position is open starts the protective-stop
guard's countdown: its stop covers the position `protective_stop_within` later. The engine heard the
ALGO_UPDATE and did nothing: the position sat without a stop until another report of the symbol."""

from __future__ import annotations

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import Market
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_position_binding import BOOK
from .test_live_runner import notices, running, seen

LOST = BOOK.replace("account: {leverage: 3}", "account: {leverage: 3}\nrisk: {protective_stop_within: 1s}").replace(
    "price > 60050", "price > 100000000"
)


async def test_a_stop_the_exchange_expires_is_replaced_by_the_guards_stop(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        async with running(fake, LOST, tmp_path, []) as runner:
            await until(lambda: bool(seen(runner, "positions") and fake.sim.open_algo_orders("BTCUSDT")), timeout=10)
            algos = fake.sim._store.open_algos("BTCUSDT")
            (stop,) = [a for a in algos if a.trigger.stop_price > 55000]  # 5% below; the daily cap's is far below
            cap = {a.client_algo_id for a in algos} - {stop.client_algo_id}
            events: list[AccountEvent] = []
            fake.sim._desk.end_algo(stop, "EXPIRED", "system maintenance", fake.now(), events)
            await fake.publish_account(events)

            def guarded() -> list:
                return [o for o in fake.sim.open_algo_orders("BTCUSDT") if o.client_algo_id not in cap]

            await until(lambda: bool(guarded()), timeout=10)
            (guard,) = guarded()
            said = notices(runner)
        assert guard.close_position and guard.client_algo_id != stop.client_algo_id
    lost = [n["message"] for n in said if n["kind"] == "stop-lost"]
    assert lost == [
        f"its stop {stop.client_algo_id} was expired by the exchange (system maintenance): the position has no "
        "stop for all of it; the protective stop goes out in 1s unless one works by then"
    ], said
