"""Issue 11's first run: `rulebot run --live` is killed (SIGKILL) after journaling an exit and
before Binance accepted it. The restarted bot must not come back `flat` on the 0.01 it still
holds and buy 0.01 more."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.testing.fake_binance import FakeBinance

ROOT = Path(__file__).resolve().parents[2]
D = Decimal
BOOK = """\
rulebook: crash
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60020
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price > 60050
    do: [exit, {goto: flat}]
"""


def start_bot(book: Path, fake: FakeBinance, keys: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    args = [
        "run",
        str(book),
        "--live",
        "--base-url",
        fake.rest_url,
        "--ws-url",
        fake.ws_url,
        "--key-file",
        str(keys),
        "--run-dir",
        str(run_dir),
        "--no-watch",
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "rulebot.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONPATH": str(ROOT)},
    )


async def test_a_bot_killed_between_journaling_an_exit_and_binance_accepting_it_does_not_add_after_restart(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(BOOK)
    run_dir = tmp_path / "run"
    largest = D(0)
    async with FakeBinance(Market.USDM) as fake:
        keys = tmp_path / "keys"
        keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
        keys.chmod(0o600)
        price = {"now": D(60000)}
        seq = [0]

        async def trade() -> None:
            nonlocal largest
            seq[0] += 1
            await fake.feed(Trade("BTCUSDT", price["now"], D("0.01"), 0, True, seq[0]))
            for p in fake.sim.positions("BTCUSDT"):
                largest = max(largest, abs(p.amount))
            await asyncio.sleep(0.02)

        first = start_bot(book, fake, keys, run_dir)
        second = None
        try:
            while not fake.sim.open_algo_orders("BTCUSDT"):  # entered, and its stop is working
                assert seq[0] < 500 and first.poll() is None, first.communicate()[1].decode()
                await trade()

            def crash_on_the_exit(method: str, path: str, _: float) -> None:
                if method == "POST" and path == "/fapi/v1/order":  # the exit, journaled and on its way
                    fake.on_request = None
                    os.kill(first.pid, signal.SIGKILL)  # the bot dies
                    fake.rest_faults.timestamp_1021 = 1  # and Binance never takes that exit

            fake.on_request = crash_on_the_exit
            price["now"] = D(60060)
            while first.poll() is None:
                assert seq[0] < 1000
                await trade()
            assert [p.amount for p in fake.sim.positions("BTCUSDT")] == [D("0.01")]
            price["now"] = D(60000)  # where `buy` fires in flat
            second = start_bot(book, fake, keys, run_dir)
            for _ in range(150):  # 3 s of trades at the entry price
                assert second.poll() is None, second.communicate()[1].decode()
                await trade()
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.to_thread(proc.communicate, timeout=20)
    assert largest == D("0.01"), f"the account held {largest} after the restart; the rulebook's size is 0.01"
