"""Random fault schedules against the fake exchange, with the live runner over loopback: orders
refused (-1021, 503), executed with their answer lost or unknown, slow, and a user stream held
back then released in a burst, while the price crosses the entry and exit levels. Whatever the
schedule: the exchange never holds more than the rulebook's size, no client order id is placed
twice, and the journal verifies."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rulebot.core.enums import Market
from rulebot.journal.verify import read_anchor, verify
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_position_binding import BOOK, largest_position
from .test_live_runner import running, seen

SIZE = Decimal("0.01")
FAULTS = {
    "order_1021": {"order_1021": 2},  # refused twice: the first try and the resend after a clock resync
    "503": {"status_503": 1},  # refused, not executed
    "unknown": {"unknown_after_execute": 1},  # executed, answered "status unknown"
    "drop": {"drop_after_execute": 1},  # executed, the answer lost with the connection
    "slow": {"slow_orders": 1, "slow_ms": 400},
    "hold": {"hold_user": True},  # the user stream holds its reports back
    "release": {"hold_user": False},  # … and sends them in one burst
}
step = st.tuples(st.sampled_from((60000, 60030, 60060)), st.none() | st.sampled_from(sorted(FAULTS)))


async def run_schedule(schedule: list[tuple[int, str | None]], tmp: Path) -> None:
    level = {"price": Decimal(60000)}
    async with FakeBinance(Market.USDM) as fake, largest_position(fake) as largest:
        async with running(fake, BOOK, tmp, [], price=lambda i: level["price"]) as runner:
            await until(lambda: seen(runner, "states") is not None, timeout=10)
            for price, fault in schedule:
                for name, value in FAULTS.get(fault or "", {}).items():
                    setattr(fake.hub.faults if name.startswith("hold") else fake.rest_faults, name, value)
                level["price"] = Decimal(price)
                await asyncio.sleep(0.15)
            fake.hub.faults.hold_user = False
            level["price"] = Decimal(60030)  # between the levels: nothing new, what is owed settles
            await asyncio.sleep(1.5)
            assert largest[0] <= SIZE
        placed = fake.placed_ids
    assert largest[0] <= SIZE, f"the exchange held {largest[0]}, the rulebook's size is {SIZE}"
    assert len(placed) == len(set(placed)), f"a client order id was placed twice: {placed}"
    journal = runner.cfg.journal_path()
    db = sqlite3.connect(journal)
    try:
        checked = verify(db, read_anchor(journal))
        sent = [c for (c,) in db.execute("SELECT client_order_id FROM commands WHERE command = 'PlaceOrder'")]
    finally:
        db.close()
    assert checked.ok, checked.problem
    assert len(sent) == len(set(sent))


@settings(max_examples=4, deadline=None)
@given(st.lists(step, min_size=6, max_size=12))
def test_no_fault_schedule_makes_the_bot_hold_more_than_its_rulebook_says(tmp_path_factory, schedule):
    tmp = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    asyncio.run(run_schedule(schedule, tmp))
