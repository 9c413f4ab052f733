"""Updates per second of every registered indicator over 1M synthetic inputs.

Run: .venv/bin/python bench/indicators.py [count]. A seeded random walk around 1e5 (a BTC-like
price) with 1m candles; the numbers are for comparing changes on one machine, not a test.
"""

from __future__ import annotations

import random
import sys
import time

from rulebot.core.indicators import INDICATORS

# Typical rulebook parameters: the defaults, or 14 / 20 / 200 for a period without a default.
CASES: list[tuple[str, tuple[float, ...]]] = [
    ("sma", (20,)),
    ("sma", (200,)),
    ("ema", (21,)),
    ("wma", (20,)),
    ("rma", (14,)),
    ("rsi", ()),
    ("atr", ()),
    ("stdev", (20,)),
    ("zscore", (20,)),
    ("highest", (20,)),
    ("lowest", (20,)),
    ("vwap", ()),
    ("vwap", (20,)),
    ("macd", ()),
    ("bbands", ()),
    ("roc", (14,)),
]


def main(count: int) -> None:
    rng = random.Random(1)
    closes, highs, lows, volumes, times = [], [], [], [], []
    price = 1e5
    for i in range(count):
        price *= 1 + rng.gauss(0, 5e-4)
        spread = abs(rng.gauss(0, 20))
        closes.append(price)
        highs.append(price + spread)
        lows.append(price - spread)
        volumes.append(rng.expovariate(1 / 50))
        times.append(1_749_254_400_000 + i * 60_000)

    print(f"{count:,} updates per indicator (python {sys.version.split()[0]})")
    print(f"{'indicator':<18}{'updates/s':>14}{'ns/update':>12}")
    for name, params in CASES:
        spec = INDICATORS[name]
        ind = spec.create(*params)
        start = time.perf_counter()
        if spec.input == "candles":
            update_candle = ind.update_candle
            for t, h, lo, c, v in zip(times, highs, lows, closes, volumes, strict=True):
                update_candle(t, h, lo, c, v)
        else:
            update = ind.update
            for x in closes:
                update(x)
        elapsed = time.perf_counter() - start
        assert ind.ready
        label = f"{name}({', '.join(f'{p:g}' for p in params)})"
        print(f"{label:<18}{count / elapsed:>14,.0f}{elapsed / count * 1e9:>12.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
