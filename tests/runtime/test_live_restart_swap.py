"""A live bot killed (SIGKILL) in the middle of replacing a working stop new-first (stop_swap.py),
then restarted: the exchange holds both stops, the old one and its replacement. The restart must
keep one (the newest, the one the last run was moving to) and cancel the other, with the position
never left without a stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.core.enums import Market
from rulebot.testing.fake_binance import FakeBinance

from .conftest import until
from .test_live import market, start_bot
from .test_live_reload import BOOK, TIGHTER, held
from .test_live_reload import stops as rule_stops

D = Decimal
TIGHTEST = TIGHTER.replace("distance: 2%", "distance: 1%")


async def _stop(bot) -> None:
    with contextlib.suppress(ProcessLookupError):
        bot.send_signal(signal.SIGTERM)
    await asyncio.to_thread(bot.communicate, timeout=20)


def _rows(run_dir: Path, sql: str, *args: object) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(run_dir / "journal.sqlite")) as db:
        return db.execute(sql, args).fetchall()


def _notices(run_dir: Path, kind: str) -> list[str]:
    rows = _rows(run_dir, "SELECT body FROM entries WHERE kind = 'notice' AND body LIKE ?", f'%"{kind}"%')
    return [b for (b,) in rows]


@pytest.mark.parametrize(
    ("at", "then"),
    [
        ("the new stop is placed", TIGHTER),
        ("the old stop is cancelled", TIGHTER),
        ("the old stop is cancelled", TIGHTEST),  # and restarted on yet another rulebook
    ],
)
async def test_a_restart_after_a_kill_mid_swap_keeps_the_new_stop_and_cancels_the_old(tmp_path, at, then):
    """Killed as the restart on a 2% rulebook moved the 5% stop: as the new stop went out (it reached
    the exchange, its answer never came back) or as the old one's cancel went out (it never arrived).
    Before: the next restart adopted both, and the 57,000 stop stayed working beside the 58,800 one
    for as long as the position lived (one more against Binance's stop-order limit, -4045); restarted
    on a 1% rulebook, both moved to 1%, and two 1% stops stayed."""
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    async with FakeBinance(Market.USDM) as fake:
        stop = asyncio.Event()
        feeder = asyncio.create_task(market(fake, stop))
        bots = [start_bot(fake, book, run_dir)]
        try:
            await until(lambda: held(fake) == D("0.01") and len(rule_stops(fake)) == 1, timeout=20)
            (old,) = rule_stops(fake)  # 5% under the fill
            bots[0].send_signal(signal.SIGKILL)
            await asyncio.to_thread(bots[0].wait, 5)

            def kill_mid_swap(method: str, path: str, _: float) -> None:
                """The new stop's POST goes through (the bot dies before its answer); the old one's
                DELETE, sent once both work, never arrives."""
                if path != "/fapi/v1/algoOrder":
                    return
                placing = at == "the new stop is placed" and method == "POST" and rule_stops(fake) == [old]
                cancelling = at == "the old stop is cancelled" and method == "DELETE" and len(rule_stops(fake)) == 2
                if placing or cancelling:
                    bots[-1].send_signal(signal.SIGKILL)
                    fake.on_request = None
                    fake.rest_faults.status_503 = int(cancelling)

            fake.on_request = kill_mid_swap
            book.write_text(TIGHTER)
            bots.append(start_bot(fake, book, run_dir))  # restarted on a 2% rulebook: the stop moves
            await asyncio.to_thread(bots[-1].wait, 20)
            await until(lambda: len(rule_stops(fake)) == 2, timeout=5)  # both work on the exchange
            new = max(rule_stops(fake))  # 2% under the fill
            assert min(rule_stops(fake)) == old and new > old * D("1.02")
            (new_id,) = [a.client_algo_id for a in fake.sim.open_algo_orders("BTCUSDT") if a.trigger_price == new]
            heard = _rows(run_dir, "SELECT COUNT(*) FROM entries WHERE kind = 'algo' AND client_order_id = ?", new_id)
            assert bool(heard[0][0]) is (at == "the old stop is cancelled")  # the bot knew it worked, or never

            book.write_text(then)
            bots.append(start_bot(fake, book, run_dir))
            if then is TIGHTEST:
                await until(lambda: len(rule_stops(fake)) == 1 and rule_stops(fake)[0] > new, timeout=20)
                await asyncio.sleep(1)  # and no second one follows
                (moved,) = rule_stops(fake)
                assert moved > new * D("1.009")  # 1% under the fill
            else:
                await until(lambda: rule_stops(fake) == [new], timeout=20)
            assert held(fake) == D("0.01")
        finally:
            for bot in bots:
                await _stop(bot)
            stop.set()
            await feeder
    said = [n for n in _notices(run_dir, "restart-stop") if str(old) in n]
    assert said and "newest" in said[0], said
