"""Journal speed: rows per second of the writer, and what journaling costs a backtest.

    python bench/journal.py                  # 1,000,000 aggTrades through bench/replay.py's rulebook
    python bench/journal.py --rows 300000    # quicker

Prints (1) rows/s of the batched writer on its own (decision + verdict steps), and (2) the
backtest of bench/replay.py with the journal off and on, on the same generated aggTrades,
and the slowdown (target: at most 1.5x).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replay

from rulebot.backtest.api import _run
from rulebot.backtest.runner import BacktestConfig
from rulebot.core.enums import Market
from rulebot.engine import records as rec
from rulebot.engine.risk import Verdict
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource
from rulebot.journal.encode import Row, to_row
from rulebot.journal.writer import SyncJournal
from rulebot.rulebook.compiler import compile_text


def _row(obj: object) -> Row:
    row = to_row(obj)
    assert row is not None
    return row


def writer_rate(folder: Path, steps: int) -> float:
    sink = SyncJournal(folder / "rate.journal", "bench")
    started = time.perf_counter()
    for i in range(steps):
        sink.append(
            _row(rec.Decision(i, "BTCUSDT", "enter", "trade", "flat", {"price": 60000.5, "rsi": 31.2}, True, "v"))
        )
        sink.append(
            _row(
                rec.GuardRecord(
                    i,
                    "BTCUSDT",
                    "enter",
                    "enter long 0.01 market",
                    (Verdict("allow", "max_leverage", "within", Decimal("0.01")),),
                    f"c{i}",
                )
            )
        )
        sink.end_step()
    sink.close()
    return 2 * steps / (time.perf_counter() - started)


def run(paths: list[Path], journal: Path | None) -> tuple[float, int]:
    book = compile_text(replay.RULEBOOK, "bench.yaml")
    started = time.perf_counter()
    result = _run(
        book,
        ReplaySource(paths),
        builtin_instruments(Market.USDM),
        builtin_brackets(Market.USDM),
        BacktestConfig(),
        None,
        None,
        journal,
        "backtest",
        "bench",
    )
    return time.perf_counter() - started, result.events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rate = writer_rate(folder, 100_000)
        print(f"writer             {rate:>12,.0f} rows/s (decision + verdict per step, batched, WAL, hash-chained)")
        paths = replay.write_agg_trades(folder / "data", args.rows)
        off, events = run(paths, None)
        print(f"backtest, no journal  {events:>10,} events {off:7.2f}s {events / off:>11,.0f} events/s")
        path = folder / "bt.journal"
        on, events = run(paths, path)
        rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        print(
            f"backtest, journal on  {events:>10,} events {on:7.2f}s {events / on:>11,.0f} events/s  "
            f"{rows:,} rows journaled"
        )
        print(f"journaling slows the backtest {on / off:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
