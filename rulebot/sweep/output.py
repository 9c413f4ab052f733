"""A sweep's results as rows: the terminal table, and Parquet or CSV with every trial."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from rulebot.sweep.api import SweepResult, iso
from rulebot.sweep.space import SweepError, shown
from rulebot.sweep.trial import TrialResult

METRIC_COLUMNS = (
    "net_pnl",
    "return_pct",
    "sharpe",
    "sortino",
    "calmar",
    "profit_factor",
    "max_drawdown_pct",
    "trades",
    "open_trades",
    "win_rate",
    "fees",
    "fills",
    "liquidations",
    "events",
)


def rows(sweep: SweepResult) -> list[dict[str, Any]]:
    """One flat row per trial, by trial number: window, parameters (`param.NAME`), metrics, error."""
    names = [d.name for d in sweep.dims]
    out = []
    for t in sweep.trials:
        params = dict(t.params)
        row: dict[str, Any] = {
            "trial": t.number,
            "phase": t.phase,
            "fold": t.fold,
            "start": iso(t.start) if t.start is not None else None,
            "end": iso(t.end) if t.end is not None else None,
        }
        row.update({f"param.{n}": params.get(n) for n in names})
        row.update({m: t.metrics.get(m) for m in METRIC_COLUMNS})
        row["net_pnl_exact"] = t.net_pnl or None
        row["error"] = t.error
        row["warnings"] = "\n".join(t.warnings) or None
        row["seconds"] = round(t.seconds, 4)
        out.append(row)
    return out


def completeness(sweep: SweepResult) -> str:
    """What the file holds: every planned trial, or what ran before an interrupt (Ctrl-C, SIGTERM)."""
    if not sweep.interrupted:
        return "complete"
    of = f" of {sweep.planned}" if sweep.planned else ""
    return f"interrupted: {len(sweep.trials)}{of} trials ran"


def write_rows(sweep: SweepResult, path: Path) -> None:
    """`.parquet` (with pyarrow) or `.csv`, chosen by the file's suffix. Every row says whether the
    sweep finished (`sweep`): a file written after an interrupt, opened later, must not pass for the
    whole grid. Parquet also keeps it in the file's metadata (`rulebot.sweep`)."""
    state = completeness(sweep)
    data = [{**row, "sweep": state} for row in rows(sweep)]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns = list(data[0]) if data else ["trial"]
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, columns)
            writer.writeheader()
            writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in data)
        return
    if suffix != ".parquet":
        raise SweepError([f"--out {path}: write .parquet or .csv"])
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SweepError(
            ["writing Parquet needs pyarrow: pip install 'rulebot[sweep]' (or use --out results.csv)"]
        ) from None
    columns = list(data[0]) if data else ["trial"]
    arrays = {}
    for c in columns:
        values = [r[c] for r in data]
        kind = _column_type(c, values)
        arrays[c] = pa.array(
            [float(v) if kind == "float" and v is not None else v for v in values],
            type={"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}.get(kind, pa.string()),
        )
    meta = {"interrupted": sweep.interrupted, "finished": len(sweep.trials), "planned": sweep.planned}
    pq.write_table(pa.table(arrays).replace_schema_metadata({"rulebot.sweep": json.dumps(meta)}), path)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): a text
# parameter's value comes from the command line or a rulebook someone else wrote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """`value` for a CSV cell: a text that a spreadsheet would run as a formula behind a leading
    single quote (the usual way: it then reads as the text). Numbers, and numbers written as text
    (`net_pnl_exact` "-12.5"), stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _column_type(name: str, values: list[Any]) -> str:
    """One type per column: a float parameter given 1 and 1.5 is float; an empty column keeps its kind."""
    present = [v for v in values if v is not None]
    if name in ("trial", "fold", "trades", "open_trades", "fills", "liquidations", "events"):
        return "int"
    if name in ("phase", "start", "end", "error", "warnings", "net_pnl_exact"):
        return "str"
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "float"
    return "str"


def fmt(value: float | int | None, places: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == math.inf:
        return "∞"  # a profit factor with nothing lost
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{places}f}"


def money(value: float | int | None) -> str:
    """Cents for dollar-sized amounts; significant digits for coin-sized ones (COIN-M PnL is in BTC)."""
    if value is None or value == 0 or abs(value) >= 1:
        return fmt(value)
    return f"{value:.4g}"


def pct(value: float | int | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def trials_table(sweep: SweepResult, top: int = 10, phase: str | None = None, title: str | None = None) -> Table:
    ranked = [t for t in sweep.ranked(phase) if t.ok][:top]
    table = Table(
        title=title or f"best {len(ranked)} of {len(sweep.trials)} trials by {sweep.metric}", title_justify="left"
    )
    table.add_column("#", justify="right")
    table.add_column("trial", justify="right")
    for d in sweep.dims:
        table.add_column(d.name, justify="right")
    extra = sweep.metric if sweep.metric not in ("net_pnl", "sharpe") else None
    liq = any(t.metrics.get("liquidations") for t in ranked)  # a liquidated set is not ranked unmarked
    for name in ("net PnL", "return", "sharpe", *([extra] if extra else []), "max DD", "trades", *(["liq"] * liq)):
        table.add_column(name, justify="right")
    for rank, t in enumerate(ranked, 1):
        params = dict(t.params)
        m = t.metrics
        pnl = m.get("net_pnl")
        style = "green" if pnl is not None and pnl > 0 else "red" if pnl is not None and pnl < 0 else None
        table.add_row(
            str(rank),
            str(t.number),
            *(Text(shown(params[d.name])) for d in sweep.dims),  # a text param as it is, not as markup
            money(pnl),
            pct(m.get("return_pct")),
            fmt(m.get("sharpe")),
            *([fmt(m.get(extra))] if extra else []),
            pct(m.get("max_drawdown_pct")),
            fmt(m.get("trades")),
            *([fmt(m.get("liquidations"))] if liq else []),
            style=style,
        )
    return table


FEW_TRADES = 5  # closed trades below which a score says more about luck than about the parameters


def caveats(sweep: SweepResult, trial: TrialResult) -> list[str]:
    """What makes `trial`'s score flatter it (the best one's, printed under the table): a score
    from a handful of trades, a profit factor of ∞, a liquidation, open trades the ratio leaves out."""
    m = trial.metrics
    closed, liquidations, still_open = (int(m.get(k) or 0) for k in ("trades", "liquidations", "open_trades"))
    facts = []
    if closed < FEW_TRADES:
        facts.append(f"closed {closed} trade{'s' * (closed != 1)}, too few for its {sweep.metric} to mean much")
    if m.get("profit_factor") == math.inf:
        facts.append("lost none (profit factor ∞)")
    if liquidations:
        facts.append(f"was liquidated {liquidations} time{'s' * (liquidations != 1)}")
    if still_open and sweep.metric == "profit_factor":
        facts.append(f"ends with {still_open} open trade{'s' * (still_open != 1)}, which its profit factor leaves out")
    return [f"the best trial (#{trial.number}) " + "; ".join(facts)] if facts else []


def trial_warnings(sweep: SweepResult, best: TrialResult, where: str) -> list[str]:
    """The best trial's backtest warnings (what makes its numbers less than Binance's), and how
    many other trials have some, with `where` the user finds them."""
    lines = [f"the best trial (#{best.number}): {w}" for w in best.warnings]
    others = sum(1 for t in sweep.trials if t.warnings and t.number != best.number)
    if others:
        lines.append(f"{others} other trial(s) ran with warnings too ({where})")
    return lines


def folds_table(sweep: SweepResult) -> Table:
    per_day = " per day" if sweep.metric == "net_pnl" else ""
    table = Table(
        title=f"walk-forward: {sweep.metric}{per_day}, in-sample (tuned) against out-of-sample (unseen)",
        title_justify="left",
    )
    for name in ("fold", "train", "test", "best parameters", "in-sample", "out-of-sample", ""):
        table.add_column(name, justify="right" if name in ("fold", "in-sample", "out-of-sample") else "left")
    for f in sweep.folds:
        params = ", ".join(f"{k}={shown(v)}" for k, v in f.best.params) if f.best else "-"
        table.add_row(
            str(f.fold.index),
            _span(f.fold.train),
            _span(f.fold.test),
            Text(params),
            fmt(f.in_sample),
            fmt(f.out_of_sample),
            "diverges" if f.diverges else "",
            style="yellow" if f.diverges else None,
        )
    return table


def _span(window: Sequence[int]) -> str:
    return f"{iso(window[0])[5:16].replace('T', ' ')} → {iso(window[1])[5:16].replace('T', ' ')}"


def failures(trials: Sequence[TrialResult], most: int = 5) -> list[str]:
    bad = [t for t in trials if not t.ok]
    lines = [f"trial {t.number} ({', '.join(f'{k}={shown(v)}' for k, v in t.params)}): {t.error}" for t in bad[:most]]
    if len(bad) > most:
        lines.append(f"... and {len(bad) - most} more")
    return lines
