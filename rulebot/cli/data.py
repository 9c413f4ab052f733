"""`rulebot data ...`: historical market data; `download` fetches Binance's public archive."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.table import Table

from rulebot.cli.terminal import output_console
from rulebot.feeds.download import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_DEST,
    DOWNLOAD_KINDS,
    DownloadReport,
    download,
)
from rulebot.rulebook.model import TIMEFRAMES

_DATE = click.DateTime(["%Y-%m-%d"])
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C ended
# The kline intervals Binance publishes, and the archive's monthly bars.
_INTERVALS = (*TIMEFRAMES, "1mo")


def _interval(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An interval the archive has files for: any other became one 404 per day, as if missing."""
    if value is not None and value != "" and value not in _INTERVALS:
        raise click.BadParameter(f"'{value}' is not a Binance kline interval ({', '.join(_INTERVALS)})")
    return value


def _base_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """A server to ask: without http(s) and a host every file failed with the URL as its reason."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{value!r}: give the archive server as http:// or https:// and a host")
    return value


@click.group("data")
def data() -> None:
    """Historical market data for backtests and replays."""


@data.command("download")
@click.argument("symbol")
@click.option("--kind", required=True, type=click.Choice(DOWNLOAD_KINDS), help="Archive file kind.")
@click.option("--interval", callback=_interval, help="Candle interval for the *klines kinds, e.g. 1m, 1h, 1d.")
@click.option("--from", "from_date", required=True, type=_DATE, help="First day (YYYY-MM-DD).")
@click.option("--to", "to_date", required=True, type=_DATE, help="Last day, included.")
@click.option(
    "--market",
    type=click.Choice(["usdm", "coinm"]),
    help="Futures market [default: coinm for BTCUSD_PERP-like symbols, else usdm].",
)
@click.option(
    "--period",
    type=click.Choice(["daily", "monthly"]),
    help="One file per day or per month [default: monthly for fundingRate, else daily].",
)
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DEST,
    show_default=True,
    help="Folder that mirrors the archive's paths.",
)
@click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    callback=_base_url,
    default=DEFAULT_BASE_URL,
    show_default=True,
    help=f"Archive server (or ${BASE_URL_ENV}).",
)
@click.option(
    "--companions/--no-companions",
    default=True,
    show_default=True,
    help="With --kind klines, also fetch the fundingRate files of the months covered and the markPriceKlines "
    "of the same interval: a backtest without them counts funding as 0 and lets the mark follow the last "
    "price (it says so). A companion the archive lacks (this month's funding) is reported, not a failure.",
)
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def download_cmd(
    symbol: str,
    kind: str,
    interval: str | None,
    from_date: datetime,
    to_date: datetime,
    market: str | None,
    period: str | None,
    dest: Path,
    base_url: str,
    companions: bool,
    concurrency: int,
    fmt: str,
) -> None:
    """Download SYMBOL's archive files, verified against Binance's published checksums.

    Files already present and verified are skipped; a broken download resumes where it
    stopped. Klines come with their companions (fundingRate, markPriceKlines) unless
    --no-companions. Exit 0 when every file asked for is present and verified (a companion the
    archive lacks aside), 1 when some are missing from the archive or failed (the rest are kept).
    """
    try:
        report = download(
            symbol,
            kind,
            interval=interval,
            from_date=from_date.date(),
            to_date=to_date.date(),
            market=market,
            period=period,
            dest=dest,
            base_url=base_url,
            concurrency=concurrency,
            progress=fmt == "text" and sys.stderr.isatty(),
            companions=companions,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except KeyboardInterrupt:
        # Not click's "Aborted!" and 1, the code for "some files failed": a retry loop took it for
        # that and went on. Finished files are verified and kept; a cut-short one is kept to resume.
        click.echo(
            "interrupted: the files finished are kept, verified; a file cut short is kept as its .part file: "
            "run the same command again to resume",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)
    sys.exit(0 if report.ok else 1)


def _print(report: DownloadReport) -> None:
    out = Console(highlight=False, soft_wrap=True)
    counts = {s: len(report.with_status(s)) for s in ("downloaded", "skipped", "missing", "failed")}
    out.print(
        f"{report.dest}: {counts['downloaded']} downloaded, {counts['skipped']} already present "
        f"and verified, {counts['missing']} missing, {counts['failed']} failed",
        markup=False,
    )
    problems = [r for r in report.results if r.status in ("missing", "failed")]
    if problems:
        table = Table("file", "status", "what happened", show_lines=False)
        for r in problems:
            style = "yellow" if r.status == "missing" else "red"
            status = f"{r.status} (companion)" if r.companion else r.status
            table.add_row(r.path.rsplit("/", 1)[-1], status, r.detail, style=style)
        output_console(stderr=True, soft_wrap=True).print(table)
