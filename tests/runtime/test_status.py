"""`status` data ages: by the exchange's clock, never negative (a paced replay hands events over a
little ahead of its clock, which showed as data '-266 s old')."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rulebot.core.enums import Market
from rulebot.core.events import Trade
from rulebot.engine.engine import Engine
from rulebot.feeds.catalog import builtin_brackets, builtin_instruments
from rulebot.rulebook.compiler import compile_file, compile_text
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig
from rulebot.runtime.status import engine_status

from .conftest import HOLD_ON_CANDLE

T = 1_764_000_000_000


def engine_with_a_trade_at(t: int) -> Engine:
    engine = Engine(
        compile_text(HOLD_ON_CANDLE),
        builtin_instruments(Market.USDM),
        {"USDT": Decimal(1000)},
        brackets=builtin_brackets(Market.USDM),
    )
    engine.start(t)
    engine.on_event(Trade("BTCUSDT", Decimal(60000), Decimal(1), t, True, 1))
    return engine


def test_the_data_age_is_the_clock_less_the_last_data_time() -> None:
    assert engine_status(engine_with_a_trade_at(T), T + 2500)["data"]["BTCUSDT"] == {"last_time": T, "age_s": 2.5}


def test_data_ahead_of_the_clock_is_fresh_not_negative() -> None:
    assert engine_status(engine_with_a_trade_at(T), T - 266_000)["data"]["BTCUSDT"]["age_s"] == 0


async def test_a_replayed_dry_run_ages_its_data_by_its_own_clock_not_the_wall_clock(tmp_path) -> None:
    # `rulebot status` of a dry-run on 2025's files said "data 46855130.0 s old".
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)
    data = Path(__file__).resolve().parents[3] / "shared/data/binance-vision/futures/um/daily/klines/BTCUSDT/1m"
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False, max_events=500)
    runner = await dry_run(compile_file(str(book)), cfg, f"replay:{data}", speed=0)
    final = await runner.run()
    age = final["data"]["BTCUSDT"]["age_s"]
    assert age is not None and 0 <= age < 120, final["data"]


async def test_a_replay_file_damaged_part_way_stops_the_run_saying_what_not_a_class_name(tmp_path) -> None:
    # It said "the market feed failed: ReplayFileError: …".
    day = Path(__file__).resolve().parents[3] / "shared/data/binance-vision/futures/um/daily/klines/BTCUSDT/1m"
    files = tmp_path / "files"
    files.mkdir()
    damaged = files / "BTCUSDT-1m-2025-06-12.zip"
    raw = bytearray((day / damaged.name).read_bytes())
    raw[30_000:30_300] = bytes(b ^ 0x5A for b in raw[30_000:30_300])
    damaged.write_bytes(bytes(raw))
    book = tmp_path / "book.yaml"
    book.write_text(HOLD_ON_CANDLE)
    cfg = RunConfig(book, "dry-run", tmp_path / "run", watch=False)
    runner = await dry_run(compile_file(str(book)), cfg, f"replay:{files}", speed=0)
    await runner.run()
    assert runner.failed and runner.stop_reason is not None
    assert runner.stop_reason.startswith("the market feed failed: ") and "Error:" not in runner.stop_reason
    assert damaged.name in runner.stop_reason, runner.stop_reason
