"""Credentials never reach the journal: redacted by key, and inside texts that quote them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderType, Side
from rulebot.engine import records as rec
from rulebot.journal.encode import Row, plain, to_row
from rulebot.journal.writer import Journal, SyncJournal, read_only

SECRET, KEY, SIG, LISTEN = "s3cr3tS3cr3t", "AKIAk3yk3yk3y", "deadbeefsignature", "Lk" + "x9" * 30


def _signed_request_rows(time: int) -> list[Row]:
    """What a signed REST call and a user stream could hand the journal when something fails."""
    url = f"https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&side=BUY&timestamp=1&signature={SIG}"
    return [
        Row(
            time,
            "error",
            {
                "request": {"params": {"apiKey": KEY, "signature": SIG, "symbol": "BTCUSDT"}},
                "headers": {"X-MBX-APIKEY": KEY},
                "api_secret": SECRET,
                "listenKey": LISTEN,
                "message": f"POST {url} -> 400 (X-MBX-APIKEY: {KEY})",
            },
        ),
        Row(time, "stream", {"message": f"wss://fstream.binance.com/ws/{LISTEN} closed, reconnecting"}),
    ]


def _row(obj: object) -> Row:
    row = to_row(obj)
    assert row is not None
    return row


def _all_bytes(path: Path) -> bytes:
    """The database and whatever SQLite keeps beside it (WAL, shared memory)."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def _assert_clean(path: Path) -> None:
    raw = _all_bytes(path)
    for secret in (SECRET, KEY, SIG, LISTEN):
        assert secret.encode() not in raw, secret


def test_a_backtest_style_journal_redacts_params_and_quoted_credentials(tmp_path):
    path = tmp_path / "sync.journal"
    sink = SyncJournal(path, "live-1")
    sink.append(_row(PlaceOrder("c1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal(1), time=1)))
    for row in _signed_request_rows(2):
        sink.append(row)
    sink.append(_row(rec.LogLine(3, "BTCUSDT", "r", f"retrying with signature={SIG}")))
    sink.close()
    _assert_clean(path)
    body = read_only(path).execute("SELECT body FROM entries WHERE kind = 'error'").fetchone()[0]
    assert "[redacted]" in body and "BTCUSDT" in body and "fapi/v1/order" in body  # the useful rest stays


async def test_a_live_journal_is_clean_even_before_it_is_checkpointed(tmp_path):
    path = tmp_path / "live.journal"
    async with Journal.open(path, "live-2") as journal:
        command = _row(PlaceOrder("c2", "BTCUSDT", Side.SELL, OrderType.MARKET, Decimal(1), time=1))
        await journal.write_step([command, *_signed_request_rows(1)])
        _assert_clean(path)  # the WAL holds the rows now: scan it while the writer is open
    _assert_clean(path)


def test_plain_keeps_everything_that_is_not_a_credential():
    value = {"symbol": "BTCUSDT", "price": Decimal("60000.10"), "note": "rule enter-long: price=60000", "n": 1}
    assert plain(value) == {"symbol": "BTCUSDT", "price": "60000.10", "note": "rule enter-long: price=60000", "n": 1}
    assert plain({"nested": [{"secretKey": "x"}]}) == {"nested": [{"secretKey": "[redacted]"}]}
