"""The web API's journal queries refuse values no journal can answer: a 400, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebot.backtest.api import backtest
from rulebot.testing.shared import ARCHIVE
from rulebot.web.bots import Bot

from .conftest import client_for

ROOT = Path(__file__).resolve().parents[2]
BTC_1M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-08.zip"


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web-api") / "bt.journal"
    backtest(str(ROOT / "rules/ema-trend-btc.yaml"), [str(BTC_1M)], journal_path=path)
    return path


@pytest.mark.parametrize(
    "url",
    [
        "/api/bots/0/decisions/99999999999999999999999",  # past SQLite's integers: was a 500
        "/api/bots/0/decisions/abc",
        "/api/bots/0/decisions/0",
        "/api/bots/0/decisions?after=99999999999999999999999",
        "/api/bots/0/decisions?limit=0",
        "/api/bots/0/decisions?after=-1",
    ],
)
async def test_a_decision_id_or_a_page_outside_what_sqlite_holds_is_a_400(journal: Path, url: str) -> None:
    async with client_for([Bot("0", journal_file=journal)]) as client:
        r = await client.get(url)
        assert r.status == 400, await r.text()
        assert "whole number" in (await r.json())["error"]


async def test_a_decision_that_is_not_there_is_still_a_404(journal: Path) -> None:
    async with client_for([Bot("0", journal_file=journal)]) as client:
        r = await client.get("/api/bots/0/decisions/9223372036854775807")
        assert r.status == 404
