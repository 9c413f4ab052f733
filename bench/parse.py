"""Parse rate of the archive replay: N aggTrades rows in Binance's format, read back as events.

    python bench/parse.py --rows 2000000
    python bench/parse.py --data /work/coord/benchdata/futures   # the bare feed of files already there

Prints rows/s for the bare csv read (the floor no parser beats), for `read_events` on the
file, and for `ReplaySource` (the same file through the time-ordered merge the engine sees).
With --data, only the bare feed of those files (a year of 1m candles: bench/peers.py's data):
`ReplaySource` iterated and counted, wall and CPU seconds and microseconds per event, best of
--rounds (CPU time moves less than wall time on a shared machine).
"""

from __future__ import annotations

import csv
import io
import random
import tempfile
import time
import zipfile
from pathlib import Path

import click

from rulebot.feeds.replay import ReplaySource, read_events
from rulebot.feeds.replay_files import open_text

SYMBOL = "BTCUSD_PERP"
NAME = f"{SYMBOL}-aggTrades-2026-05-08"
HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"


def write_agg_trades(folder: Path, rows: int, seed: int = 7) -> Path:
    """A zip laid out like the archive's, with a random walk of aggregate trades."""
    rng = random.Random(seed)
    path = folder / "futures/cm/daily/aggTrades" / SYMBOL / f"{NAME}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    ticks, agg_id, trade_id = 799_728, 480_537_903, 1_123_474_160
    t = 1_778_198_400_020
    day_ms = 86_400_000 - 100
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(f"{NAME}.csv", "w") as raw,
    ):
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        out.write(HEADER)
        chunk: list[str] = []
        for i in range(rows):
            ticks += rng.choice((-1, 0, 0, 1))
            n = rng.randint(1, 5)
            t_row = t + i * day_ms // rows
            maker = "true" if rng.random() < 0.5 else "false"
            chunk.append(
                f"{agg_id},{ticks // 10}.{ticks % 10},{rng.randint(1, 900)}.0,"
                f"{trade_id},{trade_id + n - 1},{t_row},{maker}\n"
            )
            agg_id += 1
            trade_id += n
            if len(chunk) == 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
        out.flush()
        out.detach()
    return path


def _timed(label: str, rows: int, count: int, seconds: float) -> None:
    assert count == rows, f"{label}: read {count} rows, wrote {rows}"
    click.echo(f"{label:<28} {count:>10,} rows  {seconds:7.2f} s  {count / seconds:>10,.0f} rows/s")


def feed(data: tuple[str, ...], rounds: int) -> None:
    """The bare feed: a replay of the files iterated and counted, nothing else."""
    best_wall = best_cpu = float("inf")
    count = 0
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        count = sum(1 for _ in ReplaySource(list(data)))
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    click.echo(
        f"ReplaySource (bare feed)   {count:>10,} events  wall {best_wall:6.2f} s  cpu {best_cpu:6.2f} s  "
        f"{best_cpu / max(count, 1) * 1e6:5.2f} us/event (cpu, best of {rounds})"
    )


@click.command()
@click.option("--rows", default=2_000_000, show_default=True, help="aggTrades rows to generate")
@click.option("--data", multiple=True, help="archive files or folders: time their bare feed instead")
@click.option("--rounds", default=3, show_default=True, help="with --data: rounds, the best is printed")
def main(rows: int, data: tuple[str, ...], rounds: int) -> None:
    if data:
        feed(data, rounds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        path = write_agg_trades(Path(tmp), rows)
        click.echo(
            f"wrote {path.name}: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB zipped "
            f"in {time.perf_counter() - began:.1f} s"
        )

        began = time.perf_counter()
        with open_text(path) as text:
            count = sum(1 for _ in csv.reader(text)) - 1
        _timed("csv.reader only (floor)", rows, count, time.perf_counter() - began)

        began = time.perf_counter()
        count = sum(1 for _ in read_events(path))
        _timed("read_events -> Trade", rows, count, time.perf_counter() - began)

        began = time.perf_counter()
        count = sum(1 for _ in ReplaySource(tmp))
        _timed("ReplaySource (merged)", rows, count, time.perf_counter() - began)


if __name__ == "__main__":
    main()
