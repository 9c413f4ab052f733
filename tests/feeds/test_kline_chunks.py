"""A kline replay given as `KlineChunk`s (kline_chunks.py) is the replay of events: each chunk's
candles, made one at a time (`candle(j)`, its cells cut from the text) or all at once (`candles()`),
are the row parser's, to the Decimal exponent; its float columns are `float()` of those Decimals;
and a file the events' constructors would have refused is refused, with the row parser's error at
the same row, although a chunk makes no Decimal until asked.

Differential against the row parser alone (test_replay_batches' reference), on hypothesis-made kline
files written with odd decimals (trailing zeros: rows the float check cannot vouch for, and that are
checked exactly; exponents, leading zeros), and on files with a cell no chunk may take on trust.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.core.events import CandleClosed, MarketEvent
from rulebot.feeds import kline_chunks
from rulebot.feeds.column_cells import _floats
from rulebot.feeds.kline_chunks import CLOSE, HIGH, LOW, OPEN, QUOTE_VOLUME, TAKER_VOLUME, VOLUME, KlineChunk
from rulebot.feeds.replay import ReplaySource
from tests.feeds.test_replay_batches import DAY_MS, MINUTE_MS, _outcome, _reference, _write, kline_rows

_FIELDS = {
    OPEN: "open",
    HIGH: "high",
    LOW: "low",
    CLOSE: "close",
    VOLUME: "volume",
    QUOTE_VOLUME: "quote_volume",
    TAKER_VOLUME: "taker_buy_volume",
}


def _chunked(folder: Path) -> ReplaySource:
    source = ReplaySource(folder)
    source.kline_chunks = True
    assert source.gives_chunks
    return source


def _one_by_one(source: ReplaySource, seen: list[KlineChunk]) -> Iterator[MarketEvent]:
    for item in source:
        if isinstance(item, KlineChunk):
            seen.append(item)
            yield from (item.candle(j) for j in range(len(item)))
        else:
            yield item  # a file the row parser reads


def _all_at_once(source: ReplaySource) -> Iterator[MarketEvent]:
    for item in source:
        yield from (item.candles() if isinstance(item, KlineChunk) else [item])


def _check_columns(chunk: KlineChunk) -> None:
    """Each float column is float() of its field, and each cell's Decimal is the candle's."""
    made = chunk.candles()
    for name in ("open", "high", "low", "close", "volume"):
        assert getattr(chunk, name).tolist() == [float(getattr(c, name)) for c in made]
    assert chunk.open_time.tolist() == [c.open_time for c in made]
    assert chunk.close_time.tolist() == [c.close_time for c in made]
    for field, name in _FIELDS.items():
        for j, candle in enumerate(made):
            assert chunk.decimal(field, j).as_tuple() == getattr(candle, name).as_tuple()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), days=st.integers(1, 3), header=st.booleans(), zipped=st.booleans())
def test_kline_chunks_give_the_row_parsers_candles(data: st.DataObject, days: int, header: bool, zipped: bool) -> None:
    june_1 = 1_748_736_000_000
    with tempfile.TemporaryDirectory() as tmp:
        for day in range(1, days + 1):
            rows = data.draw(kline_rows(june_1 + (day - 1) * DAY_MS, data.draw(st.integers(0, 40))))
            _write(Path(tmp), day, rows, header, zipped)
        source = _chunked(Path(tmp))
        expected = _outcome(_reference(source))
        assert expected[1] is None
        chunks: list[KlineChunk] = []
        assert _outcome(_one_by_one(source, chunks)) == expected
        assert _outcome(_all_at_once(source)) == expected
        for chunk in chunks:
            _check_columns(chunk)


def test_a_chunk_asked_for_many_candles_makes_them_all_at_once_and_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kline_chunks, "_ONE_BY_ONE", 3)  # and half of the 10 rows: the 6th asked makes all
    june_1 = 1_748_736_000_000
    row = "{o},100.0,101.00,99.0,100.50,1.5,{c},150,3,0.5,50,0"
    rows = [row.format(o=june_1 + i * MINUTE_MS, c=june_1 + i * MINUTE_MS + MINUTE_MS - 1) for i in range(10)]
    _write(tmp_path, 1, rows, True, False)
    source = _chunked(tmp_path)
    chunks: list[KlineChunk] = []
    assert _outcome(_one_by_one(source, chunks)) == _outcome(_reference(source))
    assert len(chunks) == 1 and len(chunks[0]) == 10
    assert chunks[0]._all is not None  # made all at once: the same candles as one by one


def test_a_chunk_asked_for_a_few_candles_makes_only_those(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A jumping rulebook asks for a few candles of each chunk: each is made alone, the chunk's others
    never (making them all costs more once fewer than half are asked for)."""
    monkeypatch.setattr(kline_chunks, "_ONE_BY_ONE", 3)
    june_1 = 1_748_736_000_000
    row = "{o},100.0,101.00,99.0,100.50,1.5,{c},150,3,0.5,50,0"
    rows = [row.format(o=june_1 + i * MINUTE_MS, c=june_1 + i * MINUTE_MS + MINUTE_MS - 1) for i in range(10)]
    _write(tmp_path, 1, rows, True, False)
    (chunk,) = (item for item in _chunked(tmp_path) if isinstance(item, KlineChunk))
    reference = chunk.candles()
    chunk._all = None
    for j in (0, 2, 4, 6, 8):  # five of ten: not more than half
        assert chunk.candle(j) == reference[j]
    assert chunk._all is None
    assert chunk.candle(9) == reference[9] and chunk._all is not None  # the sixth: all at once


@pytest.mark.parametrize(
    "cell",
    [
        "abc",  # no number: the row parser names the row
        "1_000",  # Decimal reads it, the chunk does not vouch for it: the row parser reads the file
        "-5",
        " 7",
        "NaN",
        "1e99999",
        "1e-99999",
        "1E+2",
        "inf",
        "+5",
        "0x1p3",
        "5.",
        ".5",
        "0",
    ],
)
@pytest.mark.parametrize("column", [7, 9, 5, 2])  # quote volume, taker volume, volume, high
def test_a_cell_no_chunk_takes_on_trust_goes_to_the_row_parser(tmp_path: Path, cell: str, column: int) -> None:
    june_1 = 1_748_736_000_000
    row = "{o},100.0,101.0,99.0,100.5,1.5,{c},150,3,0.5,50,0"
    rows = [row.format(o=june_1 + i * MINUTE_MS, c=june_1 + i * MINUTE_MS + MINUTE_MS - 1) for i in range(6)]
    cells = rows[3].split(",")
    cells[column] = cell
    rows[3] = ",".join(cells)
    _write(tmp_path, 1, rows, True, False)
    source = _chunked(tmp_path)
    chunks: list[KlineChunk] = []
    got, expected = _outcome(_one_by_one(source, chunks)), _outcome(_reference(source))
    assert got == expected  # every candle of a chunk made: a cell Decimal() refuses would raise
    if cell == "abc":
        assert expected[1] is not None and ".csv:5: " in expected[1]


def test_the_floats_of_a_chunk_are_the_decimals_rounded(tmp_path: Path) -> None:
    # Texts whose float is not exact, and equal values written differently (the float check is unsure).
    june_1 = 1_748_736_000_000
    row = "{o},0.1000,0.30000000000000004,0.1,0.2,0.7,{c},150,3,0.5,50,0"
    rows = [row.format(o=june_1 + i * MINUTE_MS, c=june_1 + i * MINUTE_MS + MINUTE_MS - 1) for i in range(3)]
    _write(tmp_path, 1, rows, True, False)
    (chunk,) = list(_chunked(tmp_path))
    assert isinstance(chunk, KlineChunk)
    _check_columns(chunk)
    assert chunk.candle(1) == CandleClosed(
        "BTCUSDT",
        "1m",
        june_1 + MINUTE_MS,
        june_1 + 2 * MINUTE_MS - 1,
        Decimal("0.1000"),
        Decimal("0.30000000000000004"),
        Decimal("0.1"),
        Decimal("0.2"),
        Decimal("0.7"),
        Decimal("150"),
        3,
        Decimal("0.5"),
    )


@settings(max_examples=400, deadline=None)
@given(texts=st.lists(st.text(alphabet="0123456789.eE+-_ xXpPinfatyINFATY", min_size=1, max_size=12), min_size=1))
def test_a_text_pyarrow_reads_as_a_number_decimal_reads(texts: list[str]) -> None:
    """What a chunk stands on: a cell whose float pyarrow reads is a cell Decimal() reads, so the
    Decimals a chunk makes later, only where asked, cannot fail."""
    for text in texts:
        try:
            (value,) = _floats(pa.array([text], pa.string())).tolist()
        except pa.ArrowInvalid:
            continue
        assert float(Decimal(text)) == value or value != value
