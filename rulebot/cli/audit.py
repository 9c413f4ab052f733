"""`rulebot audit`: answer "why did the bot do this?" from the SQLite journal."""

from __future__ import annotations

import csv
import difflib
import json
import sqlite3
import sys
from collections.abc import Callable, Mapping
from typing import Any

import click
from rich.table import Table

from rulebot.cli.audit_text import cell, fee_places, order_price, places_of, print_story, when
from rulebot.cli.params import TIME
from rulebot.cli.terminal import output_console
from rulebot.core.errors import UserError
from rulebot.journal import queries as q
from rulebot.journal.verify import read_anchor, verify
from rulebot.journal.writer import read_only

_console = output_console()


def _open(ctx: click.Context) -> sqlite3.Connection:
    path = ctx.obj["journal"]
    try:
        return read_only(path)
    except (FileNotFoundError, sqlite3.DatabaseError, RuntimeError) as exc:
        click.echo(f"error: cannot open the journal {path}: {exc}", err=True)
        sys.exit(1)


def _emit(
    rows: list[dict[str, Any]],
    fmt: str,
    columns: list[tuple[str, str]],
    title: str,
    places: int = 2,
    derived: Mapping[str, Callable[[dict[str, Any]], str]] | None = None,
) -> None:
    """`places`: the decimal places of the amounts (see `places_of`); `derived`: the table's cells
    written from several of a row's values (the JSON keeps those values as they are)."""
    derived = derived or {}
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        _console.print(f"{title}: none", markup=False)
        return
    table = Table(title=title, title_justify="left")
    for _, header in columns:
        table.add_column(header)
    for r in rows:
        fees = fee_places(r.get("fee_asset"), places)
        table.add_row(
            *[
                derived[key](r) if key in derived else cell(key, r.get(key), fees if key == "fee" else places)
                for key, _ in columns
            ]
        )
    _console.print(table)


def _first(rows: list[dict[str, Any]], limit: int, what: str) -> list[dict[str, Any]]:
    """`rows` fetched with one more than `limit`: cut to `limit`, and say so on stderr (never in
    the JSON), so that a listing is never silently shorter than the journal."""
    if len(rows) <= limit:
        return rows
    click.echo(
        f"note: the first {limit} {what} only; --limit N shows more (`rulebot audit export` has every row)",
        err=True,
    )
    return rows[:limit]


class _JournalGroup(click.Group):
    """A journal that opens but whose rows SQLite cannot read (bit rot, a page cut short) is the
    file's fault, not a bug: say so, and where to look, with exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        journal = (ctx.obj or {}).get("journal", "the journal")
        try:
            return super().invoke(ctx)
        except sqlite3.DatabaseError as exc:
            raise _damaged(journal, f"SQLite cannot read it ({exc})") from exc
        except json.JSONDecodeError as exc:  # rulebot writes only JSON bodies: one that is not is bit rot
            raise _damaged(journal, f"a row's body is no longer JSON ({exc})") from exc


def _damaged(journal: str, what: str) -> UserError:
    return UserError(
        f"the journal {journal} is damaged: {what}",
        hint=f"`rulebot audit -j {journal} verify` names the first damaged row; keep the file for a look",
    )


# A row id or a count SQLite can hold (a 64-bit integer): a larger one is a typo, not a query.
ROW_ID = click.IntRange(min=1, max=2**62)  # with room for the one row more that tells a cut listing

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


@click.group("audit", cls=_JournalGroup)
@click.option(
    "-j",
    "--journal",
    envvar="RULEBOT_JOURNAL",
    default="rulebot.journal",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The SQLite journal (or $RULEBOT_JOURNAL).",
)
@click.pass_context
def audit(ctx: click.Context, journal: str) -> None:
    """Read the audit journal: runs, decisions and why, orders, fills, PnL, integrity."""
    ctx.obj = {"journal": journal}


@audit.command("runs")
@FORMAT
@click.pass_context
def runs_cmd(ctx: click.Context, fmt: str) -> None:
    """Every run: mode, venue, software, start and stop."""
    db = _open(ctx)
    runs = q.runs(db)
    _emit(
        runs,
        fmt,
        [
            ("run_id", "run"),
            ("mode", "mode"),
            ("venue", "venue"),
            ("rulebook", "rulebook"),
            ("software", "software"),
            ("started", "started"),
            ("stopped", "stopped"),
            ("stop", "how it ended"),
        ],
        "runs",
        places_of(db),
        derived={"stop": lambda r: _ended(r, r is runs[-1], places_of(db))},
    )


def _ended(run: dict[str, Any], last: bool, places: int) -> str:
    """How a run ended; one with no stop row died without a word (SIGKILL, a crash, a power cut),
    unless it is the last run and still going."""
    if run["stop"] is not None:
        return cell("stop", run["stop"], places)
    at = when(run["last_time"])
    if last:
        return f"no stop recorded: running, or killed or crashed after its last row ({at})"
    return f"no stop recorded: killed or crashed after its last row ({at})"


@audit.command("decisions")
@click.option("--rule")
@click.option("--symbol")
@click.option("--since", type=TIME, help="UTC date or ISO time.")
@click.option("--errors", "errors_only", is_flag=True, help="Only conditions that failed at run time.")
@click.option("--limit", type=ROW_ID, default=200, show_default=True)
@FORMAT
@click.pass_context
def decisions_cmd(
    ctx: click.Context,
    rule: str | None,
    symbol: str | None,
    since: int | None,
    errors_only: bool,
    limit: int,
    fmt: str,
) -> None:
    """Rules that fired (and those that failed), with every input the condition read."""
    rows = _first(q.decisions(_open(ctx), rule, symbol, since, limit + 1, errors_only), limit, "decisions")
    _emit(
        rows,
        fmt,
        [
            ("id", "id"),
            ("time", "time"),
            ("symbol", "symbol"),
            ("rule", "rule"),
            ("trigger", "trigger"),
            ("state", "state"),
            ("fired", "fired"),
            ("error", "error"),
            ("inputs", "inputs"),
        ],
        "decisions",
    )


@audit.command("explain")
@click.argument("decision_id", type=ROW_ID)
@FORMAT
@click.pass_context
def explain_cmd(ctx: click.Context, decision_id: int, fmt: str) -> None:
    """The whole story of one decision: trigger, inputs, guards, orders, fills, position."""
    db = _open(ctx)
    story = q.explain(db, decision_id)
    if story is None:
        click.echo(f"error: no decision with id {decision_id} (see `rulebot audit decisions`)", err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(json.dumps(story, indent=2, default=str))
        return
    print_story(_console, story, places_of(db))


@audit.command("orders")
@click.option("--limit", type=ROW_ID, default=500, show_default=True)
@FORMAT
@click.pass_context
def orders_cmd(ctx: click.Context, limit: int, fmt: str) -> None:
    """Orders sent, with the rule that sent them and their last status."""
    _emit(
        _first(q.orders(_open(ctx), limit + 1), limit, "orders"),
        fmt,
        [
            ("time", "time"),
            ("client_order_id", "client id"),
            ("rule", "rule"),
            ("side", "side"),
            ("type", "type"),
            ("quantity", "qty"),
            ("price", "price"),
            ("status", "status"),
        ],
        "orders",
        derived={
            "price": lambda o: order_price(o.get("price"), o.get("trigger_price")),
            # Why the bot cancelled it, when it did: a stop re-priced, a position closed, a flatten.
            "status": lambda o: (o.get("status") or "") + _cancelled_why(o),
        },
    )


def _cancelled_why(order: dict[str, Any]) -> str:
    """` (re-priced: the daily loss cap moved)`: why the bot cancelled an order, shown beside CANCELED only."""
    why = order.get("cancel_reason")
    return f" ({why})" if why and order.get("status") == "CANCELED" else ""


@audit.command("fills")
@click.option("--limit", type=ROW_ID, default=1000, show_default=True)
@FORMAT
@click.pass_context
def fills_cmd(ctx: click.Context, limit: int, fmt: str) -> None:
    """Every fill with its fee and realized PnL."""
    db = _open(ctx)
    _emit(
        _first(q.fills(db, limit + 1), limit, "fills"),
        fmt,
        [
            ("time", "time"),
            ("symbol", "symbol"),
            ("client_order_id", "client id"),
            ("side", "side"),
            ("quantity", "qty"),
            ("price", "price"),
            ("fee", "fee"),
            ("realized_pnl", "realized PnL"),
        ],
        "fills",
        places_of(db),
    )


@audit.command("pnl")
@click.option("--by", type=click.Choice(["day", "rule"]), default="day", show_default=True)
@FORMAT
@click.pass_context
def pnl_cmd(ctx: click.Context, by: str, fmt: str) -> None:
    """Realized PnL, fees and funding by UTC day or by rule."""
    db = _open(ctx)
    amounts = ("realized_pnl", "fees", "funding", "net")
    _emit(
        q.pnl(db, by),
        fmt,
        [
            (by, by),
            ("asset", "asset"),
            ("fills", "fills"),
            *zip(amounts, ("realized", "fees", "funding", "net"), strict=True),
        ],
        f"PnL by {by}",
        places_of(db),
        # Each row's amounts in its own asset's places: cents for USDT, satoshis for BTC.
        derived={k: (lambda r, k=k: cell(k, r[k], fee_places(r["asset"], places_of(db)))) for k in amounts},
    )


@audit.command("verify")
@FORMAT
@click.pass_context
def verify_cmd(ctx: click.Context, fmt: str) -> None:
    """Check the hash chain (and the anchor file beside the journal): exit 1 and name the first
    broken row if anything was changed or lost."""
    result = verify(_open(ctx), read_anchor(ctx.obj["journal"]))
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "rows": result.rows,
                    "first_broken": result.first_broken,
                    "problem": result.problem,
                    "last_hash": result.last_hash,
                    "anchored": result.anchored,
                },
                indent=2,
            )
        )
    elif result.ok:
        anchor = "" if result.anchored else "; no anchor file beside it, so a cut WAL could not be seen"
        click.echo(f"ok: {result.rows} rows, the chain is intact (last hash {result.last_hash}){anchor}")
    else:
        click.echo(f"BROKEN at row {result.first_broken}: {result.problem} ({result.rows} rows verified before it)")
    sys.exit(0 if result.ok else 1)


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="json", show_default=True)
@click.option("--kind", help="Only rows of this kind (decision, guard, command, order, ...).")
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str, kind: str | None) -> None:
    """Every row, to standard output."""
    rows = q.entries(_open(ctx), kind)
    if fmt == "json":
        for r in rows:
            try:
                r["body"] = json.loads(r["body"])
            except json.JSONDecodeError as exc:
                raise _damaged(ctx.obj["journal"], f"row {r['id']}'s body is no longer JSON ({exc})") from exc
        click.echo(json.dumps(rows, indent=2))
        return
    writer = csv.writer(sys.stdout)
    if rows:
        writer.writerow(rows[0].keys())
        for r in rows:
            writer.writerow(r.values())


@audit.command("versions")
@FORMAT
@click.pass_context
def versions_cmd(ctx: click.Context, fmt: str) -> None:
    """Rulebook versions loaded, at start or by a reload."""
    _emit(
        q.versions(_open(ctx)),
        fmt,
        [
            ("id", "row"),
            ("time", "time"),
            ("hash", "version"),
            ("name", "rulebook"),
            ("loaded_by", "loaded by"),
            ("run_id", "run"),
        ],
        "rulebook versions",
    )


@audit.command("diff")
@click.argument("old")
@click.argument("new")
@FORMAT
@click.pass_context
def diff_cmd(ctx: click.Context, old: str, new: str, fmt: str) -> None:
    """What changed between two rulebook versions (hash prefixes)."""
    db = _open(ctx)
    try:
        (a_hash, a), (b_hash, b) = q.version_text(db, old), q.version_text(db, new)
    except LookupError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    lines = list(
        difflib.unified_diff(
            a.splitlines(keepends=True), b.splitlines(keepends=True), fromfile=a_hash[:12], tofile=b_hash[:12]
        )
    )
    if fmt == "json":
        # Full hashes and the diff's lines without their newlines: a script compares versions by
        # these without parsing the text form.
        answer = {"old": a_hash, "new": b_hash, "changed": a != b, "diff": [line.rstrip("\n") for line in lines]}
        click.echo(json.dumps(answer, indent=2))
        return
    click.echo("".join(lines), nl=False)
