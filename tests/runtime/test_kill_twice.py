"""A second `rulebot kill` while the bot is already stopping gets its answer at once ("already stopping",
with the policy the bot stops with), not after the control socket's 10 s timeout: the loop that
answers requests has ended, and the request waited for it."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.runtime import control
from rulebot.testing.fake_binance import FakeBinance

from .conftest import HOLD_ON_TRADE, until
from .test_live_runner import running, seen

D = Decimal


async def test_a_second_kill_while_the_bot_stops_is_answered_at_once(tmp_path):
    async with FakeBinance(Market.USDM) as fake, running(fake, HOLD_ON_TRADE, tmp_path, []) as runner:
        await until(lambda: bool(seen(runner, "positions")), timeout=10)
        first = asyncio.create_task(control.request(runner.cfg.run_dir, {"cmd": "kill", "policy": "flatten"}))
        await until(lambda: runner.stopping is not None, timeout=5)
        asked = time.monotonic()
        second = await control.request(runner.cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        took = time.monotonic() - asked
        assert (await first)["ok"]
        await until(lambda: not fake.sim.positions("BTCUSDT"), timeout=10)
    assert took < 2, f"the second kill waited {took:.1f} s"
    assert second["ok"] and second["policy"] == "flatten" and "already stopping" in second["already"], second
