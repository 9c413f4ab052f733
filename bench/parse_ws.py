"""Messages per second of the Binance stream parsers on the hot path.

Run: .venv/bin/python bench/parse_ws.py [count]. Each frame is parsed from bytes, as it comes
off the socket (orjson decode included), through the dispatcher the venue calls; the bare
`orjson.loads` line is the floor no parser beats. Numbers compare changes on one machine.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from rulebot.binance.payloads.market import parse_market_message
from rulebot.binance.payloads.user import parse_user_message

# The docs payloads (../shared/binance/payloads/), with realistic ids and prices.
AGG_TRADE = (
    b'{"e":"aggTrade","E":1778198400123,"s":"BTCUSDT","a":2933014871,"p":"64089.20",'
    b'"q":"0.125","nq":"0.125","f":6100284712,"l":6100284715,"T":1778198400120,"m":true}'
)
BOOK_TICKER = (
    b'{"e":"bookTicker","u":8830264512317,"E":1778198400123,"T":1778198400121,"s":"BTCUSDT",'
    b'"b":"64089.10","B":"3.512","a":"64089.20","A":"0.870"}'
)
COMBINED_AGG_TRADE = b'{"stream":"btcusdt@aggTrade","data":' + AGG_TRADE + b"}"
ORDER_TRADE_UPDATE = (
    b'{"e":"ORDER_TRADE_UPDATE","E":1778198400130,"T":1778198400128,"o":{"s":"BTCUSDT",'
    b'"c":"rb-7f3a9c2e-0001","S":"BUY","o":"LIMIT","f":"GTC","q":"0.250","p":"64089.20",'
    b'"ap":"64089.20","sp":"0","x":"TRADE","X":"PARTIALLY_FILLED","i":8886774123,"l":"0.125",'
    b'"z":"0.125","L":"64089.20","N":"USDT","n":"1.60223000","T":1778198400128,"t":6100284715,'
    b'"b":"0","a":"0","m":true,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH",'
    b'"cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"EXPIRE_MAKER","pm":"NONE","gtd":0,'
    b'"er":"0"}}'
)
DEPTH_UPDATE = (
    b'{"e":"depthUpdate","E":1778198400123,"T":1778198400121,"s":"BTCUSDT","U":8830264512300,'
    b'"u":8830264512317,"pu":8830264512290,'
    b'"b":[["64089.10","3.512"],["64088.00","0"],["64080.50","1.204"],["64079.90","0.020"]],'
    b'"a":[["64089.20","0.870"],["64090.00","2.001"],["64095.40","0"]]}'
)

CASES: list[tuple[str, Callable[[bytes], Any], bytes]] = [
    ("orjson.loads only (aggTrade)", orjson.loads, AGG_TRADE),
    ("aggTrade", parse_market_message, AGG_TRADE),
    ("aggTrade, combined stream", parse_market_message, COMBINED_AGG_TRADE),
    ("bookTicker", parse_market_message, BOOK_TICKER),
    ("depthUpdate (4 bids, 3 asks)", parse_market_message, DEPTH_UPDATE),
    ("orjson.loads only (ORDER_TRADE_UPDATE)", orjson.loads, ORDER_TRADE_UPDATE),
    ("ORDER_TRADE_UPDATE", parse_user_message, ORDER_TRADE_UPDATE),
]


def rate(parse: Callable[[bytes], Any], frame: bytes, count: int) -> float:
    """Best of three runs, in messages per second."""
    assert parse(frame) is not None
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(count):
            parse(frame)
        best = min(best, time.perf_counter() - start)
    return count / best


def main(count: int) -> None:
    print(f"{'frame (bytes in, event out)':<42} {'msg/s':>12} {'us/msg':>8}")
    for name, parse, frame in CASES:
        per_s = rate(parse, frame, count)
        print(f"{name:<42} {per_s:>12,.0f} {1e6 / per_s:>8.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
