"""Replay speed: the whole backtest pipeline against the bare parse of the same rows.

    python bench/replay.py                 # 2,000,000 aggTrades + one year of 1m candles
    python bench/replay.py --rows 500000   # quicker

Generates files in Binance's archive format in a temporary folder, then measures, in one
run: (1) a loop that only parses the rows into events (the columnar parser replays use, and the
csv row parser it falls back to, for comparison), (2) the backtest of a ten-rule
rulebook over the same rows (engine, guards, order manager and the exchange simulator with
paper fills), (3) a one-year backtest on 1m candles, and (4) peak memory at half and at full
size, to show that replay streams rather than loads.
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from rulebot.backtest.runner import BacktestConfig, run_backtest
from rulebot.core.enums import Market
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.feeds.replay import ReplaySource, describe
from rulebot.feeds.replay_files import parse_rows
from rulebot.rulebook.compiler import compile_file, compile_text

DAY_MS = 86_400_000
START_MS = 1_717_200_000_000  # 2024-06-01 00:00 UTC

RULEBOOK = """\
rulebook: bench-ten-rules
market: usdm
symbols: [BTCUSDT]
timeframes: [1m, 5m, 15m]
params: {fast: 12, slow: 26, risk: 0.01}
indicators:
  ema_fast: ema(close@5m, fast)
  ema_slow: ema(close@5m, slow)
  rsi: rsi(close@1m, 14)
  atr: atr(15m, 14)
  vol: stdev(returns@1m, 30)
  vol_base: sma(vol, 120)
  bb: bbands(close@15m, 20, 2)
rules:
  - name: enter-long
    on: candle_close 5m
    in: flat
    when: crossover(ema_fast, ema_slow) and rsi < 70
    priority: 1
    do:
      - enter: {side: long, size: "risk * equity / (2 * atr)"}
      - stop_loss: {price: "entry_price - 2 * atr"}
      - trailing_stop: {callback: 1%}
      - goto: long
  - name: enter-short
    on: candle_close 5m
    in: flat
    when: crossunder(ema_fast, ema_slow) and rsi > 30
    do:
      - enter: {side: short, size: "risk * equity / (2 * atr)"}
      - stop_loss: {price: "entry_price + 2 * atr"}
      - goto: short
  - name: exit-long
    on: candle_close 5m
    in: long
    when: ema_fast < ema_slow
    do: [exit, {cancel: all}, {goto: flat}]
  - name: exit-short
    on: candle_close 5m
    in: short
    when: ema_fast > ema_slow
    do: [exit, {cancel: all}, {goto: flat}]
  - name: take-stretch
    on: trade
    in: long
    when: price > bb.upper and upnl > 0
    do: [{reduce: {by: 50%}}]
  - name: cover-stretch
    on: trade
    in: short
    when: price < bb.lower and upnl > 0
    do: [{reduce: {by: 50%}}]
  - name: panic-volatility
    on: trade
    in: [long, short]
    when: vol > 4 * vol_base
    do: [{deleverage: {to: 1}}]
  - name: closed
    on: position_closed
    in: [long, short]
    do: [{cancel: all}, {goto: flat}]
  - name: hourly
    on: every 1h
    do: [{log: "equity {equity}"}]
  - name: daily
    on: cron "0 0 * * *"
    do: [{log: "daily pnl {daily_pnl}"}]
"""


def write_agg_trades(folder: Path, rows: int, seed: int = 7) -> list[Path]:
    """USDT-M BTCUSDT aggTrades, one archive file per day, a random walk around 60000."""
    rng = random.Random(seed)
    per_day = 2_000_000
    ticks, agg_id, trade_id = 600_000, 1_000_000, 5_000_000
    paths: list[Path] = []
    done = 0
    day = 0
    while done < rows:
        n = min(per_day, rows - done)
        date = time.strftime("%Y-%m-%d", time.gmtime((START_MS + day * DAY_MS) / 1000))
        name = f"BTCUSDT-aggTrades-{date}"
        path = folder / "futures/um/daily/aggTrades/BTCUSDT" / f"{name}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(f"{name}.csv", "w") as raw:
            out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            out.write("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n")
            chunk: list[str] = []
            t0 = START_MS + day * DAY_MS
            for i in range(n):
                ticks += rng.choice((-3, -1, 0, 0, 1, 3))
                k = rng.randint(1, 4)
                chunk.append(
                    f"{agg_id},{ticks // 10}.{ticks % 10},{rng.randint(1, 400) / 1000:.3f},{trade_id},"
                    f"{trade_id + k - 1},{t0 + i * (DAY_MS - 1) // n},{'true' if rng.random() < 0.5 else 'false'}\n"
                )
                agg_id += 1
                trade_id += k
                if len(chunk) == 20_000:
                    out.write("".join(chunk))
                    chunk.clear()
            out.write("".join(chunk))
            out.flush()
            out.detach()
        paths.append(path)
        done += n
        day += 1
    return paths


def write_year_of_1m(folder: Path, seed: int = 11) -> Path:
    """365 days of BTCUSDT 1m klines as monthly archive files."""
    rng = random.Random(seed)
    base = folder / "futures/um/monthly/klines/BTCUSDT/1m"
    base.mkdir(parents=True, exist_ok=True)
    price = 60_000.0
    t = START_MS
    end = START_MS + 365 * DAY_MS
    month_rows: dict[str, list[str]] = {}
    while t < end:
        o = price
        c = max(1000.0, o * (1 + rng.gauss(0, 0.0009)))
        h = max(o, c) * (1 + abs(rng.gauss(0, 0.0004)))
        lo = min(o, c) * (1 - abs(rng.gauss(0, 0.0004)))
        v = rng.uniform(20, 200)
        key = time.strftime("%Y-%m", time.gmtime(t / 1000))
        month_rows.setdefault(key, []).append(
            f"{t},{o:.1f},{h:.1f},{lo:.1f},{c:.1f},{v:.3f},{t + 59_999},{v * c:.2f},"
            f"{int(v * 10)},{v / 2:.3f},{v * c / 2:.2f},0\n"
        )
        price = c
        t += 60_000
    header = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
        "taker_buy_quote_volume,ignore\n"
    )
    for key, rows in month_rows.items():
        name = f"BTCUSDT-1m-{key}"
        with zipfile.ZipFile(base / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}.csv", header + "".join(rows))
    return base


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


RULES_DIR = Path(__file__).resolve().parents[1] / "rules"


def backtest(paths: list[Path] | Path, rulebook: Path | None = None) -> tuple[int, float, int]:
    book = compile_file(str(rulebook)) if rulebook is not None else compile_text(RULEBOOK, "bench.yaml")
    source = ReplaySource(paths if isinstance(paths, Path) else list(paths))
    source.trade_runs = True  # as `rulebot backtest` reads them (feeds/trade_runs.py)
    started = time.perf_counter()
    result = run_backtest(
        book, source, builtin_instruments(Market.USDM), builtin_brackets(Market.USDM), BacktestConfig()
    )
    return result.events, time.perf_counter() - started, len(result.fills)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--skip-year", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        half = write_agg_trades(folder / "half", args.rows // 2)
        full = write_agg_trades(folder / "full", args.rows)
        print(f"generated {args.rows:,} aggTrades (+{args.rows // 2:,}) in {time.perf_counter() - t:.1f}s")

        started, cpu = time.perf_counter(), time.process_time()
        rows = sum(1 for path in full for _ in parse_rows(describe(path)))
        rows_s, rows_cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"row parser (csv) {rows:>11,} events {rows_s:7.2f}s {rows / rows_s:>11,.0f} events/s"
            f"  (CPU {rows_cpu:.2f}s, {rows / rows_cpu:,.0f}/s)"
        )
        started, cpu = time.perf_counter(), time.process_time()
        parsed = sum(1 for _ in ReplaySource(list(full)))
        parse_s, parse_cpu = time.perf_counter() - started, time.process_time() - cpu
        parse_rate = parsed / parse_s
        print(
            f"bare parse        {parsed:>10,} events {parse_s:7.2f}s {parse_rate:>11,.0f} events/s"
            f"  (CPU {parse_cpu:.2f}s, {parsed / parse_cpu:,.0f}/s; columnar: "
            f"{rows_cpu / parse_cpu:.2f}x the row parser)"
        )

        events, secs, fills = backtest(half)
        rss_half = peak_rss_mb()
        print(
            f"backtest (half)   {events:>10,} events {secs:7.2f}s {events / secs:>11,.0f} events/s  "
            f"peak RSS {rss_half:.0f} MB"
        )
        cpu = time.process_time()
        events, secs, fills = backtest(full)
        cpu = time.process_time() - cpu
        rss_full = peak_rss_mb()
        rate = events / secs
        print(
            f"backtest (full)   {events:>10,} events {secs:7.2f}s {rate:>11,.0f} events/s  "
            f"(CPU {cpu:.2f}s, {events / cpu:,.0f}/s)  peak RSS {rss_full:.0f} MB  fills {fills}"
        )
        print(
            f"the backtest keeps {rate / parse_rate:.2f} of the bare parse rate "
            f"({(events / cpu) / (parsed / parse_cpu):.2f} in CPU time; issue 14's goal: >= 0.5); "
            f"peak memory {rss_half:.0f} MB at half size, {rss_full:.0f} MB at full size"
        )

        if not args.skip_year:
            t = time.perf_counter()
            year = write_year_of_1m(folder / "year")
            print(f"generated one year of 1m candles in {time.perf_counter() - t:.1f}s")
            events, secs, fills = backtest(year)
            print(
                f"1m candles, 1 year {events:>9,} events {secs:7.2f}s {events / secs:>11,.0f} events/s  fills {fills}"
                "  (the ten-rule rulebook above)"
            )
            events, secs, fills = backtest(year, RULES_DIR / "ema-trend-btc.yaml")
            print(
                f"1m candles, 1 year {events:>9,} events {secs:7.2f}s {events / secs:>11,.0f} events/s  fills {fills}"
                "  (rules/ema-trend-btc.yaml)"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
