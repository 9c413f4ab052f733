"""`rulebot validate FILE... (- for stdin) [--explain] [--format text|json] [--set name=value]`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from rulebot.core.enums import Market
from rulebot.core.errors import UserError
from rulebot.feeds.catalog import BUILT_IN_UNKNOWN, listed_symbols
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.compiler import KnownSymbols
from rulebot.rulebook.explain import explain
from rulebot.rulebook.load import MAX_FILE_BYTES, read_source
from rulebot.rulebook.report import diagnostic_json, format_diagnostic
from rulebot.rulebook.validate import ValidationResult, validate_bytes, validate_file


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: expected name=value", param_hint="--set")
        name, value = item.split("=", 1)
        name = name.strip()
        if not name:
            raise click.BadParameter(f"{item!r}: expected name=value", param_hint="--set")
        if name in out:  # the last one silently winning hides a typo in a long command line
            raise click.BadParameter(f"{name} is set twice ({out[name]!r} and {value.strip()!r})", param_hint="--set")
        out[name] = value.strip()
    return out


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--explain", "show", is_flag=True, help="Print the state machine, indicators and effective guards.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a rulebook parameter.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--exchange-info",
    "exchange_info",
    type=click.Path(exists=True, dir_okay=False),
    help="A saved exchangeInfo JSON: symbols are checked against it instead of the built-in catalog.",
)
def validate_cmd(
    files: tuple[str, ...], show: bool, fmt: str, sets: tuple[str, ...], strict: bool, exchange_info: str | None
) -> None:
    """Check rulebooks (- reads one from stdin); exit 0 when all are valid, 1 otherwise."""
    overrides = parse_sets(sets)
    if files.count("-") > 1:
        raise click.BadParameter("'-' (stdin) may be given once", param_hint="FILES")
    known = known_symbols(exchange_info)
    results = [
        validate_bytes(sys.stdin.buffer.read(MAX_FILE_BYTES + 1), STDIN, overrides, known)
        if f == "-"
        else validate_file(f, overrides, known)
        for f in files
    ]
    failed = any(not r.ok or (strict and r.diagnostics) for r in results)
    if fmt == "json":
        doc = [_json(r, show) for r in results]
        click.echo(json.dumps({"valid": not failed, "files": doc}, indent=2, default=str))
    else:
        _text(results, show)
    sys.exit(1 if failed else 0)


STDIN = "<stdin>"  # how messages name a rulebook read from stdin (`rulebot validate -`)


def known_symbols(exchange_info: str | None) -> KnownSymbols:
    """The symbols a rulebook may name: a saved exchangeInfo's, or those the built-in catalog and
    brackets snapshot list (the symbols a backtest runs without --exchange-info)."""
    if exchange_info is None:
        why = BUILT_IN_UNKNOWN + "; for a symbol Binance lists, pass --exchange-info FILE"
        return {"usdm": (listed_symbols(Market.USDM), why), "coinm": (listed_symbols(Market.COINM), why)}
    try:
        with open(exchange_info, "rb") as fh:
            payload = json.loads(fh.read(50_000_001))
        names = frozenset(str(s["symbol"]) for s in payload["symbols"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserError(
            f"{exchange_info}: not a Binance exchangeInfo file ({type(exc).__name__}: {exc})",
            hint="save one with `curl https://fapi.binance.com/fapi/v1/exchangeInfo` (dapi for COIN-M)",
        ) from None
    why = f"not in {exchange_info}"
    return {"usdm": (names, why), "coinm": (names, why)}


def _json(r: ValidationResult, show: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": r.file,
        "valid": r.ok,
        "errors": [diagnostic_json(d) for d in r.diagnostics if d.is_error],
        "warnings": [diagnostic_json(d) for d in r.diagnostics if not d.is_error],
    }
    if show and r.compiled is not None:
        out["explain"] = explain(r.compiled)
    return out


def _text(results: list[ValidationResult], show: bool) -> None:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    # Piped output (CI logs, `| less`) has no width; tables folded to 80 columns are unreadable.
    out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    for r in results:
        sources = {r.file: r.text} if r.text is not None else {}
        for d in r.diagnostics:
            style = "red" if d.is_error else "yellow"
            err.print(format_diagnostic(d, sources), style=style if not err.is_terminal else None, markup=False)
            err.print()
        n_err = sum(d.is_error for d in r.diagnostics)
        n_warn = len(r.diagnostics) - n_err
        if r.ok:
            assert r.compiled is not None
            note = f" ({n_warn} warning{'s' * (n_warn != 1)})" if n_warn else ""
            out.print(
                f"{r.file}: valid — rulebook '{r.compiled.name}' version {r.compiled.source_hash[:12]}{note}",
                markup=False,
            )
            if show:
                render_explain(out, r.compiled)
        else:
            err.print(
                f"{r.file}: invalid — {n_err} error{'s' * (n_err != 1)}"
                + (f", {n_warn} warning{'s' * (n_warn != 1)}" if n_warn else ""),
                markup=False,
            )


def _duration(ms: int) -> str:
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def render_explain(console: Console, book: CompiledRulebook) -> None:
    data = explain(book)
    acc = data["account"]
    console.print(
        f"\n[bold]{data['rulebook']}[/] · {data['market']} · {', '.join(data['symbols'])} · "
        f"{acc['margin']} margin · {acc['position_mode']} · {acc['leverage']}x"
    )

    t = Table(title="States", title_justify="left")
    for col in ("state", "position", "timeout", "on position close"):
        t.add_column(col)
    for s in data["states"]:
        timeout = f"{_duration(s['timeout_ms'])} → {s['then']}" if s["timeout_ms"] else ""
        name = s["name"] + (" (initial)" if s["name"] == data["initial_state"] else "")
        t.add_row(name, s["position"], timeout, s["on_position_close"] or "")
    console.print(t)

    t = Table(title="Transitions", title_justify="left")
    for col in ("from", "to", "because"):
        t.add_column(col)
    for e in data["transitions"]:
        t.add_row(e["from"], e["to"], e["why"])
    console.print(t)

    t = Table(title="Dispatch: which rules listen to which trigger in which state", title_justify="left")
    for col in ("trigger", "state", "rules (in order)"):
        t.add_column(col)
    for d in data["dispatch"]:
        t.add_row(d["trigger"], d["state"], ", ".join(d["rules"]))
    console.print(t)

    if data["indicators"]:
        history = {h["name"]: h for h in data["history"]}
        t = Table(title="Indicators (update order) and the history each needs", title_justify="left")
        for col in ("name", "definition", "input", "outputs", "history needed", "read by"):
            t.add_column(col)
        for i in data["indicators"]:
            h = history[i["name"]]
            t.add_row(
                i["name"],
                i["definition"],
                i["input"],
                ", ".join(i["outputs"]) or "value",
                h["text"],
                ", ".join(h["rules"]) or "-",
            )
        console.print(t)
    lookbacks = [h for h in data["history"] if h["name"].endswith("]")]
    if lookbacks:
        t = Table(title="Look-backs: known once n more candles have closed", title_justify="left")
        for col in ("value", "history needed", "read by"):
            t.add_column(col)
        for h in lookbacks:
            t.add_row(h["name"], h["text"], ", ".join(h["rules"]) or "-")
        console.print(t)
    if data["history"]:
        longest = max(data["history"], key=lambda h: h["ms"])
        console.print(
            f"Warm-up: rules that read {longest['name']} cannot fire until {longest['text']} of data has been seen; "
            "a backtest warms indicators on the data before --from, a live bot on Binance's klines.",
            markup=False,
        )

    t = Table(title="Effective guards", title_justify="left")
    for col in ("guard", "setting", "from", "what it does"):
        t.add_column(col)
    src = {"engine": "engine default", "rulebook": "rulebook", "clamped": "rulebook, clamped"}
    for g in data["guards"]:
        t.add_row(g["guard"], g["value"], src[g["source"]], g["description"])
    console.print(t)


def print_rulebook_errors(path: str, exc: Exception) -> None:
    """Errors of a rulebook another command was given, in the same form as `validate`."""
    from rulebot.rulebook.errors import RulebookError

    assert isinstance(exc, RulebookError)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    text = read_source(path)
    sources = {path: text} if text is not None else {}
    for d in exc.diagnostics:
        err.print(format_diagnostic(d, sources), markup=False)
        err.print()
    n = len(exc.errors)
    err.print(f"{path}: invalid — {n} error{'s' if n != 1 else ''}; nothing was run", markup=False)
