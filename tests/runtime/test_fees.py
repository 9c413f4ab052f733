"""Live and a dry-run on Binance's prices pay the account's own commission rates, read from
`GET commissionRate` at the start (the fake exchange serves them), and say which rates they use."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.core.enums import Market
from rulebot.core.events import MarkPrice, Trade
from rulebot.core.fees import DEFAULT_FEE_RATES, FeeRates
from rulebot.core.margin import BracketTable
from rulebot.feeds.catalog import builtin_brackets
from rulebot.rulebook.compiler import compile_text
from rulebot.runtime import control
from rulebot.runtime.assemble import Connection, dry_run, live
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.runner import Runner
from rulebot.testing.fake_binance import FakeBinance

from .conftest import HOLD_ON_TRADE, until

D = Decimal
VIP3 = FeeRates(maker=D("0.00012"), taker=D("0.00032"))  # not the defaults: the read must show


def keys_for(fake: FakeBinance, tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.write_text(f"BINANCE_API_KEY={fake.api_key}\nBINANCE_API_SECRET={fake.api_secret}\n")
    keys.chmod(0o600)
    return keys


async def close(runner: Runner) -> None:
    for closer in runner.closers:
        await closer()


@pytest.fixture
def no_env_keys(monkeypatch):
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)


async def test_live_reads_the_accounts_commission_rate_and_says_so(tmp_path):
    said: list[str] = []
    async with FakeBinance(Market.USDM, fee_rates=VIP3) as fake:
        cfg = RunConfig(tmp_path / "b.yaml", "live", tmp_path / "run", watch=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await live(compile_text(HOLD_ON_TRADE), cfg, conn, str(keys_for(fake, tmp_path)), announce=said.append)
        await close(runner)
        assert any(path.endswith("/commissionRate") for _, path in fake.requests)
    assert runner.fee_rates == VIP3
    assert "fees: maker 0.01200% taker 0.03200% (the account's commissionRate)" in said


async def test_dry_run_on_binance_with_a_key_pays_the_accounts_rates(tmp_path, no_env_keys):
    said: list[str] = []
    async with FakeBinance(Market.USDM, fee_rates=VIP3) as fake:
        cfg = RunConfig(tmp_path / "b.yaml", "dry-run", tmp_path / "run", watch=False, use_scheduler=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await dry_run(
            compile_text(HOLD_ON_TRADE),
            cfg,
            "binance",
            connection=conn,
            key_file=str(keys_for(fake, tmp_path)),
            announce=said.append,
        )
        assert runner.fee_rates == VIP3 and "the account's commissionRate" in said[0]
        task = asyncio.create_task(runner.run())
        await until(lambda: fake.hub.connections >= 1)
        await fake.feed(MarkPrice("BTCUSDT", D(60000), 0))
        for i in range(1, 40):
            await fake.feed(Trade("BTCUSDT", D(60000), D("0.01"), 0, True, i, i, i))
            await asyncio.sleep(0.01)
            if runner.status().get("positions"):
                break
        await until(lambda: bool(runner.status().get("positions")))
        await control.request(cfg.run_dir, {"cmd": "kill", "policy": "keep"})
        await asyncio.wait_for(task, 15)
    assert not fake.placed_ids  # a dry-run: nothing reached the exchange
    db = sqlite3.connect(cfg.journal_path())
    bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'order'")]
    (fill,) = [b for b in bodies if D(b.get("last_filled_qty", "0")) > 0 and b.get("side") == "BUY"]
    paid = D(fill["last_filled_qty"]) * D(fill["last_filled_price"]) * VIP3.taker
    assert D(fill["commission"]) == paid  # the paper fill paid the account's taker rate


async def test_dry_run_on_binance_without_a_key_says_it_uses_the_defaults(tmp_path, no_env_keys):
    said: list[str] = []
    async with FakeBinance(Market.USDM, fee_rates=VIP3) as fake:
        cfg = RunConfig(tmp_path / "b.yaml", "dry-run", tmp_path / "run", watch=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await dry_run(compile_text(HOLD_ON_TRADE), cfg, "binance", connection=conn, announce=said.append)
        await close(runner)
        forced = await dry_run(
            compile_text(HOLD_ON_TRADE), cfg, "binance", connection=conn, announce=said.append, fee_rates=VIP3
        )
        await close(forced)
    assert runner.fee_rates == DEFAULT_FEE_RATES
    assert (
        said[0] == "fees: maker 0.0200% taker 0.0500% (Binance's VIP 0 defaults: no API key to read the "
        "account's commissionRate)"
    )
    assert forced.fee_rates == VIP3 and said[1].endswith("(--fees)")


def _account_brackets() -> dict[str, BracketTable]:
    """BTCUSDT's public table with its first bracket capped at 20x: an account-specific table the read must show."""
    public = builtin_brackets(Market.USDM)["BTCUSDT"]
    first = dataclasses.replace(public.brackets[0], initial_leverage=20)
    return {"BTCUSDT": dataclasses.replace(public, brackets=(first, *public.brackets[1:]))}


@pytest.mark.parametrize("fees", [None, VIP3], ids=["account-fees", "given-fees"])
async def test_dry_run_on_binance_with_a_key_uses_the_accounts_own_brackets(tmp_path, no_env_keys, fees):
    async with FakeBinance(Market.USDM, brackets=_account_brackets()) as fake:
        cfg = RunConfig(tmp_path / "b.yaml", "dry-run", tmp_path / "run", watch=False, use_scheduler=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await dry_run(
            compile_text(HOLD_ON_TRADE),
            cfg,
            "binance",
            connection=conn,
            key_file=str(keys_for(fake, tmp_path)),
            fee_rates=fees,
            announce=lambda _: None,
        )
        await close(runner)
        assert any(path.endswith("/leverageBracket") for _, path in fake.requests)
    assert runner.brackets["BTCUSDT"].brackets[0].initial_leverage == 20  # the account's, not the snapshot's 125


async def test_dry_run_on_binance_without_a_key_uses_the_shipped_snapshot(tmp_path, no_env_keys):
    async with FakeBinance(Market.USDM, brackets=_account_brackets()) as fake:
        cfg = RunConfig(tmp_path / "b.yaml", "dry-run", tmp_path / "run", watch=False, use_scheduler=False)
        conn = Connection(rest_url=fake.rest_url, ws_url=fake.ws_url)
        runner = await dry_run(compile_text(HOLD_ON_TRADE), cfg, "binance", connection=conn, announce=lambda _: None)
        await close(runner)
        assert not any(path.endswith("/leverageBracket") for _, path in fake.requests)  # signed: no key, no read
    assert runner.brackets["BTCUSDT"] == builtin_brackets(Market.USDM)["BTCUSDT"]
