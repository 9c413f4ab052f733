"""A full disk: the bot stops trading, cancels what it can and ends with exit code 5 — it used
to print "the bot stopped" and hang forever on the journal's writer thread."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _small_disk(limit: int = 200 * 1024) -> None:  # in the child: writes past it fail as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # the journal's WAL reaches it first


def _dry_run(run_dir: Path, hours: int) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable,
        "-m",
        "rulebot.cli",
        "dry-run",
        str(ROOT / "rules/ema-trend-btc.yaml"),
        "--hours",
        str(hours),
        "--no-watch",
        "--run-dir",
        str(run_dir),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, preexec_fn=_small_disk)


def test_a_full_disk_ends_the_bot_with_exit_code_5_instead_of_hanging(tmp_path):
    run = _dry_run(tmp_path / "run", 240)
    assert run.returncode == 5, run.stderr
    assert "cannot be written" in run.stderr and "is the disk full?" in run.stderr
    assert "nothing more was sent" in run.stderr and "Traceback" not in run.stderr
    verified = subprocess.run(
        [sys.executable, "-m", "rulebot.cli", "audit", "-j", str(tmp_path / "run/journal.sqlite"), "verify"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert verified.returncode == 0, verified.stdout  # what was written before the disk filled is whole


LIMIT_ENTRY = """\
rulebook: disk-full
market: usdm
symbols: [BTCUSDT]
account: {leverage: 2}
rules:
  - name: bid
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01", order: limit, price: "price * 0.9"}}]
"""


async def test_a_full_disk_in_a_live_run_cancels_the_working_entry_and_exits_5(tmp_path):
    import asyncio
    from decimal import Decimal

    from rulebot.core.enums import Market, OrderStatus
    from rulebot.core.events import Trade
    from rulebot.testing.fake_binance import FakeBinance

    book = tmp_path / "book.yaml"
    book.write_text(LIMIT_ENTRY)
    async with FakeBinance(Market.USDM) as fake:
        keys = tmp_path / "keys"
        keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
        keys.chmod(0o600)
        args = [
            sys.executable,
            "-m",
            "rulebot.cli",
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
            str(tmp_path / "run"),
            "--no-watch",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, "PYTHONPATH": str(ROOT)},
            preexec_fn=lambda: _small_disk(400 * 1024),
        )

        async def trades() -> None:
            for i in range(1, 100_000):
                await fake.feed(Trade("BTCUSDT", Decimal(60000), Decimal("0.01"), 0, True, i))
                await asyncio.sleep(0.005)

        feeder = asyncio.create_task(trades())
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            feeder.cancel()
        assert fake.placed_ids, err.decode()
        entry = fake.sim.order("BTCUSDT", fake.placed_ids[0])
    text = err.decode()
    assert proc.returncode == 5, text
    assert entry is not None and entry.status is OrderStatus.CANCELED  # cancelled, though unjournaled
    assert "cancelled 1 working entry" in text and "Traceback" not in text, (text, fake.placed_ids)
