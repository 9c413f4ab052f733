"""Replay of the real Binance archive files in ../shared/data/binance-vision (read in place)."""

from __future__ import annotations

import csv
import io
import itertools
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from rulebot.core.enums import Market
from rulebot.core.events import (
    BookTop,
    CandleClosed,
    FundingRate,
    IndexPrice,
    MarkPrice,
    PremiumIndex,
    Trade,
)
from rulebot.feeds.replay import (
    KIND_PRIORITY,
    ReplayFileError,
    ReplaySource,
    describe,
    merge,
    read_events,
    to_ms,
)
from rulebot.testing.shared import SHARED

DATA = SHARED / "data"
ARCHIVE = DATA / "binance-vision"
FUT = ARCHIVE / "futures"
AGG = FUT / "cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2026-05-08.zip"
CM_1M = FUT / "cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2022-12-13.zip"
UM_TRADES = FUT / "um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-07-18.zip"
UM_BOOK = FUT / "um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-07-18.zip"
BTC_1M = FUT / "um/daily/klines/BTCUSDT/1m"
FUNDING = FUT / "um/monthly/fundingRate/BTCUSDT"
TYPE_KIND = {
    Trade: "trades",
    BookTop: "bookTicker",
    CandleClosed: "klines",
    FundingRate: "fundingRate",
}


@pytest.fixture(scope="module", autouse=True)
def shared_data() -> None:
    if not (DATA / "README.md").is_file() or not AGG.is_file():
        pytest.fail(
            f"the shared Binance archive files are missing under {ARCHIVE}: these tests read the "
            "`shared` folder beside the project checkout (../shared/data/binance-vision/)",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def readme_rows() -> dict[str, int]:
    """path under binance-vision/ → row count, from the README's file table."""
    table = re.findall(r"^\| `(futures/[^`]+\.zip)` \| \w+ \| (\d+) \|", (DATA / "README.md").read_text(), re.M)
    assert len(table) > 200
    return {path: int(rows) for path, rows in table}


@pytest.fixture(scope="module")
def agg_trades() -> list[Trade]:
    """The 105k-row COIN-M aggTrades file, read once for the module."""
    events = list(read_events(AGG))
    assert all(type(e) is Trade for e in events)
    return events  # type: ignore[return-value]


def _rel(path: Path) -> str:
    return path.relative_to(ARCHIVE).as_posix()


# --- every kind parses, counts equal the README's -------------------------------------------


def test_readme_lists_every_data_file(readme_rows: dict[str, int]) -> None:
    on_disk = {_rel(p) for p in ARCHIVE.rglob("*.zip")}
    assert on_disk == set(readme_rows)


@pytest.mark.parametrize("kind", ["klines", "trades", "bookTicker", "fundingRate"])
def test_each_file_parses_to_readme_count(kind: str, readme_rows: dict[str, int]) -> None:
    paths = sorted(p for p in readme_rows if f"/{kind}/" in p)
    assert paths
    for rel in paths:
        count = sum(1 for _ in read_events(ARCHIVE / rel))
        assert count == readme_rows[rel], rel


def test_agg_trades_count_and_fields(agg_trades: list[Trade], readme_rows: dict[str, int]) -> None:
    assert len(agg_trades) == readme_rows[_rel(AGG)] == 105_280
    # first row: 480537903,79972.8,542.0,1123474160,1123474164,1778198400020,false
    assert agg_trades[0] == Trade(
        "BTCUSD_PERP",
        Decimal("79972.8"),
        Decimal("542.0"),
        1778198400020,
        False,
        480537903,
        1123474160,
        1123474164,
    )
    ids = [t.trade_id for t in agg_trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous agg ids
    assert all(a.last_trade_id + 1 == b.first_trade_id for a, b in itertools.pairwise(agg_trades))  # type: ignore[operator]
    assert {t.is_buyer_maker for t in agg_trades} == {True, False}


def test_group_totals_match_readme() -> None:
    kl = FUT / "um/monthly/klines/BTCUSDT"
    assert sum(1 for _ in ReplaySource(kl / "1d")) == 2_038
    assert sum(1 for _ in ReplaySource(kl / "4h")) == 12_228
    assert sum(1 for _ in ReplaySource(FUNDING)) == 6_114


def test_fields_of_each_kind() -> None:
    trade = next(read_events(UM_TRADES))
    assert trade == Trade("BTCUSDT", Decimal("63943.90"), Decimal("0.003"), 1721347022956, True, 5182005737)
    book = next(read_events(UM_BOOK))
    # 4984028370881,63943.90,46.371,63944.00,0.095,1721347022507,1721347022507: time is event_time
    assert book == BookTop(
        "BTCUSDT",
        Decimal("63943.90"),
        Decimal("46.371"),
        Decimal("63944.00"),
        Decimal("0.095"),
        1721347022507,
        4984028370881,
    )
    cm_trade = next(read_events(FUT / "cm/daily/trades/BTCUSD_PERP/BTCUSD_PERP-trades-2024-08-08.zip"))
    assert cm_trade == Trade("BTCUSD_PERP", Decimal("61804.8"), Decimal("4"), 1723161257679, False, 849714402)
    candle = next(read_events(FUT / "um/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2021-01.zip"))
    assert candle == CandleClosed(
        "BTCUSDT",
        "1d",
        1609459200000,
        1609545599999,
        Decimal("28948.19"),
        Decimal("29668.86"),
        Decimal("28627.12"),
        Decimal("29337.16"),
        Decimal("210716.398"),
        Decimal("6157505024.08511"),
        1511793,
        Decimal("101247.902"),
    )
    assert candle.time == candle.close_time
    funding = next(read_events(FUNDING / "BTCUSDT-fundingRate-2021-01.zip"))
    assert funding == FundingRate("BTCUSDT", Decimal("0.00022753"), 1609459200002, None, 8)
    assert funding.time == 1609459200002


def test_cm_klines_missing_bar_is_just_absent() -> None:
    candles = list(read_events(CM_1M))
    assert len(candles) == 1439
    opens = [c.open_time for c in candles]  # type: ignore[union-attr]
    missing = to_ms("2022-12-13T04:29")
    assert missing not in opens
    gaps = [b - a for a, b in itertools.pairwise(opens) if b - a != 60_000]
    assert gaps == [120_000]
    assert all(isinstance(c, CandleClosed) and c.timeframe == "1m" for c in candles)


# --- formats: zip or csv, header or not, microseconds -----------------------------------------


def _csv_text(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(z.namelist()[0]).decode()


def test_csv_and_zip_give_the_same_events(tmp_path: Path) -> None:
    plain = tmp_path / UM_TRADES.with_suffix(".csv").name
    plain.write_text(_csv_text(UM_TRADES))
    assert list(read_events(plain)) == list(read_events(UM_TRADES))


@pytest.mark.parametrize("source", [UM_TRADES, UM_BOOK, CM_1M, FUNDING / "BTCUSDT-fundingRate-2024-01.zip"])
def test_headerless_files_parse_the_same(tmp_path: Path, source: Path) -> None:
    text = _csv_text(source)
    assert not text[0].isdigit()
    headerless = text.split("\n", 1)[1]
    as_csv = tmp_path / source.with_suffix(".csv").name
    as_csv.write_text(headerless)
    as_zip = tmp_path / "zipped" / source.name
    as_zip.parent.mkdir()
    with zipfile.ZipFile(as_zip, "w") as z:
        z.writestr(source.with_suffix(".csv").name, headerless)
    want = list(read_events(source))
    assert list(read_events(as_csv)) == want
    assert list(read_events(as_zip)) == want


def test_microsecond_timestamps_become_milliseconds(tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(_csv_text(UM_TRADES))))
    for row in rows[1:]:
        row[4] = str(int(row[4]) * 1000 + 123)  # newer archive files: microseconds
    path = tmp_path / UM_TRADES.with_suffix(".csv").name
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    micro = list(read_events(path))
    assert [e.time for e in micro] == [e.time for e in read_events(UM_TRADES)]
    assert micro == list(read_events(UM_TRADES))


# --- inference from archive paths ------------------------------------------------------------


def test_describe_infers_from_archive_paths() -> None:
    f = describe("futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-07.zip")
    assert (f.kind, f.symbol, f.interval, f.market, f.date) == (
        "klines",
        "BTCUSDT",
        "1m",
        Market.USDM,
        "2025-06-07",
    )
    f = describe("BTCUSD_PERP-aggTrades-2026-05-08.zip")
    assert (f.kind, f.symbol, f.interval, f.market) == ("aggTrades", "BTCUSD_PERP", None, None)
    f = describe("x/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2026-05-08.zip")
    assert f.market is Market.COINM
    f = describe("BTCUSDT-fundingRate-2024-01.zip")
    assert (f.kind, f.date, f.period()) == (
        "fundingRate",
        "2024-01",
        (to_ms("2024-01-01"), to_ms("2024-02-01")),
    )
    assert describe("BTCUSDT-bookTicker-2024-08-08.csv").kind == "bookTicker"
    assert describe("BTCUSDT-trades-2024-08-08.zip").kind == "trades"
    assert describe("BTCUSDT-1mo-2024-01.zip").interval == "1mo"
    f = describe("futures/cm/daily/markPriceKlines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2024-01-01.zip")
    assert (f.kind, f.interval, f.market) == ("markPriceKlines", "1m", Market.COINM)
    f = describe("mine.csv", kind="trades", symbol="ethusdt", market="usdm")
    assert (f.kind, f.symbol, f.market, f.date) == ("trades", "ETHUSDT", Market.USDM, None)
    with pytest.raises(ReplayFileError, match="cannot tell what this file holds"):
        describe("mine.csv")
    with pytest.raises(ReplayFileError, match="unknown kind 'bananas'"):
        describe("BTCUSDT-bananas-2024-01-01.zip")


@pytest.mark.parametrize(
    ("kind", "event"),
    [
        ("markPriceKlines", MarkPrice),
        ("indexPriceKlines", IndexPrice),
        ("premiumIndexKlines", PremiumIndex),
    ],
)
def test_price_klines_become_price_events_at_close(tmp_path: Path, kind: str, event: type) -> None:
    # No real mark/index/premium kline file exists; their layout is the klines layout, so a
    # real klines file under the other kind's folder stands in for one.
    src = BTC_1M / "BTCUSDT-1m-2025-06-07.zip"
    dest = tmp_path / f"futures/um/daily/{kind}/BTCUSDT/1m" / src.name
    dest.parent.mkdir(parents=True)
    shutil.copy(src, dest)
    events = list(ReplaySource(tmp_path))
    candles = list(read_events(src))
    assert len(events) == len(candles) == 1440
    assert all(type(e) is event for e in events)
    assert [e.time for e in events] == [c.close_time for c in candles]  # type: ignore[union-attr]
    field = {MarkPrice: "mark_price", IndexPrice: "index_price", PremiumIndex: "premium_index"}[event]
    assert [getattr(e, field) for e in events] == [c.close for c in candles]  # type: ignore[union-attr]


# --- merge, ordering, time range -------------------------------------------------------------


def test_merge_orders_by_time_and_breaks_ties_by_argument_order() -> None:
    a = [Trade("A", Decimal(1), Decimal(1), t, False, i) for i, t in enumerate([1, 3, 3, 7])]
    b = [Trade("B", Decimal(1), Decimal(1), t, False, i) for i, t in enumerate([0, 3, 8])]
    merged = list(merge(a, b))
    assert [(e.symbol, e.time) for e in merged] == [
        ("B", 0),
        ("A", 1),
        ("A", 3),
        ("A", 3),
        ("B", 3),
        ("A", 7),
        ("B", 8),
    ]
    assert [(e.symbol, e.time) for e in merge(b, a)][2:5] == [("B", 3), ("A", 3), ("A", 3)]


def _priority(event: object) -> int:
    return KIND_PRIORITY[TYPE_KIND[type(event)]]


def test_replay_merges_kinds_and_files_in_time_order() -> None:
    paths = [FUT / "um/daily/trades", FUT / "um/daily/bookTicker", FUT / "cm/daily/trades", FUNDING]
    source = ReplaySource(paths, start="2024-07-01", end="2024-09-01")
    events = list(source)
    assert [e.time for e in events] == sorted(e.time for e in events)
    counts = Counter((type(e).__name__, e.symbol) for e in events)
    # 974 + 9727 + 21313 BTCUSDT trades, 7110 + 45150 + 66088 quotes, 2285 + 2950 CM trades,
    # 93 + 93 funding settlements (July and August)
    assert counts == {
        ("Trade", "BTCUSDT"): 32_014,
        ("BookTop", "BTCUSDT"): 118_348,
        ("Trade", "ETHUSDT"): 14_051,
        ("BookTop", "ETHUSDT"): 53_984,
        ("Trade", "BTCUSD_PERP"): 5_235,
        ("FundingRate", "BTCUSDT"): 186,
    }
    ties = [(a, b) for a, b in itertools.pairwise(events) if a.time == b.time and type(a) is not type(b)]
    assert ties, "the data has quotes and trades in the same millisecond"
    assert all(_priority(a) <= _priority(b) for a, b in ties)
    # the same files given in another order replay identically
    assert list(ReplaySource(list(reversed(paths)), start="2024-07-01", end="2024-09-01")) == events


def test_time_range_keeps_start_inclusive_end_exclusive() -> None:
    start, end = to_ms("2025-06-08T12:00"), to_ms("2025-06-10T06:30")
    source = ReplaySource([BTC_1M, FUNDING], start=start, end=end)
    # whole-month and whole-day files outside the range are never opened
    assert {f.date for f in source.files} == {"2025-06", "2025-06-08", "2025-06-09", "2025-06-10"}
    events = list(source)
    assert min(e.time for e in events) >= start and max(e.time for e in events) < end
    everything = [e for e in ReplaySource([BTC_1M, FUNDING]) if start <= e.time < end]
    assert events == everything
    candles = [e for e in events if isinstance(e, CandleClosed)]
    assert len(candles) == (end - start) // 60_000  # 12:00:59.999 is the first close in range
    # settlements at 16:00 on the 8th, 00:00, 08:00 and 16:00 on the 9th, 00:00 on the 10th
    assert sum(isinstance(e, FundingRate) for e in events) == 5
    assert ReplaySource(BTC_1M, start="2030-01-01").files == ()
    # a folder and a file inside it: the file is replayed once
    both = ReplaySource([BTC_1M, BTC_1M / "BTCUSDT-1m-2025-06-09.zip"], start=start, end=end)
    assert list(both) == [e for e in events if isinstance(e, CandleClosed)]
    with pytest.raises(ValueError, match="empty time range"):
        ReplaySource(BTC_1M, start="2025-06-09", end="2025-06-08")


def test_kind_and_symbol_filters_and_skipped_metrics() -> None:
    source = ReplaySource(FUT / "um/daily", kinds=["trades"], symbols=["ethusdt"])
    assert [f.path.name for f in source.files] == ["ETHUSDT-trades-2024-08-08.zip"]
    assert [(p.name, why) for p, why in source.skipped] == [
        (
            "BTCUSDT-metrics-2024-01-01.zip",
            "metrics files hold open interest and long/short ratios, not market events",
        )
    ]
    metrics = next(FUT.glob("um/daily/metrics/*/*.zip"))
    with pytest.raises(ReplayFileError, match=r"metrics-2024-01-01\.zip: metrics files .* replay ignores them"):
        next(read_events(metrics))


# --- bad input: file and line named, never skipped --------------------------------------------


def _trades_file(tmp_path: Path, lines: list[str], name: str = "BTCUSDT-trades-2024-07-18.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


GOOD = ["id,price,qty,quote_qty,time,is_buyer_maker", "1,100.5,0.010,1.005,1721347022956,true"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("3,100.5,0.010,1721347022999,true", "5 columns where a trades row has 6"),
        ("3,100.5,0.010,1.005,1721347022999,true,x", "7 columns where a trades row has 6"),
        ("3,abc,0.010,1.005,1721347022999,true", "price 'abc' is not a number"),
        ("3,100.5,0.010,1.005,17213470229.5,true", "time '17213470229.5' is not an integer"),
        ("3,100.5,0.010,1.005,1721347022999,yes", "is_buyer_maker 'yes' is not true or false"),
        ("", "0 columns where a trades row has 6"),
        ("3,100.5,0.010,1.005,1721347022000,true", "(1721347022000) is before 2024-07-18 23:57:02.956"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = _trades_file(tmp_path, [*GOOD, "2,100.5,0.010,1.005,1721347022956,false", bad, GOOD[1]])
    events = read_events(path)
    assert next(events).trade_id == 1 and next(events).trade_id == 2  # type: ignore[union-attr]
    with pytest.raises(ReplayFileError) as info:
        next(events)
    assert str(info.value).startswith(f"{path}:4: ")
    assert message in str(info.value)


def test_wrong_header_and_wrong_kind_are_named(tmp_path: Path) -> None:
    path = _trades_file(tmp_path, ["id,price,qty,time,is_buyer_maker", "1,100.5,0.010,1721347022956,true"])
    with pytest.raises(
        ReplayFileError,
        match=re.escape(f"{path}:1: header 'id,price,qty,time,is_buyer_maker' is not a trades header"),
    ):
        list(read_events(path))
    # an aggTrades file read as trades (kind overridden wrongly) is caught at its header
    with pytest.raises(ReplayFileError, match="is not a trades header; expected 6 columns"):
        list(read_events(describe(AGG, kind="trades")))


def test_zip_with_two_members_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-trades-2024-07-18.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.csv", GOOD[1])
        z.writestr("b.csv", GOOD[1])
    with pytest.raises(ReplayFileError, match=re.escape("expected one CSV member, found 2 (a.csv, b.csv)")):
        list(read_events(path))


def test_overlapping_files_of_one_series_are_refused_by_name_before_replay(tmp_path: Path) -> None:
    # a "monthly" file holding 06-07 next to the 06-07 daily file: replaying both would
    # repeat a day; their names say so before a row is read
    daily = BTC_1M / "BTCUSDT-1m-2025-06-07.zip"
    shutil.copy(daily, tmp_path / daily.name)
    shutil.copy(daily, tmp_path / "BTCUSDT-1m-2025-06.zip")
    with pytest.raises(
        ReplayFileError, match=r"BTCUSDT-1m-2025-06-07\.zip and .*BTCUSDT-1m-2025-06\.zip cover the same"
    ):
        ReplaySource(tmp_path)


def test_overlapping_files_with_undated_names_are_refused_at_the_first_repeated_row(tmp_path: Path) -> None:
    daily = BTC_1M / "BTCUSDT-1m-2025-06-07.zip"
    shutil.copy(daily, tmp_path / "a.zip")
    shutil.copy(daily, tmp_path / "b.zip")
    source = ReplaySource(tmp_path, kind="klines", symbol="BTCUSDT", interval="1m")
    with pytest.raises(ReplayFileError, match=r"b\.zip:2: time .* is before 2025-06-07 23:59:59.999"):
        list(source)


def test_missing_input_and_unnamed_file_in_a_walk(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ReplaySource(tmp_path / "nope")
    (tmp_path / "notes.csv").write_text("hello\n")
    shutil.copy(UM_TRADES, tmp_path)
    source = ReplaySource(tmp_path)
    assert [p.name for p, _ in source.skipped] == ["notes.csv"]
    assert sum(1 for _ in source) == 974
    with pytest.raises(ReplayFileError, match="cannot tell what this file holds"):
        ReplaySource(tmp_path / "notes.csv")


def test_damaged_zip_names_the_file(tmp_path: Path) -> None:
    body = bytearray(UM_TRADES.read_bytes())
    body[2000:2020] = bytes(b ^ 0xFF for b in body[2000:2020])  # inside the deflated CSV
    path = tmp_path / UM_TRADES.name
    path.write_bytes(bytes(body))
    with pytest.raises(ReplayFileError, match=rf"^{re.escape(str(path))}:\d+: "):
        list(read_events(path))
    path.write_bytes(UM_TRADES.read_bytes()[:1000])
    with pytest.raises(ReplayFileError, match="not a readable zip file"):
        list(read_events(path))


def test_a_changed_byte_the_zip_checksum_finds_at_the_end_blames_no_row(tmp_path: Path) -> None:
    # Stored, not deflated: one digit of a volume in the middle changed, every row still parses, and
    # only the CRC read at the end of the member says so. The line reached then is not the damage.
    with zipfile.ZipFile(UM_TRADES) as z:
        text = z.read(UM_TRADES.stem + ".csv")
    path = tmp_path / UM_TRADES.name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(UM_TRADES.stem + ".csv", text)
    body = bytearray(path.read_bytes())
    at = body.index(b",", body.index(b"\n", len(body) // 2) + 1) + 1  # the price of a row halfway in
    body[at] = ord("9") if body[at] != ord("9") else ord("8")
    path.write_bytes(bytes(body))
    with pytest.raises(ReplayFileError) as caught:
        list(read_events(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "checksum" in message and "download it again" in message


def test_check_heads_finds_at_the_start_what_the_replay_would_find_on_opening_a_file(tmp_path: Path) -> None:
    ReplaySource([UM_TRADES, UM_BOOK]).check_heads()  # real files: nothing to say
    path = tmp_path / UM_TRADES.name
    path.write_bytes(UM_TRADES.read_bytes()[:1000])  # a truncated download: no zip directory
    with zipfile.ZipFile(tmp_path / UM_BOOK.name, "w") as z:  # a bookTicker name over a trades header
        z.writestr(UM_BOOK.stem + ".csv", "id,price,qty,quote_qty,time,is_buyer_maker\n")
    for bad in (path, tmp_path / UM_BOOK.name):
        source = ReplaySource(bad)
        with pytest.raises(ReplayFileError) as replayed:
            list(source)
        with pytest.raises(ReplayFileError) as checked:
            source.check_heads()
        assert str(checked.value) == str(replayed.value)


def test_a_row_stamped_after_2100_is_an_error_not_a_time_to_replay_to(tmp_path: Path) -> None:
    path = _trades_file(tmp_path, [*GOOD, "2,100.5,0.010,1.005,99999999999999999999,false"])
    with pytest.raises(ReplayFileError, match=r":3: time 99999999999999999 is after 2100-01-01"):
        list(read_events(path))


def test_a_zip_that_inflates_to_one_endless_line_is_refused_without_reading_it_into_memory(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m-2025-06-08.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z, z.open(path.stem + ".csv", "w") as f:
        chunk = b"7" * (1 << 20)
        for _ in range(200):  # 200 MB of digits, no line break: a 400 KB file
            f.write(chunk)
    code = (
        "import sys\n"
        "from rulebot.feeds.replay import ReplayFileError, read_events\n"
        "try:\n    list(read_events(sys.argv[1]))\n"
        "except ReplayFileError as exc:\n    print(exc)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking pytest process.
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) // 1024)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    message, peak_mb = proc.stdout.splitlines()
    assert f"{path}:1: a line longer than" in message
    assert int(peak_mb) < 150, f"peak memory {peak_mb} MB"


def test_a_time_before_any_calendar_is_named_in_the_error_not_an_oserror(tmp_path: Path) -> None:
    # found by tests/feeds/test_replay_fuzz.py: the message's date formatting raised OSError
    path = _trades_file(tmp_path, [*GOOD, "2,100.5,0.010,1.005,-67768040609740804001,false"])
    with pytest.raises(ReplayFileError, match=r":3: time -67768040609740804001 \(-67768040609740804001\) is before"):
        list(read_events(path))


def test_a_zip_whose_member_names_another_file_is_refused(tmp_path: Path) -> None:
    # ETHUSDT's day renamed to BTCUSDT's: replayed, it was a BTCUSDT backtest at ETH's prices.
    eth = FUT / "um/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2025-06-08.zip"
    path = tmp_path / "BTCUSDT-1m-2025-06-08.zip"
    shutil.copy(eth, path)
    with pytest.raises(ReplayFileError, match=r"its CSV member is ETHUSDT-1m-2025-06-08\.csv.*renamed"):
        list(read_events(path))
    with pytest.raises(ReplayFileError, match=re.escape("ETHUSDT-1m-2025-06-08.csv")):
        list(ReplaySource(path))
    # a member with a name that says nothing (zipped by hand) is still read
    plain = tmp_path / "hand" / "BTCUSDT-1m-2025-06-08.zip"
    plain.parent.mkdir()
    with zipfile.ZipFile(eth) as src, zipfile.ZipFile(plain, "w") as dst:
        dst.writestr("data.csv", src.read(src.namelist()[0]))
    assert sum(1 for _ in read_events(plain)) == 1440


def test_a_klines_file_whose_bars_do_not_last_the_interval_its_name_says_is_refused(tmp_path: Path) -> None:
    """1m bars in a file named 5m were read as 5m candles: every 5m indicator and rule ran on the wrong
    bars, with no word. Each bar of Binance's files lasts exactly its interval."""
    day = BTC_1M / "BTCUSDT-1m-2025-06-07.zip"
    misnamed = tmp_path / "BTCUSDT-5m-2025-06-07.csv"
    misnamed.write_text(_csv_text(day))
    with pytest.raises(ReplayFileError) as err:
        list(read_events(misnamed))
    assert f"{misnamed}:2: the bar lasts 1m" in str(err.value) and "the file's name says 5m bars" in str(err.value)
    # Microsecond stamps (newer archive files) last the interval too, once read as milliseconds.
    rows = list(csv.reader(io.StringIO(_csv_text(day))))
    for row in rows[1:]:
        row[0], row[6] = f"{row[0]}000", f"{row[6]}999"
    micro = tmp_path / "micro" / day.with_suffix(".csv").name
    micro.parent.mkdir()
    with micro.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert list(read_events(micro)) == list(read_events(day))


@pytest.mark.parametrize("kind", ["markPriceKlines", "indexPriceKlines", "premiumIndexKlines"])
def test_a_price_klines_file_whose_bars_do_not_last_its_interval_is_refused(tmp_path: Path, kind: str) -> None:
    # As above: no real file of these kinds exists; a klines file stands in (the same layout).
    source = BTC_1M / "BTCUSDT-1m-2025-06-07.zip"
    misnamed = tmp_path / f"futures/um/daily/{kind}/BTCUSDT/1h/BTCUSDT-1h-2025-06-07.csv"
    misnamed.parent.mkdir(parents=True)
    misnamed.write_text(_csv_text(source))
    assert describe(misnamed).kind == kind
    with pytest.raises(ReplayFileError, match=r":2: the bar lasts 1m .* the file's name says 1h bars"):
        list(read_events(misnamed))
