"""A long soak of the bot against the fake exchange, with faults: memory, lost events, duplicates.

    python bench/soak.py                        # 100,000 trades, `rulebot run --live`
    python bench/soak.py --trades 500000 --mode dry-run

The bot runs as its own process (the CLI, as a user runs it), so its memory is its own: the
resident set size is read from /proc at each tenth of the run. The rulebook enters and leaves
a position every 22,000 trades, so orders, fills, stops and cancels flow the whole time.
Faults, in turn, every `--fault-every` trades: a cut of every socket (market and user streams),
a REST 503 burst, a 429 with Retry-After, a placement whose answer is lost after it executed,
the user stream's listen key expiring. Printed: memory, the engine's pace, trades fed and seen
by the engine (a trade is never lost: a cut is caught up by REST; mark prices sent during a cut
are, by design), orders placed and whether a client order id was sent twice, and the journal's
hash-chain verdict. CI runs a short dry-run version (`tests/runtime/test_live.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from rulebot.core.enums import Market
from rulebot.core.events import MarkPrice, Trade
from rulebot.journal.verify import verify
from rulebot.journal.writer import read_only
from rulebot.runtime import control
from rulebot.testing.fake_binance import FakeBinance

ROOT = Path(__file__).resolve().parents[1]
BOOK = """\
rulebook: soak
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
risk: {daily_loss_cap: 50%}
rules:
  - name: in
    on: trade
    in: flat
    when: price >= 60009
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: out
    on: trade
    in: long
    when: price <= 60001
    do: [exit, {goto: flat}]
"""
D = Decimal


def price(i: int) -> Decimal:
    # Up and down across both thresholds every 22,000 trades: the engine's order budget (at most
    # 120 a minute) is not the limit even though the whole soak takes less than a minute.
    return D(60000) + D((i // 2000) % 11)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def status(run_dir: Path) -> dict:  # type: ignore[type-arg]
    try:
        return await control.request(run_dir, {"cmd": "status"}, timeout=5)
    except (ConnectionError, OSError, TimeoutError):
        return {}


async def trades_seen(run_dir: Path) -> int:
    return int((await status(run_dir)).get("events_by_type", {}).get("Trade", 0))


async def until_seen(run_dir: Path, n: int, bot: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while await trades_seen(run_dir) < n:
        if bot.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the bot stopped or fell behind at {n:,} trades: {await status(run_dir)}")
        await asyncio.sleep(0.05)


async def fault(fake: FakeBinance, n: int) -> str:
    kind = n % 5
    if kind == 0:
        fake.hub.faults.drop_after_messages = 1
        return "socket cut"
    if kind == 1:
        fake.rest_faults.status_503 = 3
        return "503 x3"
    if kind == 2:
        fake.rest_faults.status_429, fake.rest_faults.retry_after_s = 1, 1
        return "429"
    if kind == 3:
        fake.rest_faults.drop_after_execute = 1
        return "answer lost after execute"
    await fake.expire_listen_key()
    return "listen key expired"


async def soak(trades: int, mode: str, fault_every: int, folder: Path) -> int:
    book, run_dir = folder / "soak.yaml", folder / "run"
    book.write_text(BOOK)
    async with FakeBinance(Market.USDM, balances={"USDT": D(100_000)}) as fake:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BINANCE_API_KEY": fake.api_key,
            "BINANCE_API_SECRET": fake.api_secret,
        }
        urls = ["--base-url", fake.rest_url, "--ws-url", fake.ws_url, "--run-dir", str(run_dir), "--no-watch"]
        args = ["run", str(book), "--live"] if mode == "live" else ["dry-run", str(book), "--market", "binance"]
        bot = subprocess.Popen(
            [sys.executable, "-m", "rulebot.cli", *args, *urls],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            while fake.hub.connections < (2 if mode == "live" else 1) or not await status(run_dir):
                if bot.poll() is not None:
                    raise SystemExit("the bot did not start")
                await asyncio.sleep(0.05)
            faults: dict[str, int] = {}
            started = time.perf_counter()
            print(f"{'trades':>9} {'bot RSS MB':>10} {'trades/s':>9} {'orders':>7}")
            for i in range(1, trades + 1):
                px = price(i)
                await fake.feed(Trade("BTCUSDT", px, D("0.01"), 0, i % 2 == 0, i, i, i))
                if i % 50 == 0:
                    await fake.feed(MarkPrice("BTCUSDT", px, px, None, 0, 0))
                    await asyncio.sleep(0)
                if i % 500 == 0:
                    await until_seen(run_dir, i - 2000, bot)  # keep the feed a little ahead, not a flood
                if i % fault_every == 0 and i < trades:
                    what = await fault(fake, i // fault_every)
                    faults[what] = faults.get(what, 0) + 1
                if i % max(1, trades // 10) == 0:
                    await until_seen(run_dir, i, bot)
                    rate = i / (time.perf_counter() - started)
                    print(f"{i:>9,} {rss_mb(bot.pid):>10.1f} {rate:>9,.0f} {fake.orders_placed:>7,}")
            await until_seen(run_dir, trades, bot)
            deadline = time.monotonic() + 10  # the last fault's reconnects and reconciliation
            while (await status(run_dir))["guards"]["streams_down"] and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            final = await status(run_dir)
            await control.request(run_dir, {"cmd": "kill", "policy": "flatten"})
            await asyncio.to_thread(bot.wait, 60)
        finally:
            bot.kill()
        ids = list(fake.placed_ids)
    chain = verify(read_only(run_dir / "journal.sqlite"))
    seen = final["events_by_type"]
    print(f"at the end: states {final['states']}, {len(final['orders'])} orders working, guards {final['guards']}")
    print(f"faults: {', '.join(f'{k} x{v}' for k, v in sorted(faults.items()))}")
    print(
        f"trades fed {trades:,}, seen by the engine {seen.get('Trade', 0):,}; "
        f"mark prices seen {seen.get('MarkPrice', 0):,} of {trades // 50:,}"
    )
    print(f"orders placed {len(ids):,}, client ids sent twice {len(ids) - len(set(ids))}")
    print(f"journal chain: {'ok' if chain.ok else chain}")
    return 0 if seen.get("Trade") == trades and len(ids) == len(set(ids)) and chain.ok else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", type=int, default=100_000)
    ap.add_argument("--mode", choices=["live", "dry-run"], default="live")
    ap.add_argument("--fault-every", type=int, default=5_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(asyncio.run(soak(args.trades, args.mode, args.fault_every, Path(tmp))))


if __name__ == "__main__":
    main()
