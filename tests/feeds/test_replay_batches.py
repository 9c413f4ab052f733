"""A replay hands the columnar parser's blocks on whole (`file_batches`, `itertools.chain`, no merge
for a single series): the events must be exactly those of the csv row parser, file by file, chained
with each file's floor and merged by time, as before -- same fields, same Decimal values and
exponents, same order, same error at the same point.

Differential against a reference written here from the row parser alone: on the real files in
../shared/data, and on hypothesis-made kline files whose prices and volumes are written with odd
decimals (trailing zeros, exponents, many places, leading zeros), one file or a series of several.
"""

from __future__ import annotations

import heapq
import tempfile
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from operator import attrgetter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.core.events import CandleClosed, MarketEvent
from rulebot.feeds.archive_format import COLUMNS, ReplayFileError
from rulebot.feeds.column_cells import Unsure
from rulebot.feeds.columnar import event_batches
from rulebot.feeds.replay import ReplaySource, describe
from rulebot.feeds.replay_files import parse_file, parse_rows
from rulebot.testing.shared import ARCHIVE, require

DAY_MS = 86_400_000
MINUTE_MS = 60_000


def _reference(source: ReplaySource) -> Iterator[MarketEvent]:
    """The replay as the row parser alone gives it: each series' files chained (each file's floor
    the last time of the one before), the series merged by time, ties in series order."""

    def chained(files: tuple) -> Iterator[MarketEvent]:  # type: ignore[type-arg]
        last = 0
        for file in files:
            last = yield from parse_rows(file, source.start, source.end, last)

    return heapq.merge(*(chained(files) for files in source.series.values()), key=attrgetter("time"))


def _outcome(events: Iterator[MarketEvent]) -> tuple[str, str | None]:
    """What a reader sees: the events (as repr: a Decimal's exponent shows) and the error, if any."""
    seen: list[MarketEvent] = []
    try:
        for event in events:
            seen.append(event)
    except ReplayFileError as exc:
        return repr(seen), str(exc)
    return repr(seen), None


def test_the_replay_of_the_shared_files_is_the_row_parsers_merge() -> None:
    futures = require(ARCHIVE) / "futures"
    cases = [ReplaySource(futures / "um"), ReplaySource(futures / "cm")]
    # One series alone (no merge at all), and one cut by a time range.
    klines = sorted((futures / "um").rglob("BTCUSDT-1m-*.zip"))
    assert len(klines) >= 2
    cases.append(ReplaySource(klines))
    first = describe(klines[0]).period()
    assert first is not None
    cases.append(ReplaySource(klines, first[0] + 7 * MINUTE_MS, first[1] + 93 * MINUTE_MS))
    for source in cases:
        got, expected = _outcome(iter(source)), _outcome(_reference(source))
        assert expected[1] is None and expected[0] != "[]"
        assert got == expected


PRICE_TICKS = st.integers(1, 10**9)


@st.composite
def odd_decimal(draw: st.DrawFn, ticks: int, places: int) -> str:
    """`ticks` * 10**-places written as Binance never does but Decimal reads: extra trailing zeros,
    an exponent, leading zeros, no digit before the point."""
    value = Decimal(ticks).scaleb(-places)
    form = draw(st.integers(0, 5))
    if form == 1:
        return str(value.quantize(Decimal(1).scaleb(-(places + draw(st.integers(1, 4))))))
    if form == 2:
        return f"{value:E}"
    if form == 3:
        return "00" + str(value)
    if form == 4 and 0 < value < 1:
        return str(value).removeprefix("0")
    if form == 5:
        return str(value.normalize())
    return str(value)


@st.composite
def kline_rows(draw: st.DrawFn, first_open: int, count: int) -> list[str]:
    places = draw(st.integers(0, 8))
    rows = []
    for i in range(count):
        ticks = sorted(draw(st.lists(PRICE_TICKS, min_size=4, max_size=4)))
        low, high = ticks[0], ticks[3]
        open_, close = draw(st.permutations(ticks[1:3]))
        cells = [draw(odd_decimal(t, places)) for t in (open_, high, low, close)]
        volume, quote, taker = (draw(odd_decimal(draw(st.integers(0, 10**12)), draw(st.integers(0, 6)))) for _ in "vqt")
        opens = first_open + i * MINUTE_MS
        row = [str(opens), *cells, volume, str(opens + MINUTE_MS - 1), quote, str(draw(st.integers(0, 10**6)))]
        rows.append(",".join([*row, taker, "0", "0"]))
    return rows


def _write(folder: Path, day: int, rows: list[str], header: bool, zipped: bool) -> Path:
    name = f"BTCUSDT-1m-2025-06-{day:02d}"
    text = "".join(line + "\n" for line in ([",".join(COLUMNS["klines"])] if header else []) + rows)
    path = folder / "futures/um/daily/klines/BTCUSDT/1m" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if zipped:
        with zipfile.ZipFile(path.with_suffix(".zip"), "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{name}.csv", text)
        return path.with_suffix(".zip")
    path.write_text(text)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), days=st.integers(1, 3), header=st.booleans(), zipped=st.booleans())
def test_kline_files_with_odd_decimals_replay_as_the_row_parser_reads_them(
    data: st.DataObject, days: int, header: bool, zipped: bool
) -> None:
    june_1 = 1_748_736_000_000
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for day in range(1, days + 1):
            rows = data.draw(kline_rows(june_1 + (day - 1) * DAY_MS, data.draw(st.integers(0, 6))))
            paths.append(_write(Path(tmp), day, rows, header, zipped))
        for path in paths:
            file = describe(path)
            rows_outcome = _outcome(parse_rows(file))
            assert rows_outcome[1] is None
            assert _outcome(parse_file(file)) == rows_outcome
            # The columnar parser itself, where it vouches for the file, gives the very same events.
            try:
                columnar = [e for batch, _ in event_batches(file, 0, 1 << 62, 0) for e in batch]
            except Unsure:
                continue
            assert repr(columnar) == rows_outcome[0]
        source = ReplaySource(tmp)
        assert _outcome(iter(source)) == _outcome(_reference(source))


def test_the_columnar_parser_vouches_for_plain_odd_decimals_itself(tmp_path: Path) -> None:
    # Not a test that passes by falling back: exponents and trailing zeros are read by pyarrow's path.
    cells = ("1.50E+2", "1.6E2", "140.000", "150", "0.0E-3")
    row = f"1748736000000,{','.join(cells)},1748736059999,0,3,0,0,0"
    file = describe(_write(tmp_path, 1, [row], True, False))
    events = [e for batch, _ in event_batches(file, 0, 1 << 62, 0) for e in batch]
    assert len(events) == 1 and isinstance(events[0], CandleClosed)
    bar = events[0]
    got = (bar.open, bar.high, bar.low, bar.close, bar.volume)
    assert [d.as_tuple() for d in got] == [Decimal(c).as_tuple() for c in cells]
    assert repr(events) == _outcome(parse_rows(file))[0]


@pytest.mark.parametrize("zipped", [False, True])
def test_a_file_the_row_parser_reads_after_the_columnar_one_gave_up_floors_the_next_file(
    tmp_path: Path, zipped: bool
) -> None:
    june_1 = 1_748_736_000_000
    row = "{o},100.0,101.0,99.0,100.5,1.5,{c},150,3,0.5,50,0"
    first = [row.format(o=june_1 + i * MINUTE_MS, c=june_1 + i * MINUTE_MS + MINUTE_MS - 1) for i in range(5)]
    first[2] = first[2].replace("100.5", '"100.5"', 1)  # quoted: the columnar parser hands the file on
    _write(tmp_path, 1, first, True, zipped)
    # The next day's file starts with a row stamped before the first file's last: refused, by line.
    second = [row.format(o=june_1 + 3 * MINUTE_MS, c=june_1 + 4 * MINUTE_MS - 1)]
    _write(tmp_path, 2, second, True, zipped)
    source = ReplaySource(tmp_path)
    got = _outcome(iter(source))
    assert got == _outcome(_reference(source))
    assert got[1] is not None and got[0].count("CandleClosed(") == 5
