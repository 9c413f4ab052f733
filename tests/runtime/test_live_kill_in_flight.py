"""The kill switch live while an order is on its way: what the bot hears during its shutdown (an
exit's fill, an entry's fill) must neither open a position after the kill nor leave one it filled
without a stop."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from rulebot.core.enums import Market
from rulebot.runtime import control
from rulebot.testing.fake_binance import FakeBinance

from .conftest import HOLD_ON_TRADE, until
from .test_live_position_binding import journal_rows, largest_position
from .test_live_runner import notices, running
from .test_live_stop_and_reverse import BOOK

D = Decimal


async def test_a_kill_while_a_reversal_waits_for_its_exit_sends_no_entry_and_leaves_nothing_unprotected(tmp_path):
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        largest_position(fake) as largest,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: runner.status().get("states") == {"BTCUSDT": "long"}, timeout=10)
        await until(lambda: len(fake.sim.open_algo_orders("BTCUSDT")) == 2, timeout=10)  # its stop and the cap's
        exit_sent = asyncio.Event()

        def hold_the_exits_fill(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/order":  # the reversal's exit (stops go to algoOrder)
                fake.on_request = None
                fake.hub.faults.hold_user = True  # its fill reaches the bot only after the kill
                exit_sent.set()

        fake.on_request = hold_the_exits_fill
        level["price"] = D(60060)
        await asyncio.wait_for(exit_sent.wait(), 10)
        await control.request(runner.cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await until(lambda: any(n["kind"] == "shutdown" for n in notices(runner)), timeout=10)
        fake.hub.faults.hold_user = False  # the exit's fill arrives while the bot winds down
        await until(lambda: any(k == "run_stop" for k, _ in journal_rows(runner)), timeout=15)
    positions = fake.sim.positions("BTCUSDT")
    assert positions == [], f"the bot left {[str(p.amount) for p in positions]} after the kill"
    assert largest[0] == D("0.01")
    rows = journal_rows(runner)
    killed = next(i for i, (k, b) in enumerate(rows) if k == "notice" and b["kind"] == "shutdown")
    sent_after = [
        b
        for k, b in rows[killed:]
        if k == "command" and b["type"] == "PlaceOrder" and not b["reduce_only"] and not b["close_position"]
    ]
    assert sent_after == [], "an entry left after the kill switch"
    refused = [b for k, b in rows[killed:] if k == "guard" and b["intent"].startswith("enter short")]
    assert refused and refused[0]["client_order_id"] is None  # journaled: the kill switch refused it


async def test_a_flatten_kill_while_an_entry_is_on_its_way_closes_what_the_entry_filled(tmp_path):
    """`rulebot kill --flatten` as the entry leaves: the halt cancels everything and finds nothing to
    close; the entry's fill, heard afterwards, must be closed too, not left without a stop."""
    async with FakeBinance(Market.USDM) as fake, largest_position(fake) as largest:
        entry_sent = asyncio.Event()

        def hold_the_entrys_fill(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/order":  # the entry
                fake.on_request = None
                fake.rest_faults.hold_next_answer_ms = 1000  # its answer is on its way during the kill
                fake.hub.faults.hold_user = True  # and its fill reaches the bot after the halt
                entry_sent.set()

        fake.on_request = hold_the_entrys_fill
        async with running(fake, HOLD_ON_TRADE, tmp_path, []) as runner:
            await asyncio.wait_for(entry_sent.wait(), 10)
            await control.request(runner.cfg.run_dir, {"cmd": "kill", "policy": "flatten"})
            await until(lambda: any(n["kind"] == "halt" for n in notices(runner)), timeout=10)
            fake.hub.faults.hold_user = False
            await until(lambda: any(k == "run_stop" for k, _ in journal_rows(runner)), timeout=15)
    positions = fake.sim.positions("BTCUSDT")
    assert positions == [], f"the bot left {[str(p.amount) for p in positions]} after a flatten kill"
    assert largest[0] == D("0.01")


async def test_a_keep_kill_while_the_positions_stop_is_on_its_way_and_then_refused_flattens(tmp_path):
    """`keep` counts the stop the engine has sent; Binance then refuses it (-1021 twice). Left
    there, the position would keep only the daily cap's stop, far away: with no stop of its own
    on the exchange, it is flattened, as if it had none at the kill."""
    book = HOLD_ON_TRADE.replace("protective_stop_within: 1s", "protective_stop_within: 10s")
    async with FakeBinance(Market.USDM) as fake:
        stop_sent = asyncio.Event()

        def refuse_the_stop(method: str, path: str, _: float) -> None:
            if method == "POST" and path == "/fapi/v1/algoOrder":  # the stop-loss, right after the fill
                fake.on_request = None
                fake.rest_faults.slow_orders, fake.rest_faults.slow_ms = 1, 1500  # on its way during the kill
                fake.rest_faults.order_1021 = 2  # then refused, and its resend after the clock resync too
                stop_sent.set()

        fake.on_request = refuse_the_stop
        async with running(fake, book, tmp_path, []) as runner:
            await asyncio.wait_for(stop_sent.wait(), 10)
            await control.request(runner.cfg.run_dir, {"cmd": "kill", "policy": "keep"})
            await until(lambda: any(k == "run_stop" for k, _ in journal_rows(runner)), timeout=15)
    rows = journal_rows(runner)
    assert any(k == "order" and b.get("reject_code") == -1021 for k, b in rows)  # the stop was refused
    positions = fake.sim.positions("BTCUSDT")
    assert positions == [], f"the bot left {[str(p.amount) for p in positions]} without its stop"
    assert any(k == "notice" and b["kind"] == "halt" and "stop" in b["message"] for k, b in rows)


TICKING = """\
rulebook: ticking
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: bid
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01", order: limit, price: "bid - 500"}}, {stop_loss: {distance: 5%}},
         {goto: long}]
  - name: tick
    on: every 1s
    in: long
    do: [{log: "still waiting"}]
"""


async def test_no_rule_runs_after_the_kill_while_the_shutdown_settles_its_answers(tmp_path):
    """The kill cancels the resting entry; Binance answers 1.5 s later, and the cancel's report,
    stamped after the next `every 1s`, carries the engine's clock past it. No rule may run after
    the kill switch (an `exit` rule would close what `keep` was to keep; seen live: a reversal's
    exit went out after SIGTERM)."""
    async with FakeBinance(Market.USDM) as fake, running(fake, TICKING, tmp_path, []) as runner:
        await until(lambda: bool(fake.sim.open_orders("BTCUSDT")), timeout=10)
        await until(lambda: any(k == "decision" and b["rule"] == "tick" for k, b in journal_rows(runner)), timeout=10)
        fake.rest_faults.slow_requests, fake.rest_faults.slow_ms = 1, 1500  # the cancel's answer
        await control.request(runner.cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await until(lambda: any(k == "run_stop" for k, _ in journal_rows(runner)), timeout=15)
    rows = journal_rows(runner)
    killed = next(i for i, (k, b) in enumerate(rows) if k == "notice" and b["kind"] == "shutdown")
    assert any(k == "order" and b["execution_type"] == "CANCELED" for k, b in rows[killed:])
    assert [b["rule"] for k, b in rows[killed:] if k == "decision"] == []
