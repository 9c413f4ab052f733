"""Live on the fake exchange, hedge mode with a long and a short leg of one size (the position nets to
0): both legs' stops expire on the exchange, and each leg gets the protective-stop guard's stop on its
own leg and side (`protective_stop_within` later); a flatten kill then closes both legs. The guard's
countdown was the symbol's: its stop went on the long leg only and the short leg stayed without one."""

from __future__ import annotations

import time
from decimal import Decimal

from rulebot.core.account_events import AccountEvent
from rulebot.core.enums import Market, PositionSide, Side
from rulebot.runtime import control
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_runner import notices, running, seen

D = Decimal

HEDGE = """\
rulebook: hedge-guard
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3, position_mode: hedge}
risk: {protective_stop_within: 1s}
states:
  flat: {position: none}
  long: {position: long}
  both: {position: any}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: hedge
    on: trade
    in: long
    when: price < 60020
    do: [{enter: {side: short, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: both}]
"""


async def test_both_legs_of_a_hedge_get_the_guards_stop_after_theirs_expire_and_a_flatten_closes_both(tmp_path):
    async with FakeBinance(Market.USDM) as fake, running(fake, HEDGE, tmp_path, []) as runner:

        def rule_stops() -> list:
            return [a for a in fake.sim._store.open_algos("BTCUSDT") if 50000 < a.trigger.stop_price < 70000]

        await until(lambda: len(rule_stops()) == 2 and len(seen(runner, "positions") or []) == 2, timeout=10)
        legs = {p.position_side: p.amount for p in fake.sim.positions("BTCUSDT")}
        assert legs == {PositionSide.LONG: D("0.01"), PositionSide.SHORT: D("-0.01")}  # nets to 0
        lost = rule_stops()
        events: list[AccountEvent] = []
        for stop in lost:
            fake.sim._desk.end_algo(stop, "EXPIRED", "system maintenance", fake.now(), events)
        await fake.publish_account(events)
        expired_at = time.monotonic()

        def guarded() -> dict[PositionSide, Side]:
            return {
                o.position_side: o.side for o in fake.sim.open_algo_orders("BTCUSDT") if 50000 < o.trigger_price < 70000
            }

        await until(lambda: len(guarded()) == 2, timeout=10)
        bare_s = time.monotonic() - expired_at
        assert guarded() == {PositionSide.LONG: Side.SELL, PositionSide.SHORT: Side.BUY}
        assert bare_s < 5, bare_s
        await control.request(runner.cfg.run_dir, {"cmd": "kill", "policy": "flatten"})
        await until(lambda: not fake.sim.positions("BTCUSDT"), timeout=10)
        said = notices(runner)
    assert sum(n["kind"] == "stop-lost" for n in said) == 2, said
