"""A small rulebook with declared parameters and two days of real Binance 1m candles."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rulebot.testing.shared import ARCHIVE, require

BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"
DAYS = ("2025-06-07", "2025-06-08")

RULEBOOK = """\
rulebook: sweep-test
market: usdm
symbols: [BTCUSDT]
timeframes: [15m]
params:
  fast: {default: 8, min: 2, max: 30}
  slow: {default: 21, min: 5, max: 100}
  stop: {default: 0.02, min: 0.005, max: 0.1}
  atr_len: 14               # plain: any number; 0 compiles to nothing and fails its trial
indicators:
  ema_fast: ema(close@15m, fast)
  ema_slow: ema(close@15m, slow)
  atr: atr(15m, atr_len)
rules:
  - name: enter
    on: candle_close 15m
    in: flat
    when: crossover(ema_fast, ema_slow) and atr > 0
    do:
      - enter: {side: long, size: 20%}
      - stop_loss: {price: "entry_price * (1 - stop)"}
      - goto: long
  - name: leave
    on: candle_close 15m
    in: long
    when: ema_fast < ema_slow
    do: [exit, {goto: flat}]
"""


@pytest.fixture(scope="session")
def data() -> list[str]:
    return [str(require(BTC_1M / f"BTCUSDT-1m-{day}.zip")) for day in DAYS]


@pytest.fixture(scope="session")
def rulebook(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("sweep")) / "sweep-test.yaml"
    path.write_text(RULEBOOK)
    return str(path)


@pytest.fixture
def silent() -> Iterator[str]:
    """HOST:PORT of a port that accepts connections and never says a word (another service, a
    proxy, a stuck peer): the cluster clients hung on one."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()
