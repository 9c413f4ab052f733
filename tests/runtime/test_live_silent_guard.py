"""Live, the protective-stop guard's countdown ends on the wall clock when the market is silent.

The engine's clock moves only with events: with the market stream silent (held here: an outage, a
stall), a stop the exchange expired started the countdown (protective_stop_within: 1s) but nothing
carried the clock to its end, and the position sat without a stop for as long as the silence lasted
(15 s here, then the guard's stop with the first market frame) -> the guard's stop ~1 s after the loss,
the market still silent.
"""

from __future__ import annotations

import time

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import Market
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_runner import notices, running, seen
from .test_live_stop_lost import LOST


async def test_a_lost_stop_is_replaced_by_the_guards_while_the_market_stream_is_silent(tmp_path):
    async with FakeBinance(Market.USDM) as fake, running(fake, LOST, tmp_path, []) as runner:
        await until(lambda: bool(seen(runner, "positions") and fake.sim.open_algo_orders("BTCUSDT")), timeout=10)
        algos = fake.sim._store.open_algos("BTCUSDT")
        (stop,) = [a for a in algos if a.trigger.stop_price > 55000]  # 5% below; the daily cap's is far below
        cap = {a.client_algo_id for a in algos} - {stop.client_algo_id}
        fake.hub.faults.hold_market = True  # no market frame reaches the bot from now on
        events: list[AccountEvent] = []
        fake.sim._desk.end_algo(stop, "EXPIRED", "system maintenance", fake.now(), events)
        await fake.publish_account(events)
        lost_at = time.monotonic()

        def guarded() -> list:
            return [o for o in fake.sim.open_algo_orders("BTCUSDT") if o.client_algo_id not in cap]

        await until(lambda: bool(guarded()), timeout=10)
        bare_s = time.monotonic() - lost_at
        assert fake.hub.faults.hold_market
        fake.hub.faults.hold_market = False
        said = notices(runner)
    assert 0.9 < bare_s < 3, bare_s
    assert [n["kind"] for n in said].count("stop-lost") == 1, said
