"""The columnar (pyarrow) parser gives exactly the row parser's events, in the same order, with the
same last time; and on a bad file exactly its events up to the bad row and then its error message.

Differential: every archive file in ../shared/data, whole and cut by start/end, and
hypothesis-made files of every kind (real rows with cells replaced by what breaks parsers: signs,
spaces, hex, underscores, quotes, blank lines, carriage returns, NUL, a BOM, huge numbers, rows
out of order...), plain and zipped, with and without a header.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulebot.feeds.archive_format import COLUMNS, KINDS, NO_END, ArchiveFile, ReplayFileError
from rulebot.feeds.columnar import event_batches
from rulebot.feeds.replay import describe
from rulebot.feeds.replay_files import parse_file, parse_rows
from rulebot.testing.shared import ARCHIVE, require

REAL = sorted(
    p for p in require(ARCHIVE).rglob("*") if p.suffix in (".zip", ".csv") and p.name.split("-")[1:2] != ["metrics"]
)


def _outcome(parse, file: ArchiveFile, start: int = 0, end: int = NO_END, floor: int = 0):  # type: ignore[no-untyped-def]
    """Everything a consumer sees: the events, then the return value or the error's message (as
    text: a NaN volume, which both let through, is not equal to itself)."""
    events: list[object] = []
    gen = parse(file, start, end, floor)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as done:
        return repr(events), ("returned", done.value)
    except ReplayFileError as exc:
        return repr(events), ("error", str(exc))


def _files() -> list[ArchiveFile]:
    files = [describe(p) for p in REAL]
    return [f for f in files if f.kind in KINDS]


def test_every_shared_archive_file_parses_to_the_row_parsers_events() -> None:
    files = _files()
    assert {f.kind for f in files} >= {"klines", "aggTrades", "trades", "bookTicker", "fundingRate"}
    for file in files:
        expected = _outcome(parse_rows, file)
        assert expected[1][0] == "returned", expected[1]
        assert _outcome(parse_file, file) == expected, file.path
        # ...by the columnar parser itself (a real file never needs the row parser).
        assert repr([e for b, _ in event_batches(file, 0, NO_END, 0) for e in b]) == expected[0], file.path


def test_a_cut_by_from_and_to_gives_the_row_parsers_events_and_last_time() -> None:
    for file in _files()[::3]:
        times = [e.time for e in parse_rows(file)]
        if len(times) < 4:
            continue
        for start, end in ((times[len(times) // 3], times[2 * len(times) // 3]), (times[1], times[1]), (0, times[-1])):
            assert _outcome(parse_file, file, start, end) == _outcome(parse_rows, file, start, end), (file.path, start)
        floor = times[0] + 1  # a file that goes back below the one before it
        assert _outcome(parse_file, file, 0, NO_END, floor) == _outcome(parse_rows, file, 0, NO_END, floor)


TEMPLATES = {
    "klines": "1749340800000,105507.5,105507.6,105507.5,105507.6,22.206,1749340859999,2342.1,12,18.627,1000.5,0",
    "markPriceKlines": "1749340800000,105507.5,105507.6,105507.5,105507.6,0,1749340859999,0,60,0,0,0",
    "premiumIndexKlines": "1749340800000,-0.0001,0.0002,-0.0003,0.0001,0,1749340859999,0,60,0,0,0",
    "aggTrades": "{i},105000.1,0.5,{j},{k},1749340800005,true",
    "trades": "{i},105000.1,0.5,52500.05,1749340800005,False",
    "bookTicker": "{i},105000.1,1.5,105000.2,0.7,1749340800004,1749340800005",
    "fundingRate": "1749340800000,8,0.00010000",
}
CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-5",
            "+5",
            " 5",
            "5 ",
            "0x1f",
            "1_000",
            "١٢",
            "NaN",
            "Infinity",
            "1e999999",
            "sNaN",
            "1e-999999",
            "true",
            "True",
            "TRUE",
            "x",
            '"5"',
            '"1,2"',
            "\x00",
            "9" * 19,
            "9" * 30,
            "1749340800005000",
            "-0",
            "00012",
            "5000000000000",
            "4102444800001",
            "1e3",
            "0.0",
            "1.",
            ".5",
        ]
    ),
    st.integers(-(10**20), 10**20).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet='0123456789.,-e\r" ', max_size=6),
)


@st.composite
def archive_text(draw: st.DrawFn, kind: str) -> str:
    """A file of real rows stepped in time, some cells, rows and line breaks damaged."""
    template = TEMPLATES[kind]
    step = draw(st.sampled_from([60_000, 1, 0, -1]) if draw(st.integers(0, 9)) == 0 else st.just(60_000))
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(",".join(COLUMNS[kind]))
    for n in range(draw(st.integers(0, 12))):
        row = template.format(i=n + 7, j=3 * n, k=3 * n + 2).split(",")
        row = [str(int(c) + n * step) if c.isdigit() and len(c) == 13 else c for c in row]
        if draw(st.integers(0, 4)) == 0:
            row[draw(st.integers(0, len(row) - 1))] = draw(CELLS)
        if draw(st.integers(0, 24)) == 0:
            row = row[: draw(st.integers(0, len(row) + 1))] + ([] if draw(st.booleans()) else ["1"])
        lines.append(",".join(row))
    ending = draw(st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"]))
    text = ending.join(lines) + (ending if draw(st.booleans()) else "")
    if draw(st.integers(0, 9)) == 0:
        text = "\ufeff" + text
    if draw(st.integers(0, 14)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["\n", "\n\n", "\r", '"', ",", "\x00", "é"])) + text[at:]
    return text


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _write(folder: Path, kind: str, text: str, zipped: bool) -> ArchiveFile:
    name = f"BTCUSDT-{'1m' if 'lines' in kind else kind}-2025-06-08"
    path = folder / f"{name}.csv"
    path.write_bytes(text.encode("utf-8"))
    if zipped:
        with zipfile.ZipFile(folder / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(path, f"{name}.csv")
        path = folder / f"{name}.zip"
    return ArchiveFile(path, kind, "BTCUSDT", interval="1m" if "lines" in kind else None)


@pytest.mark.parametrize("kind", [*sorted(TEMPLATES), "indexPriceKlines"])
@FUZZ
@given(data=st.data(), zipped=st.booleans())
def test_any_file_parses_as_the_row_parser_would_including_its_errors(
    kind: str, data: st.DataObject, zipped: bool
) -> None:
    text = data.draw(archive_text(kind if kind != "indexPriceKlines" else "markPriceKlines"))
    start, end, floor = 0, NO_END, 0
    if data.draw(st.integers(0, 3)) == 0:
        base = 1_749_340_800_000
        start = base + data.draw(st.integers(-1, 12)) * 60_000
        end = start + data.draw(st.integers(0, 12)) * 60_000
        floor = data.draw(st.sampled_from([0, base, base + 120_000]))
    with tempfile.TemporaryDirectory() as tmp:
        file = _write(Path(tmp), kind, text, zipped)
        assert _outcome(parse_file, file, start, end, floor) == _outcome(parse_rows, file, start, end, floor)


def test_a_damaged_zip_fails_with_the_row_parsers_message(tmp_path: Path) -> None:
    file = _write(
        tmp_path, "aggTrades", "\n".join(TEMPLATES["aggTrades"].format(i=i, j=i, k=i) for i in range(1, 3000)), True
    )
    blob = bytearray(file.path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    file.path.write_bytes(bytes(blob))
    got = _outcome(parse_file, file)
    assert got == _outcome(parse_rows, file)
    assert got[1][0] == "error" and "damaged" in got[1][1]


def test_a_line_longer_than_any_archive_row_is_refused_as_before(tmp_path: Path) -> None:
    row = TEMPLATES["trades"].format(i=1)
    text = row + "\n" + row.replace(",False", ",False" + "0" * 70_000).replace("1,", "2,", 1) + "\n"
    file = _write(tmp_path, "trades", text, False)
    got = _outcome(parse_file, file)
    assert got == _outcome(parse_rows, file)
    assert "longer than" in got[1][1]


def test_parsing_reads_a_chunk_at_a_time_so_memory_stays_flat_in_the_length_of_the_file(tmp_path: Path) -> None:
    import tracemalloc

    import pyarrow as pa

    def peaks(rows: int) -> tuple[int, int]:
        """The most memory Arrow and Python held at once while the file was parsed."""
        row = TEMPLATES["aggTrades"]
        text = "".join(
            row.format(i=i, j=i, k=i).replace("1749340800005", str(1749340800005 + i)) + "\n" for i in range(1, rows)
        )
        file = _write(tmp_path, "aggTrades", text, False)
        del text
        arrow = count = 0
        tracemalloc.start()
        try:
            for count, _ in enumerate(parse_file(file), 1):
                if count % 5_000 == 0:
                    arrow = max(arrow, pa.total_allocated_bytes())
            python = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert count == rows - 1
        return arrow, python

    small, large = peaks(100_000), peaks(400_000)  # 6 MB and 25 MB of CSV
    assert large[0] < 1.5 * small[0] + 1_000_000, (small, large)
    assert large[1] < 1.5 * small[1] + 1_000_000, (small, large)
    assert large[1] < 20_000_000, large  # pyarrow reads ahead a few blocks: never the whole file


def _many_agg_rows(rows: int) -> list[str]:
    row = TEMPLATES["aggTrades"]
    return [row.format(i=i, j=i, k=i).replace("1749340800005", str(1749340800005 + i)) for i in range(1, rows)]


@settings(max_examples=25, deadline=None)
@given(
    damage=st.sampled_from(["", "\ufeff", '"', "\r", "\n", "x", ",1", "-"]),
    at=st.integers(0, 29_998),
    ending=st.sampled_from(["\n", "\r\n"]),
)
def test_a_file_of_many_blocks_parses_as_the_row_parser_would_wherever_it_is_damaged(
    damage: str, at: int, ending: str
) -> None:
    lines = _many_agg_rows(30_000)  # ~2 MB: blocks are cut at line ends, a damaged line anywhere
    lines[at] = damage + lines[at]
    with tempfile.TemporaryDirectory() as tmp:
        file = _write(Path(tmp), "aggTrades", ending.join(lines) + ending, False)
        assert _outcome(parse_file, file) == _outcome(parse_rows, file)


def test_a_line_starting_with_a_bom_at_the_start_of_a_block_is_refused_as_before(tmp_path: Path) -> None:
    from rulebot.feeds.columnar import _BLOCK

    text = "".join(line + "\n" for line in _many_agg_rows(20_000))
    second_block = text.rindex("\n", 0, _BLOCK) + 1  # ASCII: characters are bytes
    file = _write(tmp_path, "aggTrades", text[:second_block] + "\ufeff" + text[second_block:], False)
    got = _outcome(parse_file, file)
    assert got == _outcome(parse_rows, file)
    assert got[1][0] == "error" and "agg_trade_id" in got[1][1], got[1]


def test_clean_files_of_many_blocks_are_read_by_the_columnar_parser_itself(tmp_path: Path) -> None:
    for ending in ("\n", "\r\n"):
        file = _write(tmp_path, "aggTrades", ending.join(_many_agg_rows(30_000)), True)
        columnar = [e for batch, _ in event_batches(file, 0, NO_END, 0) for e in batch]
        assert repr(columnar) == _outcome(parse_rows, file)[0]


@pytest.mark.parametrize(
    ("low", "open_", "valid"),
    [
        ("105507.50", "105507.5", True),  # equal numbers, other texts: checked exactly, not refused
        ("105507.50000000000000000001", "105507.5", False),  # the same float, but the low is above the open
        ("105507.5", "105507.50000000000000000001", True),
    ],
)
def test_a_bar_the_floats_cannot_tell_is_checked_exactly(tmp_path: Path, low: str, open_: str, valid: bool) -> None:
    row = TEMPLATES["klines"].split(",")
    row[1], row[3] = open_, low
    file = _write(
        tmp_path, "klines", TEMPLATES["klines"] + "\n" + ",".join(row).replace("17493408", "17493409") + "\n", False
    )
    got = _outcome(parse_file, file)
    assert got == _outcome(parse_rows, file)
    assert (got[1][0] == "returned") is valid, got
    if valid:  # read by the columnar parser itself
        assert repr([e for b, _ in event_batches(file, 0, NO_END, 0) for e in b]) == got[0]
