"""CPU per round trip of a backtest, in-process (issue 14: what each trade costs).

    python bench/round_trips.py                         # one month, 3 rounds, us per round trip
    python bench/round_trips.py --profile 30            # and the 30 costliest functions (cProfile)
    python bench/round_trips.py --data DIR --months 12  # the benchmark's year (bench/peers.py's files)

Runs the bench/peers.py rulebook (EMA 12/26 cross, always in the market, stop-and-reverse on each
cross) on synthetic 1m candles, and the same rulebook with conditions that are never true (the same
indicators, the same candles, no trade). The difference of the two, divided by the round trips, is
what one round trip costs: entry and exit orders, the guard's protective stop placed after each
entry and cancelled at the exit, the reports and the portfolio behind them. Process CPU time, best
of the rounds (the machine is shared; the best is the least disturbed).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import RULEBOOK, write_klines

from rulebot.backtest.api import backtest
from rulebot.backtest.runner import BacktestConfig

# The same indicators and candles, but conditions that cannot hold: what a bar costs without trading.
IDLE = RULEBOOK.replace("when: fast > slow", "when: fast < 0").replace("when: fast < slow", "when: slow < 0")


def round_trips(fills: int) -> int:
    """An entry, then a reverse (exit + entry) per cross, and the last position left open."""
    return fills // 2


def run(rulebook: Path, files: list[str], path: str, profile: cProfile.Profile | None) -> tuple[float, int]:
    config = BacktestConfig(path=path)
    t0 = time.process_time()
    if profile is not None:
        profile.enable()
    result, _, _ = backtest(str(rulebook), files, config=config)
    if profile is not None:
        profile.disable()
    return time.process_time() - t0, len(result.fills)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--months", type=int, default=1, help="monthly files to use (generated or from --data)")
    ap.add_argument("--data", help="a folder of monthly kline zips (bench/peers.py's layout); default: generate")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--path", default="auto", choices=["auto", "fast", "event"])
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions (tottime)")
    ap.add_argument("--sort", default="tottime", help="pstats sort key for --profile (tottime, cumulative)")
    ap.add_argument("--callers", help="with --profile: print the callers of functions matching this regex")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.data:
            files = sorted(str(p) for p in Path(args.data).rglob("*-1m-*.zip"))[: args.months]
        else:
            files = [str(p) for p in write_klines(root / "data", args.months)]
        trading, idle = root / "ema-cross.yaml", root / "idle.yaml"
        trading.write_text(RULEBOOK)
        idle.write_text(IDLE)

        best_trade = best_idle = float("inf")
        fills = 0
        for _ in range(args.rounds):
            secs, fills = run(trading, files, args.path, None)
            best_trade = min(best_trade, secs)
            secs, idle_fills = run(idle, files, args.path, None)
            assert idle_fills == 0, "the idle rulebook traded"
            best_idle = min(best_idle, secs)
        trips = round_trips(fills)
        per_trip = (best_trade - best_idle) / trips
        print(f"{len(files)} month(s), path {args.path}, best of {args.rounds}: fills {fills}, round trips {trips}")
        print(f"  trading {best_trade:.2f} s CPU, idle {best_idle:.2f} s CPU")
        print(f"  per round trip {per_trip * 1e6:.0f} us ({(best_trade - best_idle):.2f} s of the run)")

        if args.profile:
            # Both runs under cProfile; each function's time in the trading run less its time in the
            # idle one is what the round trips cost in it (the bars cost the same in both).
            stats = {}
            for name, book in (("trading", trading), ("idle", idle)):
                prof = cProfile.Profile()
                run(book, files, args.path, prof)
                stats[name] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
                if name == "trading" and args.callers:
                    pstats.Stats(prof).print_callers(args.callers)
            print_delta(stats["trading"], stats["idle"], trips, args.profile, args.sort)


def print_delta(trading: dict, idle: dict, trips: int, n: int, sort: str) -> None:  # type: ignore[type-arg]
    """The n functions whose time grows most with trading, in us per round trip."""
    rows = []
    for key, (_, calls, tt, ct, _) in trading.items():
        _, icalls, itt, ict, _ = idle.get(key, (0, 0, 0.0, 0.0, {}))
        rows.append((tt - itt, ct - ict, calls - icalls, key))
    rows.sort(key=lambda r: r[1] if sort == "cumulative" else r[0], reverse=True)
    total = sum(r[0] for r in rows)
    calls = sum(r[2] for r in rows)
    print(
        f"under cProfile: {total / trips * 1e6:.0f} us and {calls / trips:.0f} function calls per round trip; "
        "per function (trading less idle):"
    )
    print(f"{'tottime us':>11} {'cumtime us':>11} {'calls/trip':>10}  function")
    for tt, ct, calls, (file, line, func) in rows[:n]:
        where = file.split("/rulebot/", 1)[-1] if "/rulebot/" in file else file
        print(f"{tt / trips * 1e6:11.1f} {ct / trips * 1e6:11.1f} {calls / trips:10.2f}  {where}:{line}({func})")


if __name__ == "__main__":
    main()
