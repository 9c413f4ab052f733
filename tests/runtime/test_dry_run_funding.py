"""A dry-run on live streams settles funding from the mark-price stream (issue 15): markPrice@1s
carries the coming rate (`r`) and the next funding time (`T`); the paper account pays at T the
rate last announced before it, once. Funding = position x mark x rate, longs pay a positive rate
(FACTS §11, MARGIN.md §5). Tested over loopback against the fake exchange's real streams."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.core.events import MarkPrice, Trade
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.testing.fake_binance import FakeBinance

from .conftest import HOLD_ON_TRADE, until

D = Decimal
EIGHT_HOURS = 8 * 3_600_000


def _funding(journal) -> list[tuple[int, Decimal]]:
    db = sqlite3.connect(journal)
    out = []
    for t, body in db.execute("SELECT time, body FROM funding ORDER BY id"):
        (usdt,) = [b for b in json.loads(body)["balances"] if b["asset"] == "USDT"]
        out.append((t, D(usdt["balance_change"])))
    return out


async def test_dry_run_on_live_streams_pays_funding_at_the_announced_time_and_rate(tmp_path):
    async with FakeBinance(Market.USDM) as fake:
        cfg = RunConfig(tmp_path / "b.yaml", "dry-run", tmp_path / "run", watch=False, use_scheduler=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await dry_run(compile_text(HOLD_ON_TRADE), cfg, "binance", connection=conn)
        task = asyncio.create_task(runner.run())
        await until(lambda: fake.hub.connections >= 1)
        await fake.feed(MarkPrice("BTCUSDT", D(60000), 0))
        for i in range(1, 40):
            await fake.feed(Trade("BTCUSDT", D(60000), D("0.01"), 0, True, i, i, i))
            await asyncio.sleep(0.01)
            if runner.status().get("positions"):
                break
        await until(lambda: bool(runner.status().get("positions")))
        # T far enough ahead that both announcements are stamped before it on a loaded machine.
        due = fake.now() + 3000
        # Two announcements before T: the later one's rate is what is paid, at its mark.
        await fake.feed(MarkPrice("BTCUSDT", D(61000), 0, funding_rate=D("0.0003"), next_funding_time=due))
        await asyncio.sleep(0.01)  # the stream drops an update with the same event time as the last
        await fake.feed(MarkPrice("BTCUSDT", D(60000), 0, funding_rate=D("0.0001"), next_funding_time=due))
        assert fake.now() < due, "the machine is too slow for this test's timing"
        await asyncio.sleep(0.2)
        assert not _funding(cfg.journal_path())  # not before T
        while fake.now() <= due:
            await asyncio.sleep(0.05)
        # Past T: the stream already announces the next funding time.
        after = MarkPrice("BTCUSDT", D(60500), 0, funding_rate=D("0.0002"), next_funding_time=due + EIGHT_HOURS)
        await fake.feed(after)
        await asyncio.sleep(0.01)
        await fake.feed(replace(after, mark_price=D(60600)))  # a second update past T settles nothing more
        await until(lambda: bool(_funding(cfg.journal_path())))
        await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 15)
    ((time, change),) = _funding(cfg.journal_path())
    assert time == due
    assert change == -D("0.01") * D(60000) * D("0.0001")  # the long pays 0.06 USDT
    assert not fake.placed_ids  # a dry-run: nothing reached the exchange
