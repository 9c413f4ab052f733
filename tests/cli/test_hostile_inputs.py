"""Broken and hostile inputs through the real command line: a message, never a traceback.

Each case builds its input in tmp_path (from a real Binance file where one is needed), runs
`rulebot` on it and checks the README's exit code (1 invalid input, 2 usage) and a message
that names the file, and the line where there is one.
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.testing.shared import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = str(ROOT / "rules" / "ema-trend-btc.yaml")
REAL_DAY = ARCHIVE / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-06-08.zip"
KLINES = "BTCUSDT-1m-2025-06-08"
DAY = 1_749_340_800_000  # 2025-06-08 00:00 UTC


def _real_lines() -> list[str]:
    with zipfile.ZipFile(REAL_DAY) as z:
        return z.read(z.namelist()[0]).decode().splitlines(keepends=True)


def _zip(path: Path, text: str, *extra: tuple[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(path.stem + ".csv", text)
        for name, body in extra:
            z.writestr(name, body)
    return path


def _klines(tmp: Path, edit: Callable[[list[str]], list[str]], name: str = KLINES) -> Path:
    """The real day's klines with `edit` applied to its lines (header at index 0)."""
    return _zip(tmp / "data" / f"{name}.zip", "".join(edit(_real_lines())))


def _set(line: str, column: int, value: str) -> str:
    cells = line.rstrip("\n").split(",")
    cells[column] = value
    return ",".join(cells) + "\n"


def _with_good_klines(tmp: Path, name: str, text: str) -> Path:
    """A folder with the real klines day and one other file (another kind, same symbol and day)."""
    folder = tmp / "data"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REAL_DAY.name).write_bytes(REAL_DAY.read_bytes())
    _zip(folder / name, text)
    return folder / name


def _agg(rows: list[str]) -> str:
    head = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    return head + "".join(r + "\n" for r in rows)


def _book(rows: list[str]) -> str:
    head = "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
    return head + "".join(r + "\n" for r in rows)


def _price_bars(rows: list[tuple[str, str, str, str]]) -> str:
    out = []
    for i, (o, h, lo, c) in enumerate(rows):
        t = DAY + i * 60_000
        out.append(f"{t},{o},{h},{lo},{c},0,{t + 59_999},0,60,0,0,0\n")
    return "".join(out)


def _corrupt(tmp: Path) -> Path:
    path = tmp / "data" / f"{KLINES}.zip"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 this is not a zip file" * 50)
    return path


def _truncated(tmp: Path) -> Path:
    path = tmp / "data" / f"{KLINES}.zip"
    path.parent.mkdir(parents=True)
    raw = REAL_DAY.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _bit_flipped(tmp: Path) -> Path:
    """The central directory intact, the deflate stream damaged: fails while rows are read."""
    path = tmp / "data" / f"{KLINES}.zip"
    path.parent.mkdir(parents=True)
    raw = bytearray(REAL_DAY.read_bytes())
    for i in range(2000, 2400):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    return path


def _binary_csv(tmp: Path) -> Path:
    path = tmp / "data" / f"{KLINES}.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(range(256)) * 40)
    return path


def _overlap(tmp: Path) -> Path:
    folder = tmp / "data"
    folder.mkdir(parents=True)
    (folder / REAL_DAY.name).write_bytes(REAL_DAY.read_bytes())
    (folder / "BTCUSDT-1m-2025-06.zip").write_bytes(REAL_DAY.read_bytes())
    return folder / "BTCUSDT-1m-2025-06.zip"


# (name, build(tmp) -> the bad file, words the message must hold besides the file's name)
DATA_CASES: list[tuple[str, Callable[[Path], Path], list[str]]] = [
    ("corrupt zip", _corrupt, ["not a readable zip file"]),
    ("truncated zip", _truncated, ["not a readable zip file"]),
    ("damaged deflate data", _bit_flipped, ["damaged"]),
    ("binary bytes as csv", _binary_csv, [":1:"]),
    ("two-member zip", lambda t: _zip(t / "data" / f"{KLINES}.zip", "x", ("b.csv", "y")), ["found 2"]),
    ("empty zip", lambda t: _empty_zip(t), ["found 0"]),
    ("bad csv row", lambda t: _klines(t, lambda ls: [*ls[:100], "1,2,x\n", *ls[100:]]), [":101:", "3 columns"]),
    ("reversed rows", lambda t: _klines(t, lambda ls: [ls[0], *reversed(ls[1:])]), [":3:", "is before"]),
    ("duplicate row", lambda t: _klines(t, lambda ls: [*ls[:51], ls[50], *ls[51:]]), [":52:", "repeats"]),
    (
        "high below low",
        lambda t: _klines(t, lambda ls: [*ls[:60], _set(_set(ls[60], 2, "1"), 1, "1"), *ls[61:]]),
        [":61:", "below low"],
    ),
    (
        "negative low",
        lambda t: _klines(t, lambda ls: [*ls[:60], _set(ls[60], 3, "-5"), *ls[61:]]),
        [":61:", "low -5 is not above zero"],
    ),
    (
        "NaN close",
        lambda t: _klines(t, lambda ls: [*ls[:60], _set(ls[60], 4, "NaN"), *ls[61:]]),
        [":61:", "not a finite number"],
    ),
    ("infinite high", lambda t: _klines(t, lambda ls: [*ls[:60], _set(ls[60], 2, "Infinity"), *ls[61:]]), [":61:"]),
    (
        "negative volume",
        lambda t: _klines(t, lambda ls: [*ls[:60], _set(ls[60], 5, "-1"), *ls[61:]]),
        [":61:", "volume -1 is negative"],
    ),
    ("overlapping files", _overlap, [KLINES, "cover the same time"]),
    (
        "a time after 2100 (the engine walked its timers to it and never ended)",
        lambda t: _klines(t, lambda ls: [*ls[:-1], _set(_set(ls[-1], 6, "99999999999999999999"), 0, "1")]),
        [":1441:", "is after 2100-01-01"],
    ),
    (
        "aggTrades negative price",
        lambda t: _with_good_klines(
            t,
            "BTCUSDT-aggTrades-2025-06-08.zip",
            _agg([f"1,105000.1,0.5,1,1,{DAY + 5},true", f"2,-5,0.5,2,2,{DAY + 6},false"]),
        ),
        [":3:", "above zero"],
    ),
    (
        "aggTrades duplicate row",
        lambda t: _with_good_klines(
            t,
            "BTCUSDT-aggTrades-2025-06-08.zip",
            _agg([f"1,105000.1,0.5,1,1,{DAY + 5},true", f"1,105000.1,0.5,1,1,{DAY + 5},true"]),
        ),
        [":3:", "repeats"],
    ),
    (
        "trades zero quantity",
        lambda t: _with_good_klines(
            t,
            "BTCUSDT-trades-2025-06-08.zip",
            "id,price,qty,quote_qty,time,is_buyer_maker\n"
            f"1,105000.1,0.5,52500,{DAY + 5},true\n2,105000.1,0,0,{DAY + 6},true\n",
        ),
        [":3:", "above zero"],
    ),
    (
        "bookTicker crossed",
        lambda t: _with_good_klines(
            t,
            "BTCUSDT-bookTicker-2025-06-08.zip",
            _book([f"1,105000.0,1,105000.1,1,{DAY + 5},{DAY + 5}", f"2,105001.0,1,105000.1,1,{DAY + 6},{DAY + 6}"]),
        ),
        [":3:", "crossed"],
    ),
    (
        "bookTicker reversed",
        lambda t: _with_good_klines(
            t,
            "BTCUSDT-bookTicker-2025-06-08.zip",
            _book([f"1,105000.0,1,105000.1,1,{DAY + 9},{DAY + 9}", f"2,105000.0,1,105000.1,1,{DAY + 6},{DAY + 6}"]),
        ),
        [":3:", "is before"],
    ),
    (
        "markPriceKlines high below low",
        lambda t: _with_good_klines(
            t,
            "markPriceKlines/BTCUSDT-1m-2025-06-08.zip",
            _price_bars([("100", "101", "99", "100"), ("100", "98", "99", "100")]),
        ),
        [":2:", "high 98 is below low 99"],
    ),
    (
        "indexPriceKlines negative",
        lambda t: _with_good_klines(
            t, "indexPriceKlines/BTCUSDT-1m-2025-06-08.zip", _price_bars([("-1", "1", "-2", "0")])
        ),
        [":1:", "not above zero"],
    ),
    (
        "premiumIndexKlines duplicate time",
        lambda t: _with_good_klines(
            t, "premiumIndexKlines/BTCUSDT-1m-2025-06-08.zip", _price_bars([("-0.001", "0", "-0.002", "-0.001")]) * 2
        ),
        [":2:", "repeats"],
    ),
    (
        "fundingRate duplicate",
        lambda t: _with_good_klines(
            t,
            "BTCUSDT-fundingRate-2025-06.zip",
            f"calc_time,funding_interval_hours,last_funding_rate\n{DAY + 1},8,0.0001\n{DAY + 1},8,0.0001\n",
        ),
        [":3:", "repeats"],
    ),
    (
        "fundingRate impossible rate",
        lambda t: _with_good_klines(
            t, "BTCUSDT-fundingRate-2025-06.zip", f"calc_time,funding_interval_hours,last_funding_rate\n{DAY + 1},8,5\n"
        ),
        [":2:", "funding rate"],
    ),
]


def _empty_zip(tmp: Path) -> Path:
    path = tmp / "data" / f"{KLINES}.zip"
    path.parent.mkdir(parents=True)
    zipfile.ZipFile(path, "w").close()
    return path


def rulebot(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    # The edge turns every failure into an exit code; an exception reaching the runner is a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("build", "words"), [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_backtest_on_broken_archive_data_names_the_file_and_line(tmp_path, build, words):
    bad = build(tmp_path)
    code, out = rulebot("backtest", RULEBOOK, "--data", str(tmp_path / "data"))
    assert code == 1, out
    text = _one_line(out)
    assert f"error: {tmp_path / 'data'}" in text and bad.name in text
    for word in words:
        assert word in text


def test_premium_index_below_zero_is_a_real_value_not_an_error(tmp_path):
    _with_good_klines(
        tmp_path,
        "premiumIndexKlines/BTCUSDT-1m-2025-06-08.zip",
        _price_bars([("-0.001", "0", "-0.002", "-0.001"), ("-0.001", "0.001", "-0.001", "0")]),
    )
    code, out = rulebot("backtest", RULEBOOK, "--data", str(tmp_path / "data"))
    assert code == 0, out


def _deep_yaml(tmp: Path) -> Path:
    path = tmp / "deep.yaml"
    path.write_text("rulebook: x\nparams: " + "[" * 500 + "]" * 500 + "\n")
    return path


def _nul_yaml(tmp: Path) -> Path:
    path = tmp / "nul.yaml"
    path.write_bytes(Path(RULEBOOK).read_bytes().replace(b"market: usdm", b"market: us\x00dm"))
    return path


def _bad_exchange_info(tmp: Path) -> Path:
    path = tmp / "exchangeInfo.json"
    path.write_text('{"symbols": [{"symbol": "BTCUSDT", "filters": 5}]}')
    return path


def _not_json(tmp: Path) -> Path:
    path = tmp / "exchangeInfo.json"
    path.write_bytes(b"\xff\xfe not json")
    return path


def _not_a_journal(tmp: Path) -> Path:
    path = tmp / "j.sqlite"
    path.write_bytes(REAL_DAY.read_bytes())
    return path


def _touch(path: Path) -> Path:
    path.touch()
    return path


def _other_db(tmp: Path) -> Path:
    path = tmp / "other.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE x (a)")
        db.commit()
    return path


def _blocked_path(tmp: Path) -> Path:
    (tmp / "a-file").write_text("x")
    return tmp / "a-file" / "x.json"  # a path under a file: no such directory can exist


# (name, args (`{F}` is the built file), build(tmp) -> file, exit code, words in the message)
DAY_ZIP = str(REAL_DAY)
OPTION_CASES: list[tuple[str, list[str], Callable[[Path], Path] | None, int, list[str]]] = [
    ("balance nan", ["backtest", RULEBOOK, "--data", DAY_ZIP, "--balance", "nan"], None, 2, ["--balance", "nan"]),
    ("balance inf", ["backtest", RULEBOOK, "--data", DAY_ZIP, "--balance", "inf"], None, 2, ["--balance"]),
    ("slippage nan", ["backtest", RULEBOOK, "--data", DAY_ZIP, "--slippage-bps", "nan"], None, 2, ["--slippage-bps"]),
    (
        "slippage negative",
        ["backtest", RULEBOOK, "--data", DAY_ZIP, "--slippage-bps", "-3"],
        None,
        2,
        ["--slippage-bps"],
    ),
    (
        "from not a date",
        ["backtest", RULEBOOK, "--data", DAY_ZIP, "--from", "yesterday"],
        None,
        2,
        ["--from", "yesterday"],
    ),
    (
        "to before from",
        ["backtest", RULEBOOK, "--data", DAY_ZIP, "--from", "2025-06-09", "--to", "2025-06-08"],
        None,
        2,
        ["--to"],
    ),
    (
        "exchange-info wrong shape",
        ["backtest", RULEBOOK, "--data", DAY_ZIP, "--exchange-info", "{F}"],
        _bad_exchange_info,
        1,
        ["{F}", "not a Binance exchangeInfo file"],
    ),
    (
        "exchange-info not json",
        ["backtest", RULEBOOK, "--data", DAY_ZIP, "--exchange-info", "{F}"],
        _not_json,
        1,
        ["{F}", "not a Binance exchangeInfo file"],
    ),
    (
        "journal not a database",
        ["backtest", RULEBOOK, "--data", DAY_ZIP, "--journal", "{F}"],
        _not_a_journal,
        1,
        ["{F}"],
    ),
    ("backtest deep yaml", ["backtest", "{F}", "--data", DAY_ZIP], _deep_yaml, 1, ["{F}:2:", "nesting deeper"]),
    ("validate deep yaml", ["validate", "{F}"], _deep_yaml, 1, ["{F}:2:", "nesting deeper"]),
    ("validate nul byte", ["validate", "{F}"], _nul_yaml, 1, ["{F}:", "NUL byte"]),
    ("demo nul byte", ["demo", "--rulebook", "{F}"], _nul_yaml, 1, ["{F}:", "NUL byte"]),
    ("demo zero hours", ["demo", "--hours", "0"], None, 2, ["--hours"]),
    ("demo negative hours", ["demo", "--hours", "-5"], None, 2, ["--hours"]),
    ("dry-run zero hours", ["dry-run", RULEBOOK, "--hours", "0"], None, 2, ["--hours"]),
    ("dry-run speed nan", ["dry-run", RULEBOOK, "--speed", "nan"], None, 2, ["--speed"]),
    ("schema to an impossible path", ["schema", "-o", "{F}"], _blocked_path, 1, ["{F}"]),
    ("fake-exchange port out of range", ["fake-exchange", "--port", "70000"], None, 2, ["--port"]),
    (
        "audit an empty file",
        ["audit", "-j", "{F}", "decisions"],
        lambda t: _touch(t / "j.sqlite"),
        1,
        ["{F}", "not a rulebot journal"],
    ),
    (
        "audit another program's database",
        ["audit", "-j", "{F}", "verify"],
        _other_db,
        1,
        ["{F}", "not a rulebot journal"],
    ),
    ("audit a zip", ["audit", "-j", "{F}", "pnl"], _not_a_journal, 1, ["{F}", "not a database"]),
]


@pytest.mark.parametrize(
    ("args", "build", "exit_code", "words"), [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES]
)
def test_bad_options_and_files_give_a_message_and_the_documented_exit_code(
    tmp_path, monkeypatch, args, build, exit_code, words
):
    monkeypatch.chdir(tmp_path)  # nothing (demo's report) lands in the checkout
    built = str(build(tmp_path)) if build is not None else ""
    code, out = rulebot(*(a.replace("{F}", built) for a in args))
    assert code == exit_code, out
    text = _one_line(out)
    for word in words:
        assert word.replace("{F}", built) in text


def test_validate_dev_zero_stops_at_the_size_limit_instead_of_eating_memory():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")

    def limit() -> None:  # a regression must fail this test, not the machine
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run(
        [sys.executable, "-m", "rulebot.cli", "validate", "/dev/zero"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
        preexec_fn=limit,
        env={**os.environ, "RULEBOT_DEBUG": ""},
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "/dev/zero:1:1: error: file is larger than" in proc.stderr


def test_a_bug_is_one_line_and_exit_70_and_debug_adds_the_traceback(monkeypatch):
    import rulebot.cli.schema as schema

    def broken() -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(schema, "schema_text", broken)
    code, out = rulebot("schema", "-o", "-")
    assert code == 70 and "internal error in rulebot: RuntimeError: boom" in out and "--debug" in out
    result = CliRunner().invoke(main, ["schema", "-o", "-", "--debug"])
    assert result.exit_code == 70 and "Traceback" in result.output and "boom" in result.output
    result = CliRunner().invoke(main, ["--debug", "schema", "-o", "-"])
    assert result.exit_code == 70 and "Traceback" in result.output


def test_debug_shows_the_traceback_of_a_user_error_too(tmp_path):
    _klines(tmp_path, lambda ls: [*ls[:100], "1,2,x\n", *ls[100:]])
    result = CliRunner().invoke(main, ["backtest", RULEBOOK, "--data", str(tmp_path / "data"), "--debug"])
    assert result.exit_code == 1 and "Traceback" in result.output and ":101: 3 columns" in result.output


def test_every_command_accepts_debug():
    def walk(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path, cmd in walk(main, []):
        assert any(p.name == "debug" for p in cmd.params), " ".join(path)


def test_an_escape_sequence_in_a_file_name_is_shown_not_sent_to_the_terminal(tmp_path):
    folder = tmp_path / "data" / "a\x1b[2Jb"  # ESC [2J clears the screen
    _zip(folder / f"{KLINES}.zip", "".join([*_real_lines()[:100], "1,2,x\n"]))
    code, out = rulebot("backtest", RULEBOOK, "--data", str(tmp_path / "data"))
    assert code == 1 and "\x1b" not in out and "a\\x1b[2Jb" in out and ":101:" in out


def test_a_renamed_archive_zip_is_refused_by_backtest(tmp_path: Path) -> None:
    eth = ARCHIVE / "futures/um/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2025-06-08.zip"
    shutil.copy(eth, tmp_path / "BTCUSDT-1m-2025-06-08.zip")
    res = CliRunner().invoke(main, ["backtest", str(ROOT / "rules/ema-trend-btc.yaml"), "--data", str(tmp_path)])
    assert res.exit_code == 1, res.output
    assert "ETHUSDT-1m-2025-06-08.csv" in res.output and "Traceback" not in res.output


ESCAPED_ACTION = """\
rulebook: esc
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
rules:
  - name: x
    on: trade
    in: long
    when: price > 1
    do: ["ex\\e]0;pwned\\a\\u009b2Jit"]
"""


def test_an_escape_sequence_a_rulebook_quotes_is_shown_not_sent_to_the_terminal(tmp_path):
    # "unknown action 'ex<ESC>]0;pwned<BEL>...'": the message quoted the YAML string's value raw,
    # and the sequence retitled the terminal. C1's CSI (U+009B) is an escape of its own.
    book = tmp_path / "esc.yaml"
    book.write_text(ESCAPED_ACTION)
    raw = tmp_path / "raw.yaml"  # raw in the file: the quoted line shows one character for each
    raw.write_text(ESCAPED_ACTION.replace("when: price > 1", "when: price > 1  # \x1b[2J\u009b2J"))
    for args in (["validate", str(book)], ["backtest", str(book), "--data", str(ARCHIVE)], ["validate", str(raw)]):
        code, out = rulebot(*args)
        assert code == 1 and not [c for c in out if (ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0]
        quoted, carets = next(
            pair for pair in zip(out.splitlines(), out.splitlines()[1:], strict=False) if "^" in pair[1]
        )
        if args[1] == str(raw):
            assert quoted[carets.index("^")] == "\ufffd", out  # under the ESC it points at
        else:
            assert "unknown action 'ex\\x1b]0;pwned\\x07\\x9b2Jit'" in out, out
            assert quoted[carets.index("^")] == '"' and quoted[len(carets.rstrip())] == "]", out
