"""A journal written once by a real backtest on Binance's archive, shared by the journal tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from rulebot.backtest.api import backtest
from rulebot.backtest.result import BacktestResult
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m"


@pytest.fixture(scope="session")
def journaled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BacktestResult]:
    path = tmp_path_factory.mktemp("j") / "bt.journal"
    result, _, _ = backtest(str(ROOT / "rules/ema-trend-btc.yaml"), [str(BTC_1M)], journal_path=path)
    return path, result


@pytest.fixture(scope="session")
def journaled(journaled_run: tuple[Path, BacktestResult]) -> Path:
    return journaled_run[0]


@pytest.fixture
def copy_of(journaled: Path, tmp_path: Path) -> Callable[[str], tuple[Path, sqlite3.Connection]]:
    """A private copy of the backtest journal to tamper with, and a connection to it."""

    def make(name: str) -> tuple[Path, sqlite3.Connection]:
        dst = tmp_path / name
        src, out = sqlite3.connect(journaled), sqlite3.connect(dst)
        src.backup(out)
        src.close()
        return dst, out

    return make
