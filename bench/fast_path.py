"""The fast backtest path against the event path, on synthetic 1m candles (issue 14).

    python bench/fast_path.py                     # 1, 3 and 12 months, both paths, whole processes
    python bench/fast_path.py --months 12 --paths fast

Generates N monthly archive files of synthetic BTCUSDT 1m candles (a random walk), writes an
EMA 12/26 cross rulebook that is always in the market, and runs `rulebot backtest --format json`
on them as a whole process per path, printing wall time, trades, peak RSS and whether the two
paths' summaries are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

START_MS = 1_717_200_000_000  # 2024-06-01 00:00 UTC
MONTH_DAYS = 30  # synthetic months: 30 days each, so 12 of them are 360 days

EMA_CROSS = """\
rulebook: ema-cross-always-in
market: usdm
symbols: [BTCUSDT]
account: {margin: isolated, leverage: 2}
timeframes: [1m]
indicators:
  fast: ema(close@1m, 12)
  slow: ema(close@1m, 26)
states:
  flat: {position: none}
  long: {position: long}
  short: {position: short}
rules:
  - name: go-long
    on: candle_close 1m
    in: flat
    when: fast > slow
    priority: 1
    do: [{enter: {side: long, size: 0.05}}, {goto: long}]
  - name: go-short
    on: candle_close 1m
    in: flat
    when: fast < slow
    do: [{enter: {side: short, size: 0.05}}, {goto: short}]
  - name: long-to-short
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {goto: flat}]
  - name: short-to-long
    on: candle_close 1m
    in: short
    when: crossover(fast, slow)
    do: [exit, {goto: flat}]
"""


def write_months(folder: Path, months: int, seed: int = 11) -> Path:
    """`months` monthly archive files of BTCUSDT 1m klines, a random walk around 60000."""
    rng = random.Random(seed)
    base = folder / "futures/um/monthly/klines/BTCUSDT/1m"
    base.mkdir(parents=True, exist_ok=True)
    header = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
        "taker_buy_quote_volume,ignore\n"
    )
    price = 60_000.0
    t = START_MS
    for m in range(months):
        rows: list[str] = []
        for _ in range(MONTH_DAYS * 1440):
            o = price
            c = max(1000.0, o * (1 + rng.gauss(0, 0.0009)))
            h = max(o, c) * (1 + abs(rng.gauss(0, 0.0004)))
            lo = min(o, c) * (1 - abs(rng.gauss(0, 0.0004)))
            v = rng.uniform(20, 200)
            rows.append(
                f"{t},{o:.1f},{h:.1f},{lo:.1f},{c:.1f},{v:.3f},{t + 59_999},{v * c:.2f},"
                f"{int(v * 10)},{v / 2:.3f},{v * c / 2:.2f},0\n"
            )
            price = c
            t += 60_000
        name = f"BTCUSDT-1m-{2024 + (5 + m) // 12}-{(5 + m) % 12 + 1:02d}"
        with zipfile.ZipFile(base / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}.csv", header + "".join(rows))
    return base


def run(rulebook: Path, data: Path, path: str) -> tuple[float, float, float, dict[str, object], str]:
    """One whole `rulebot backtest` process: wall and CPU seconds, peak RSS (MB), its JSON summary."""
    # A wallet far above the fees of a year of flips keeps the rulebook in the market all year.
    cmd = [
        sys.executable,
        "-m",
        "rulebot.cli",
        "backtest",
        str(rulebook),
        "--data",
        str(data),
        "--format",
        "json",
        "--balance",
        "1000000",
    ]
    if path != "default":
        cmd += ["--path", path]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"})
    secs = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return secs, cpu, after.ru_maxrss / 1024, json.loads(out.stdout), out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--months", type=int, nargs="*", default=[1, 3, 12])
    ap.add_argument("--paths", nargs="*", default=["event", "fast"])
    ap.add_argument("--keep", type=Path, help="generate the data here (and reuse it) rather than in a temp folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        rulebook = root / "ema-cross.yaml"
        root.mkdir(parents=True, exist_ok=True)
        rulebook.write_text(EMA_CROSS, encoding="utf-8")
        for months in args.months:
            folder = root / f"m{months}"
            if not folder.exists():
                write_months(folder, months)
            summaries: dict[str, str] = {}
            for path in args.paths:
                secs, cpu, rss, doc, raw = run(rulebook, folder, path)
                summaries[path] = "\n".join(line for line in raw.splitlines() if '"path' not in line)
                bars = months * MONTH_DAYS * 1440
                print(
                    f"{months:>2} months {bars:>8,} bars  --path {path:<5} {secs:7.2f} s wall {cpu:7.2f} s CPU  "
                    f"{bars / secs:>9,.0f} bars/s  trades {doc.get('trades')}  peak RSS {rss:.0f} MB  "
                    f"({doc.get('path', '')})",
                    flush=True,
                )
            if len(set(summaries.values())) > 1:
                print(f"   summaries DIFFER between {', '.join(summaries)}", flush=True)
            elif len(summaries) > 1:
                print("   summaries identical (apart from the path line)", flush=True)


if __name__ == "__main__":
    main()
