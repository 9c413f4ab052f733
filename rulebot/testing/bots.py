"""What the tests of running bots share: a small rulebook that enters and then holds, and a wait
for a condition with a deadline (tests never sleep a fixed time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def hold_on_candle(name: str) -> str:
    """A rulebook that enters at the first closed 1m candle with a stop, then logs every candle."""
    return f"""\
rulebook: {name}
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {{leverage: 3}}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{{enter: {{side: long, size: "0.01"}}}}, {{stop_loss: {{distance: 5%}}}}, {{goto: long}}]
  - name: note
    on: candle_close 1m
    in: long
    when: close@1m > 0
    do: [{{log: "holding at {{close@1m}}"}}]
"""


async def until(cond: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until `cond()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
