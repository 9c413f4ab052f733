"""Stop and reverse live against the fake exchange (issue 16, item 1): Binance refuses the exit
twice with -1021; the short entry waits until the long is closed, so the account never holds
more than the rulebook's size, and ends short in state `short`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.core.enums import Market
from rulebot.runtime.runner import Runner
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live_position_binding import journal_rows, largest_position
from .test_live_runner import notices, running, seen

D = Decimal
BOOK = """\
rulebook: flipper
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: open-long
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: long-to-short
    on: trade
    in: long
    when: price > 60050
    do: [exit, {enter: {side: short, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: short}]
"""


def _short(fake: FakeBinance) -> bool:
    return any(p.amount == D("-0.01") for p in fake.sim.positions("BTCUSDT"))


def _short_stopped(fake: FakeBinance) -> bool:
    """The short's own stop works (the daily loss cap's BUY stop is far above 100,000): a keep kill
    before it flattens the short ("no stop on the exchange, so nothing is kept")."""
    return any(
        a.side.value == "BUY" and a.trigger_price is not None and a.trigger_price < 100000
        for a in fake.sim.open_algo_orders("BTCUSDT")
    )


async def test_a_reversal_whose_exit_binance_refuses_twice_never_holds_both_sides_and_ends_short(tmp_path):
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        largest_position(fake) as largest,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        await until(lambda: bool(seen(runner, "positions") and seen(runner, "orders")), timeout=10)
        await until(lambda: runner.status().get("states") == {"BTCUSDT": "long"}, timeout=10)
        armed = [True]

        def refuse_the_exit(method: str, path: str, _: float) -> None:
            if armed[0] and method == "POST" and path == "/fapi/v1/order":  # the exit (stops go to algoOrder)
                armed[0] = False
                fake.rest_faults.timestamp_1021 = 2  # the exit, and its resend after the clock resync

        fake.on_request = refuse_the_exit
        level["price"] = D(60060)
        await until(lambda: any(n["kind"] == "order-rejected" for n in notices(runner)), timeout=10)
        await until(lambda: _short(fake) and runner.status().get("states") == {"BTCUSDT": "short"}, timeout=15)
    assert largest[0] == D("0.01")
    rows = journal_rows(runner)
    exit_filled = next(
        i for i, (k, b) in enumerate(rows) if k == "order" and b.get("reduce_only") and b["status"] == "FILLED"
    )
    short_sent = next(
        i
        for i, (k, b) in enumerate(rows)
        if k == "command"
        and b["type"] == "PlaceOrder"
        and b.get("side") == "SELL"
        and not b.get("reduce_only")
        and not b.get("close_position")
    )
    assert exit_filled < short_sent  # the entry left only after the exchange closed the long
    assert len(fake.placed_ids) == len(set(fake.placed_ids))


@contextlib.asynccontextmanager
async def a_reversal(tmp_path: Path, **faults: bool) -> AsyncIterator[tuple[FakeBinance, list[Decimal], Runner]]:
    """A bot long at 60,000 over the real client, with these stream faults set; 60,060 reverses it.
    Yields (the fake exchange, the largest position it held, the runner) once it is short, in `short`."""
    level = {"price": D(60000)}
    async with (
        FakeBinance(Market.USDM) as fake,
        largest_position(fake) as largest,
        running(fake, BOOK, tmp_path, [], price=lambda i: level["price"]) as runner,
    ):
        for name, value in faults.items():
            setattr(fake.hub.faults, name, value)
        await until(lambda: runner.status().get("states") == {"BTCUSDT": "long"}, timeout=10)
        level["price"] = D(60060)
        await until(lambda: _short(fake) and runner.status().get("states") == {"BTCUSDT": "short"}, timeout=15)
        await until(lambda: _short_stopped(fake), timeout=10)
        yield fake, largest, runner


@pytest.mark.parametrize("account_first", [False, True])
async def test_a_reversal_moves_its_state_twice_whichever_of_a_fills_reports_comes_first(tmp_path, account_first):
    """Binance may send a fill's ACCOUNT_UPDATE before or after its ORDER_TRADE_UPDATE, with the
    same T and E: over the real client and user stream, either way the short is sent only once the
    account reports the long closed, and the state goes long -> flat -> short once, never through
    "position closed"."""
    async with a_reversal(tmp_path, account_first=account_first) as (_, largest, runner):
        pass
    assert largest[0] == D("0.01")
    rows = journal_rows(runner)
    exit_filled = next(
        i for i, (k, b) in enumerate(rows) if k == "order" and b.get("reduce_only") and b["status"] == "FILLED"
    )
    # The order the user stream used, as the bot heard it: the account update that reported the long
    # closed came before or after the exit's fill report.
    opened = next(i for i, (k, b) in enumerate(rows) if k == "order" and b["status"] == "FILLED")  # the long
    flat_at = next(
        i
        for i, (k, b) in enumerate(rows)
        if k == "account" and i > opened and any(D(p["amount"]) == 0 for p in b["positions"])
    )
    assert (flat_at < exit_filled) == account_first
    moves = [(b["from_state"], b["to_state"], b["why"]) for k, b in rows if k == "state"]
    reversal = moves[moves.index(("long", "flat", "rule long-to-short")) :]
    assert reversal == [("long", "flat", "rule long-to-short"), ("flat", "short", "rule long-to-short")], moves


async def test_a_user_stream_that_says_everything_twice_changes_nothing(tmp_path):
    """Every order and account report arrives twice: a fill heard again is not a second fill (no
    second fee, no position beyond the rulebook's size, no order sent twice), and the reversal
    moves its state once each way."""
    async with a_reversal(tmp_path, duplicate_user=True) as (fake, largest, runner):
        engine = runner.engine
        assert engine is not None
        fees, fills = engine.state.portfolio.fees_paid, engine.state.portfolio.fills
        charged = fake.sim.ledger("USDT").commission  # the long's entry, its exit and the short's entry
    assert largest[0] == D("0.01")
    assert len(fake.placed_ids) == len(set(fake.placed_ids))
    assert fills == 3 and abs(fees) == abs(charged) > 0, (fills, fees, charged)  # each fill counted once
    moves = [(b["from_state"], b["to_state"]) for k, b in journal_rows(runner) if k == "state"]
    assert moves.count(("long", "flat")) == 1 and moves.count(("flat", "short")) == 1, moves
