"""Order lanes: per symbol, commands reach the venue in the engine's order, one at a time, and
every answer comes back exactly once, however long each answer takes."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.commands import CancelOrder
from rulebot.runtime.executor import OrderLane, Outcome
from rulebot.venues.binance.venue import VenueResult


class _Clock:
    def now_ms(self) -> int:
        return 0


class SlowVenue:
    """A venue whose answers take the given time; it records what reached it and when it was busy."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.rest = _Clock()
        self.delays = delays
        self.arrived: list[str] = []
        self.busy: dict[str, int] = {}
        self.overlapped = False

    async def execute(self, cmd: CancelOrder) -> VenueResult:
        self.arrived.append(cmd.client_order_id)
        self.busy[cmd.symbol] = self.busy.get(cmd.symbol, 0) + 1
        self.overlapped |= self.busy[cmd.symbol] > 1  # two of one symbol in flight at once
        await asyncio.sleep(self.delays[cmd.client_order_id])
        self.busy[cmd.symbol] -= 1
        return VenueResult(cmd.client_order_id.endswith("0"), -2011, "refused")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["BTCUSDT", "ETHUSDT", "SOLUSDT"]), st.integers(0, 4)), min_size=1, max_size=12)
)
def test_each_symbols_commands_go_out_in_order_and_each_answer_comes_back_once(plan):
    commands = [CancelOrder(symbol, f"{symbol}-{n}-{ms}", n) for n, (symbol, ms) in enumerate(plan)]
    venue = SlowVenue({c.client_order_id: int(c.client_order_id.rsplit("-", 1)[1]) / 1000 for c in commands})
    answers: list[Outcome] = []

    async def run() -> None:
        lanes: dict[str, OrderLane] = {}
        for cmd in commands:
            lane = lanes.get(cmd.symbol) or lanes.setdefault(cmd.symbol, OrderLane(venue, answers.append))  # type: ignore[arg-type]
            lane.queue.put_nowait((cmd, cmd.time))
        await asyncio.gather(*(lane.queue.join() for lane in lanes.values()))
        for lane in lanes.values():
            lane.task.cancel()

    asyncio.run(run())
    for symbol in {c.symbol for c in commands}:
        mine = [c.client_order_id for c in commands if c.symbol == symbol]
        assert [cid for cid in venue.arrived if cid.startswith(symbol)] == mine
    assert not venue.overlapped
    assert sorted(a.command.client_order_id for a in answers) == sorted(c.client_order_id for c in commands)
    assert all(a.result.ok == a.command.client_order_id.endswith("0") for a in answers)
