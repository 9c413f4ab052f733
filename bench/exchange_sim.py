"""Throughput of the exchange simulator on a synthetic BTCUSDT tape (prints its numbers).

Run: .venv/bin/python bench/exchange_sim.py [events]
A seeded random walk of trades, book tops and mark prices, with a grid of ten resting limits
re-placed every 50 events; reports events per second.
"""

from __future__ import annotations

import json
import random
import sys
import time
from decimal import Decimal

from rulebot.binance.payloads.account import brackets_from_payload
from rulebot.binance.payloads.exchange_info import instruments_from_exchange_info
from rulebot.core.commands import CancelOrder, PlaceOrder
from rulebot.core.enums import Market, OrderType, Side, TimeInForce
from rulebot.exchange_sim import SimExchange
from rulebot.testing.shared import PAYLOADS


def main(count: int) -> None:
    info = json.loads((PAYLOADS / "rest_fapi_v1_exchangeInfo.json").read_text())
    tables = json.loads((PAYLOADS / "rest_fapi_v1_leverageBracket.json").read_text())
    inst = instruments_from_exchange_info(info, Market.USDM)["BTCUSDT"]
    brackets = brackets_from_payload(tables, Market.USDM)
    sim = SimExchange({"BTCUSDT": inst}, brackets, market=Market.USDM, balances={"USDT": Decimal(1_000_000)})
    rng = random.Random(7)
    ticks = 600_000  # 60,000.0 in 0.1 ticks
    produced = fills = 0
    start = time.perf_counter()
    for n in range(count):
        ticks += rng.randint(-3, 3)
        price = Decimal(ticks) / 10
        kind = n % 4
        if kind == 0:
            events = sim.on_book("BTCUSDT", price, Decimal(2), price + Decimal("0.1"), Decimal(2), n)
        elif kind == 1:
            events = sim.on_mark_price("BTCUSDT", price, n)
        else:
            events = sim.on_trade("BTCUSDT", price, Decimal("0.05"), n, rng.random() < 0.5)
        if n % 50 == 0:  # keep a grid of 10 limits around the price
            for k in range(-5, 5):
                cid = f"g{k}"
                sim.execute(CancelOrder("BTCUSDT", cid), n)
                side = Side.BUY if k < 0 else Side.SELL
                grid = price + Decimal(k * 20 + (1 if k >= 0 else -1))
                sim.execute(
                    PlaceOrder(
                        cid,
                        "BTCUSDT",
                        side,
                        OrderType.LIMIT,
                        Decimal("0.01"),
                        grid,
                        time_in_force=TimeInForce.GTC,
                    ),
                    n,
                )
        produced += len(events)
        fills += sum(1 for e in events if getattr(e, "execution_type", "") == "TRADE")
    elapsed = time.perf_counter() - start
    print(f"{count} market events in {elapsed:.2f} s: {count / elapsed:,.0f} events/s")
    print(f"{produced} account events out, {fills} fills; {len(sim.open_orders())} orders open")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
