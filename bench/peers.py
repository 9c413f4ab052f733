"""rulebot against its peers, in one run: the same strategy, the same CSV data, whole processes.

    python bench/peers.py                      # a year of 1m candles + 2,000,000 aggTrades
    python bench/peers.py --months 1,3,12      # cost against the length of the data (linear?)
    python bench/peers.py --rounds 3           # each run three times, alternating; best and median
    pip install -e '.[bench]'                  # installs the peers (backtesting.py, nautilus_trader)

Generates Binance archive files in their real layout and column order (one year of synthetic 1m
candles as 12 monthly zip files, 2,000,000 aggTrades as one daily zip file), then times, as whole
processes started from nothing (import, reading the CSV data, the run; after one untimed warm-up run of
each, so that every engine has its bytecode caches and the data is in the page cache):

- `rulebot backtest` on an EMA 12/26 cross rulebook that is always in the market: long while the
  fast EMA is above the slow one, short while below, reversing on each cross;
- the same strategy in backtesting.py (pandas reads the same zip CSVs; aggTrades are resampled
  into 1m bars, as rulebot builds its 1m candles from them);
- the same strategy in nautilus_trader (its BacktestEngine; klines become Bars, aggTrades become
  TradeTicks that its own aggregator builds into 1m bars).

`--strategy quiet` runs the same indicators and the same tests on every bar, with thresholds no bar
meets (fast above 1000 times slow, or below a thousandth of it): nothing trades, so it measures each
engine's cost per bar alone, apart from its cost per trade (rulebot simulates each order on a
Binance-compatible exchange in exact decimals; backtesting.py fills at the next open in floats).
`--strategy band:S` (e.g. `band:1.002`) is the same rulebook with a band: long above slow * S, short
below slow / S. The wider the band, the fewer the trades on the same bars: a few runs show where
each engine's cost of a trade overtakes its cost of a bar.

Engines alternate (rulebot, peer, peer, rulebot, ...) so that a change in the machine's load hits
all of them alike. A peer that is not installed is skipped with a note. Prints, for each run:
wall time, trades, peak RSS of the process; and the ratio of each peer's time to rulebot's
(above 1: rulebot is faster).
"""

from __future__ import annotations

import argparse
import calendar
import io
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

DAY_MS = 86_400_000
YEAR = 2023  # 365 days: 525,600 one-minute bars
SYMBOL = "BTCUSDT"
FAST, SLOW = 12, 26
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n"
)
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"

# Always in the market: the first ready bar takes the side of the EMAs, each cross reverses.
_HEAD = f"""\
rulebook: bench-ema-cross
description: EMA {FAST}/{SLOW} cross on 1m closes, always in the market (bench/peers.py)
market: usdm
symbols: [{SYMBOL}]
timeframes: [1m]
indicators:
  fast: ema(close@1m, {FAST})
  slow: ema(close@1m, {SLOW})
rules:
  - name: start-long
    on: candle_close 1m
    in: flat
    when: fast > slow
    priority: 1
    do: [{{enter: {{side: long, size: 0.01}}}}, {{goto: long}}]
  - name: start-short
    on: candle_close 1m
    in: flat
    when: fast < slow
    do: [{{enter: {{side: short, size: 0.01}}}}, {{goto: short}}]
"""
# Stop-and-reverse in one rule, where the rulebook language allows it (issue 16)...
RULEBOOK = (
    _HEAD
    + """\
  - name: reverse-to-short
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {enter: {side: short, size: 0.01}}, {goto: short}]
  - name: reverse-to-long
    on: candle_close 1m
    in: short
    when: crossover(fast, slow)
    do: [exit, {enter: {side: long, size: 0.01}}, {goto: long}]
"""
)
# ...else exit on the cross and enter the other side on the next close (one bar later).
RULEBOOK_TWO_STEP = (
    _HEAD
    + """\
  - name: exit-long
    on: candle_close 1m
    in: long
    when: crossunder(fast, slow)
    do: [exit, {goto: flat}]
  - name: exit-short
    on: candle_close 1m
    in: short
    when: crossover(fast, slow)
    do: [exit, {goto: flat}]
"""
)


# --strategy quiet: the same indicators and tests, thresholds no bar meets (nothing trades).
QUIET_SCALE = 1000


def scale_of(strategy: str) -> float:
    """How far the band around the slow average reaches: 1 for the plain cross; --strategy quiet puts
    it out of reach; --strategy band:S (S > 1) goes long above slow * S and short below slow / S,
    so fewer trades the wider S is (the cost of a trade, apart from the cost of a bar)."""
    if strategy == "quiet":
        return QUIET_SCALE
    if strategy == "cross":
        return 1.0
    if not strategy.startswith("band:"):
        raise SystemExit(f"--strategy {strategy}: choose cross, quiet or band:S")
    scale = float(strategy.removeprefix("band:"))
    if not scale > 1:
        raise SystemExit(f"--strategy {strategy}: the band's scale must be above 1, e.g. band:1.002")
    return scale


def quiet_rulebook(text: str, scale: float = QUIET_SCALE) -> str:
    """The rulebook with every test of fast against slow scaled by `scale` (out of reach: quiet)."""
    for was, now in (
        ("fast > slow", f"fast > slow * {scale}"),
        ("fast < slow", f"fast < slow / {scale}"),
        ("crossunder(fast, slow)", f"crossunder(fast, slow / {scale})"),
        ("crossover(fast, slow)", f"crossover(fast, slow * {scale})"),
    ):
        assert was in text, was
        text = text.replace(was, now)
    what = "never trades (--strategy quiet)" if scale == QUIET_SCALE else f"a band of x{scale} around slow"
    return text.replace("always in the market", what)


def rulebook_text(strategy: str = "cross") -> tuple[str, str]:
    """The rulebook this rulebot accepts, and a note when it is the two-step one."""
    text, note = _rulebook_text()
    scale = scale_of(strategy)
    return (quiet_rulebook(text, scale) if scale != 1 else text), note


def _rulebook_text() -> tuple[str, str]:
    from rulebot.rulebook.compiler import compile_text
    from rulebot.rulebook.errors import RulebookError

    try:
        compile_text(RULEBOOK, "ema-cross.yaml")
    except RulebookError as exc:
        why = next((d.message for d in exc.diagnostics if d.is_error), str(exc))
        return RULEBOOK_TWO_STEP, (
            f"note: this rulebot refuses stop-and-reverse in one rule ({why}); "
            "the rulebook exits on the cross and enters the other side on the next close"
        )
    return RULEBOOK, ""


# --- data ---------------------------------------------------------------------------------------


def month_start_ms(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def write_klines(folder: Path, months: int, seed: int = 11, days: int | None = None) -> list[Path]:
    """`months` monthly archive files of 1m BTCUSDT klines from January of YEAR, a random walk
    (only the first `days` days of each month if given: for a quick try)."""
    rng = random.Random(seed)
    gauss, uniform = rng.gauss, rng.uniform
    base = folder / f"futures/um/monthly/klines/{SYMBOL}/1m"
    base.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    price = 20_000.0
    for m in range(months):
        year, month = YEAR + m // 12, m % 12 + 1
        t, end = month_start_ms(year, month), month_start_ms(year + month // 12, month % 12 + 1)
        if days is not None:
            end = min(end, t + days * DAY_MS)
        rows: list[str] = [KLINE_HEADER]
        while t < end:
            o = price
            c = max(1000.0, o * (1 + gauss(0, 0.0009)))
            h = max(o, c) * (1 + abs(gauss(0, 0.0004)))
            lo = min(o, c) * (1 - abs(gauss(0, 0.0004)))
            v = uniform(20, 200)
            rows.append(
                f"{t},{o:.1f},{h:.1f},{lo:.1f},{c:.1f},{v:.3f},{t + 59_999},{v * c:.2f},"
                f"{int(v * 10)},{v / 2:.3f},{v * c / 2:.2f},0\n"
            )
            price = float(f"{c:.1f}")
            t += 60_000
        name = f"{SYMBOL}-1m-{year}-{month:02d}"
        path = base / f"{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}.csv", "".join(rows))
        paths.append(path)
    return paths


def write_agg_trades(folder: Path, rows: int, seed: int = 7) -> Path:
    """One daily archive file of `rows` BTCUSDT aggTrades spread over the day, a random walk."""
    rng = random.Random(seed)
    choice, randint, rand = rng.choice, rng.randint, rng.random
    t0 = month_start_ms(YEAR, 1)
    name = f"{SYMBOL}-aggTrades-{YEAR}-01-01"
    path = folder / f"futures/um/daily/aggTrades/{SYMBOL}/{name}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    ticks, agg_id, trade_id = 200_000, 1_000_000, 5_000_000
    steps = (-3, -1, 0, 0, 1, 3)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(f"{name}.csv", "w") as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        out.write(AGG_HEADER)
        chunk: list[str] = []
        for i in range(rows):
            ticks += choice(steps)
            k = randint(1, 4)
            chunk.append(
                f"{agg_id},{ticks // 10}.{ticks % 10},{randint(1, 400) / 1000:.3f},{trade_id},{trade_id + k - 1},"
                f"{t0 + i * (DAY_MS - 1) // rows},{'true' if rand() < 0.5 else 'false'}\n"
            )
            agg_id += 1
            trade_id += k
            if len(chunk) == 50_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
        out.flush()
        out.detach()
    return path


# --- the peers, each run in its own process by `--worker NAME FILES...` --------------------------
# Each worker prints one JSON line last: {"trades": N}.


def _read_klines_pandas(files: list[str]):  # type: ignore[no-untyped-def]
    import pandas as pd

    cols = ["open_time", "open", "high", "low", "close", "volume"]
    df = pd.concat([pd.read_csv(f, usecols=cols) for f in files], ignore_index=True)
    df.index = pd.to_datetime(df.pop("open_time"), unit="ms")
    return df.rename(columns=str.capitalize)


def _read_agg_bars_pandas(files: list[str]):  # type: ignore[no-untyped-def]
    import pandas as pd

    df = pd.concat([pd.read_csv(f, usecols=["price", "quantity", "transact_time"]) for f in files], ignore_index=True)
    df.index = pd.to_datetime(df.pop("transact_time"), unit="ms")
    bars = df["price"].resample("1min").ohlc()
    bars["volume"] = df["quantity"].resample("1min").sum()
    return bars.dropna().rename(columns=str.capitalize)


def worker_backtesting(kind: str, files: list[str], strategy: str = "cross") -> int:
    import warnings

    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    warnings.filterwarnings("ignore")
    scale = scale_of(strategy)
    data = _read_klines_pandas(files) if kind == "klines" else _read_agg_bars_pandas(files)

    def ema(values, span):  # type: ignore[no-untyped-def]
        return pd.Series(values).ewm(span=span, adjust=False).mean().to_numpy()

    class EmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(ema, self.data.Close, FAST)
            self.slow = self.I(ema, self.data.Close, SLOW)

        def next(self) -> None:
            # exclusive_orders: each new order first closes the position it reverses.
            if crossover(self.fast, self.slow) or (not self.position and self.fast[-1] > self.slow[-1]):
                self.buy(size=1)
            elif crossover(self.slow, self.fast) or (not self.position and self.fast[-1] < self.slow[-1]):
                self.sell(size=1)

    class EmaQuiet(Strategy):  # type: ignore[misc]
        """--strategy quiet or band:S: the same tests, against the slow average scaled (out of reach)."""

        def init(self) -> None:
            self.fast = self.I(ema, self.data.Close, FAST)
            self.up = self.I(lambda c: ema(c, SLOW) * scale, self.data.Close)
            self.down = self.I(lambda c: ema(c, SLOW) / scale, self.data.Close)

        def next(self) -> None:
            # A band (scale > 1) can be crossed again on the side already held (up while long): the
            # rulebook reverses only from the other side, so must this (exclusive_orders would close the
            # long and buy it again, a trade the others do not make).
            pos = self.position
            if (crossover(self.fast, self.up) and not pos.is_long) or (not pos and self.fast[-1] > self.up[-1]):
                self.buy(size=1)
            elif (crossover(self.down, self.fast) and not pos.is_short) or (not pos and self.fast[-1] < self.down[-1]):
                self.sell(size=1)

    bt = Backtest(
        data,
        EmaQuiet if scale != 1 else EmaCross,
        cash=100_000_000,
        commission=0.0005,
        exclusive_orders=True,
        finalize_trades=True,
    )
    stats = bt.run()
    return int(stats["# Trades"])


def worker_nautilus(kind: str, files: list[str], strategy: str = "cross") -> int:
    from peers_nautilus import run_nautilus  # bench/ is the worker's sys.path[0]

    return int(run_nautilus(kind, files, FAST, SLOW, scale_of(strategy)))


WORKERS = {"backtesting": worker_backtesting, "nautilus": worker_nautilus}
PEER_MODULES = {"backtesting": "backtesting", "nautilus": "nautilus_trader"}
PEER_NAMES = {"backtesting": "backtesting.py", "nautilus": "nautilus_trader", "rulebot": "rulebot"}


# --- running and timing -------------------------------------------------------------------------


@dataclass
class Runs:
    engine: str
    data: str
    times: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process
    trades: int | None = None
    note: str = ""


def installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v

    try:
        return v({"backtesting": "backtesting", "nautilus_trader": "nautilus_trader"}.get(module, module))
    except PackageNotFoundError:
        return "?"


# Every engine runs as a user's machine runs it: with Python's bytecode caches. An environment that sets
# PYTHONDONTWRITEBYTECODE (some containers do) would make an editable checkout, rulebot here, compile its
# sources on every run while the peers' wheels were compiled at install time.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, float, str, str, int]:
    """Run a whole process; its wall time, CPU time (user + system: what a busy machine inflates
    the least), its own peak RSS (MB), stdout, stderr, exit code."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=CHILD_ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return secs, cpu, usage.ru_maxrss / 1024, out.read().decode(), err.read().decode(), proc.returncode


def rulebot_cmd(rulebook: Path, files: list[Path], extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "rulebot.cli", "backtest", str(rulebook), "--format", "json", *extra]
    for f in files:
        cmd += ["--data", str(f)]
    return cmd


def rulebot_trades(stdout: str) -> int | None:
    """Closed round trips in the JSON summary (the peers count closed trades too)."""
    try:
        summary = json.loads(stdout)
    except ValueError:
        return None
    for key in ("trades", "round_trips", "closed_trades"):
        value = summary.get(key)
        if isinstance(value, int):
            return value
        if isinstance(value, list):
            return len(value)
    return None


def run_one(
    engine: str, kind: str, files: list[Path], rulebook: Path, root: Path, extra: list[str], strategy: str = "cross"
) -> tuple[float, float, float, int | None]:
    if engine == "rulebot":
        cmd = rulebot_cmd(rulebook, files, extra)
    else:
        worker = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, kind, strategy]
        cmd = [*worker, *map(str, files)]
    secs, cpu, rss, out, err, rc = timed(cmd, root)
    if rc != 0:
        raise SystemExit(f"{engine} on {kind} failed (exit {rc}):\n{err[-3000:]}")
    if engine == "rulebot":
        return secs, cpu, rss, rulebot_trades(out)
    last = out.strip().splitlines()[-1] if out.strip() else "{}"
    return secs, cpu, rss, json.loads(last).get("trades")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--months", default="12", help="comma list of lengths in months, e.g. 1,3,12 (default 12; 0: no candle run)"
    )
    ap.add_argument("--agg-rows", type=int, default=2_000_000, help="aggTrades rows (0: skip the aggTrades run)")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each engine on each data set (alternating)")
    ap.add_argument("--peers", default="backtesting,nautilus", help="comma list of peers (empty: rulebot only)")
    ap.add_argument("--month-days", type=int, help="only the first N days of each month (a quick try)")
    ap.add_argument("--data", type=Path, help="generate into (and reuse) this folder instead of a temporary one")
    ap.add_argument("--rulebot-args", default="", help="more arguments for `rulebot backtest`, e.g. '--path event'")
    ap.add_argument(
        "--strategy",
        default="cross",
        help="cross: the EMA cross, always in the market (issue 14's goals); quiet: the same indicators and "
        "tests with thresholds no bar meets, nothing trades (the cost per bar alone); band:S (e.g. band:1.002): "
        "long above slow * S, short below slow / S, fewer trades (the cost of a trade)",
    )
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    scale_of(args.strategy)  # a strategy it does not know says so before any data is made
    if args.worker:
        engine, kind, strategy, *files = args.worker
        print(json.dumps({"trades": WORKERS[engine](kind, files, strategy)}))
        return

    months = sorted({int(m) for m in args.months.split(",") if m} - {0})  # 0 alone: aggTrades only
    if (months and min(months) < 1) or (not months and not args.agg_rows):
        ap.error("--months takes whole months >= 1 (or 0 with --agg-rows for the aggTrades run alone)")
    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in WORKERS:
            ap.error(f"unknown peer {p!r}; choose from {', '.join(WORKERS)}")
    engines = ["rulebot"]
    for p in peers:
        if installed(PEER_MODULES[p]):
            engines.append(p)
        else:
            print(f"note: {PEER_NAMES[p]} is not installed, skipped (pip install -e '.[bench]')")

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        root = Path(__file__).resolve().parents[1]
        name = {"cross": "ema-cross", "quiet": "ema-quiet"}.get(args.strategy, f"ema-{args.strategy.replace(':', '-')}")
        rulebook = folder / f"{name}.yaml"
        text, note = rulebook_text(args.strategy)
        rulebook.write_text(text)
        if note:
            print(note)
        started = time.perf_counter()
        kline_files = sorted((folder / f"futures/um/monthly/klines/{SYMBOL}/1m").glob("*.zip"))
        marker = folder / "kline-days.txt"
        days = str(args.month_days or "all")
        if months and (len(kline_files) < max(months) or not marker.exists() or marker.read_text() != days):
            kline_files = write_klines(folder, max(months), days=args.month_days)
            marker.write_text(days)
        sets: list[tuple[str, str, list[Path]]] = [
            (f"{m} month{'s' if m > 1 else ''} of 1m candles", "klines", kline_files[:m]) for m in months
        ]
        if args.agg_rows:
            agg_dir = folder / f"futures/um/daily/aggTrades/{SYMBOL}"
            agg = sorted(agg_dir.glob("*.zip")) if agg_dir.exists() else []
            marker = folder / "agg-rows.txt"  # reuse the file only if it has as many rows
            if not agg or not marker.exists() or marker.read_text() != str(args.agg_rows):
                agg = [write_agg_trades(folder, args.agg_rows)]
                marker.write_text(str(args.agg_rows))
            sets.append((f"{args.agg_rows:,} aggTrades (1 day)", "aggTrades", agg))
        print(f"data ready in {time.perf_counter() - started:.1f}s in {folder}")
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            + ", ".join(f"{PEER_NAMES[e]} {version(PEER_MODULES[e])}" for e in engines if e != "rulebot")
        )

        # One untimed run of each engine first: bytecode caches are written and the data is in the page
        # cache, so no engine pays for being first.
        _label, warm_kind, warm_files = sets[0]
        for engine in engines:
            run_one(engine, warm_kind, warm_files, rulebook, root, shlex.split(args.rulebot_args), args.strategy)
        print(f"warmed up: one untimed run of each engine on {_label}")

        results: dict[tuple[str, str], Runs] = {}
        for label, kind, files in sets:
            for r in range(args.rounds):
                order = engines[r % len(engines) :] + engines[: r % len(engines)]  # rotate who goes first
                for engine in order:
                    secs, cpu, rss, trades = run_one(
                        engine, kind, files, rulebook, root, shlex.split(args.rulebot_args), args.strategy
                    )
                    runs = results.setdefault((label, engine), Runs(engine, label))
                    runs.times.append(secs)
                    runs.rss_mb.append(rss)
                    runs.cpu.append(cpu)
                    runs.trades = trades
                    print(
                        f"  {label:<32} {PEER_NAMES[engine]:<16} {secs:8.2f}s  cpu {cpu:7.2f}s  {rss:7.0f} MB  "
                        f"trades {trades}"
                    )
                    sys.stdout.flush()

        print()
        print(
            f"{'data':<32} {'engine':<16} {'best s':>8} {'median s':>9} {'cpu s':>8} {'peak MB':>8} {'trades':>8} "
            f"{'peer/rulebot':>13} {'by cpu':>7}"
        )
        for label, _kind, _files in sets:
            base = results[(label, "rulebot")]
            for engine in engines:
                runs = results[(label, engine)]
                ratio = "" if engine == "rulebot" else f"{min(runs.times) / min(base.times):12.2f}x"
                by_cpu = "" if engine == "rulebot" else f"{min(runs.cpu) / min(base.cpu):6.2f}x"
                print(
                    f"{label:<32} {PEER_NAMES[engine]:<16} {min(runs.times):8.2f} {statistics.median(runs.times):9.2f} "
                    f"{min(runs.cpu):8.2f} {max(runs.rss_mb):8.0f} {runs.trades!s:>8} {ratio:>13} {by_cpu:>7}"
                )
        if len(months) > 1:
            print()
            print("cost per month of 1m candles (linear if flat):")
            for engine in engines:
                per = [min(results[(s[0], engine)].times) / m for s, m in zip(sets, months, strict=False)]
                print(
                    f"  {PEER_NAMES[engine]:<16} "
                    + "  ".join(f"{m:>2} mo {p:6.2f}s/mo" for m, p in zip(months, per, strict=True))
                )
        print()
        if args.strategy == "quiet":
            print("--strategy quiet: nothing trades; issue 14's goals are set on the EMA cross (--strategy cross)")
            print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            return
        print("issue 14's goals (best times):")
        for label, kind, _files in sets:
            peer = "backtesting" if kind == "klines" else "nautilus"
            longest = kind == "aggTrades" or label == sets[len(months) - 1][0]
            if peer in engines and longest:
                x = min(results[(label, peer)].times) / min(results[(label, "rulebot")].times)
                goal = "goal >= 2x, aim 5x" if kind == "klines" else "goal >= 2x"
                print(f"  {label}: rulebot {x:.2f}x as fast as {PEER_NAMES[peer]} ({goal})")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
