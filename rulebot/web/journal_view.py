"""What the web page reads from a journal: the run, the latest decisions, one decision's story
(the very answer of `rulebot audit explain`), rulebook versions and their diffs, each symbol's
last state, and the equity/price history with its markers.

Synchronous reads on a read-only connection (the server calls them in a worker thread).
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rulebot.engine.records import is_standing_order
from rulebot.journal import queries as q

# Decision inputs that are the symbol's price at the decision's time, in order of preference.
_PRICE_INPUTS = ("price", "close", "last", "mark")
# Guard verdicts worth a marker on the chart: the ones that changed what a rule asked for.
_INTERVENING = frozenset({"resize", "reject", "act"})


def head(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0])


def last_run(db: sqlite3.Connection) -> dict[str, Any] | None:
    runs = q.runs(db)
    return runs[-1] if runs else None


def recent_decisions(db: sqlite3.Connection, after: int = 0, limit: int = 200) -> list[dict[str, Any]]:
    """The newest decisions (newest first), with the orders and guard verdicts each led to in
    one line, so that the timeline reads without a click."""
    rows = [
        dict(r)
        for r in db.execute(
            "SELECT * FROM decisions WHERE id > ? ORDER BY id DESC LIMIT ?", (after, max(1, min(limit, 1000)))
        )
    ]
    for d in rows:
        d["inputs"] = json.loads(d["inputs"]) if d["inputs"] else {}
        d["fired"] = bool(d["fired"])
        verdicts = db.execute(
            "SELECT body FROM entries WHERE run_id = ? AND kind = 'guard' AND rule = ? AND symbol = ? AND id > ? "
            "AND id < COALESCE((SELECT MIN(id) FROM entries WHERE run_id = ? AND kind = 'decision' AND id > ?), "
            "1 << 62) ORDER BY id",
            (d["run_id"], d["rule"], d["symbol"], d["id"], d["run_id"], d["id"]),
        ).fetchall()
        intents, interventions = [], []
        for (body,) in verdicts:
            g = json.loads(body)
            intents.append(g.get("intent", ""))
            interventions += [f"{v['guard']} {v['kind']}" for v in g.get("verdicts", []) if v["kind"] in _INTERVENING]
        d["intents"] = intents
        d["interventions"] = interventions
    return rows


def explain(db: sqlite3.Connection, decision_id: int) -> dict[str, Any] | None:
    return q.explain(db, decision_id)


def versions(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return q.versions(db)


def diff(db: sqlite3.Connection, old: str, new: str) -> str:
    (a_hash, a), (b_hash, b) = q.version_text(db, old), q.version_text(db, new)
    lines = difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True), fromfile=a_hash[:12], tofile=b_hash[:12]
    )
    return "".join(lines)


def latest_text(db: sqlite3.Connection) -> tuple[str, str] | None:
    row = db.execute("SELECT hash, text FROM rulebook_versions ORDER BY id DESC LIMIT 1").fetchone()
    return (row["hash"], row["text"]) if row else None


def last_states(db: sqlite3.Connection) -> dict[str, str]:
    """Each symbol's state after the last recorded transition of the latest run."""
    run = last_run(db)
    if run is None:
        return {}
    out: dict[str, str] = {}
    for (body,) in db.execute(
        "SELECT body FROM entries WHERE run_id = ? AND kind = 'state' ORDER BY id", (run["run_id"],)
    ):
        b = json.loads(body)
        out[b["symbol"]] = b["to_state"]
    return out


@dataclass
class _Account:
    """The account as a run's snapshots showed it so far (see `_account_over`)."""

    wallets: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # by (symbol, side)
    listed_at: dict[tuple[str, str], int] = field(default_factory=dict)  # when a snapshot last listed it


def _account_over(db: sqlite3.Connection, run_id: str) -> Iterator[tuple[int, _Account]]:
    """The account after each of a run's snapshots, with its time. An account update lists only
    the balances and the positions it changed (Binance's ACCOUNT_UPDATE): the others stand as
    the last one said. The same object is yielded each time, updated."""
    account = _Account()
    for r in db.execute("SELECT time, balances, positions FROM snapshots WHERE run_id = ? ORDER BY id", (run_id,)):
        for b in json.loads(r["balances"] or "[]"):
            account.wallets[b["asset"]] = Decimal(b["wallet_balance"])
        for p in json.loads(r["positions"] or "[]"):
            key = (p["symbol"], p.get("position_side") or "BOTH")
            account.positions[key] = p
            account.listed_at[key] = r["time"]
        yield r["time"], account


def left_open(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """The positions the latest run's account snapshots last showed open: what a stopped bot left
    open (a kill that kept them, or a backtest's end), as the journal last saw them."""
    run = last_run(db)
    if run is None:
        return []
    account = _Account()
    for _, account in _account_over(db, run["run_id"]):  # noqa: B007 - the account as the last one left it
        pass
    return [
        {
            "time": account.listed_at[key],
            "symbol": p["symbol"],
            "amount": p["amount"],
            "entry_price": p.get("entry_price"),
            "unrealized_pnl": p.get("unrealized_pnl"),
        }
        for key, p in account.positions.items()
        if Decimal(p["amount"]) != 0
    ]


def problems(db: sqlite3.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """Notices, stream problems and errors, newest first: what the guards and the runner said."""
    out = []
    for r in db.execute(
        "SELECT id, time, kind, symbol, body FROM entries WHERE kind IN ('notice', 'stream', 'error', 'margin_call') "
        "ORDER BY id DESC LIMIT ?",
        (limit,),
    ):
        body = json.loads(r["body"])
        message = body.get("message") or body.get("detail") or body.get("error") or json.dumps(body)[:200]
        out.append(
            {
                "id": r["id"],
                "time": r["time"],
                "kind": body.get("kind") or r["kind"],
                "symbol": r["symbol"],
                "message": str(message),
            }
        )
    return out


def history(db: sqlite3.Connection) -> dict[str, Any]:
    """Equity after each account snapshot (wallet + unrealized), prices from fills and from the
    decisions' inputs, and markers: entries, exits, stops, liquidations, guard interventions."""
    run = last_run(db)
    if run is None:
        return {"equity": [], "prices": {}, "markers": [], "positions": {}}
    rid = run["run_id"]
    equity: list[tuple[int, float]] = []
    positions: dict[str, list[tuple[int, float]]] = {}  # by symbol: its net amount after each snapshot
    for time, account in _account_over(db, rid):
        held = account.positions.values()
        wallet = sum(account.wallets.values(), Decimal(0))
        upnl = sum((Decimal(pos.get("unrealized_pnl") or "0") for pos in held), Decimal(0))
        equity.append((time, float(wallet + upnl)))
        amounts: dict[str, Decimal] = {}
        for pos in held:
            amounts[pos["symbol"]] = amounts.get(pos["symbol"], Decimal(0)) + Decimal(pos["amount"])
        for symbol, amount in amounts.items():
            positions.setdefault(symbol, []).append((time, float(amount)))
    prices: dict[str, list[tuple[int, float]]] = {}
    for r in db.execute("SELECT time, symbol, inputs FROM decisions WHERE run_id = ? ORDER BY id", (rid,)):
        inputs = json.loads(r["inputs"] or "{}")
        p = next((inputs[k] for k in _PRICE_INPUTS if isinstance(inputs.get(k), int | float)), None)
        if p is None:  # a rule that reads a candle's close names it by timeframe: close@1m, close@15m
            p = next((v for k, v in inputs.items() if k.startswith("close@") and isinstance(v, int | float)), None)
        if p is not None and p == p:
            prices.setdefault(r["symbol"], []).append((r["time"], float(p)))
    intents = {
        r["client_order_id"]: (r["rule"], json.loads(r["body"]).get("intent", ""))
        for r in db.execute(
            "SELECT client_order_id, rule, body FROM entries WHERE run_id = ? AND kind = 'guard' "
            "AND client_order_id IS NOT NULL",
            (rid,),
        )
    }
    markers: list[dict[str, Any]] = []
    for f in db.execute("SELECT * FROM fills WHERE run_id = ? ORDER BY id", (rid,)):
        rule, intent = intents.get(f["client_order_id"], ("", ""))
        kind = _fill_kind(intent, f["client_order_id"] or "")
        prices.setdefault(f["symbol"], []).append((f["time"], float(f["price"])))
        label = f"{f['side']} {f['quantity']} {rule or 'engine'}: {intent or kind}"
        markers.append(
            {
                "time": f["time"],
                "symbol": f["symbol"],
                "price": f["price"],
                "kind": kind,
                "label": label,
                "side": f["side"],
            }
        )
    for g in db.execute(
        "SELECT time, symbol, rule, intent, verdicts FROM guard_verdicts WHERE run_id = ? ORDER BY id", (rid,)
    ):
        verdicts = json.loads(g["verdicts"] or "[]")
        if is_standing_order(g["intent"] or "", (v["kind"] for v in verdicts)):
            continue  # the daily cap's stop placed or re-priced: not an intervention
        for v in verdicts:
            if v["kind"] in _INTERVENING:
                markers.append(
                    {
                        "time": g["time"],
                        "symbol": g["symbol"],
                        "price": None,
                        "kind": "guard",
                        "label": f"{v['guard']} {v['kind']}: {v['reason']}",
                    }
                )
    for s in prices.values():
        s.sort()
    return {"equity": equity, "prices": prices, "markers": markers, "positions": positions}


def _fill_kind(intent: str, cid: str) -> str:
    if intent.startswith("enter"):
        return "entry"
    if "liquidat" in intent or cid.startswith("autoclose"):
        return "liquidation"
    if intent.startswith(("stop_loss", "trailing_stop", "protective")):
        return "stop"
    if intent.startswith("take_profit"):
        return "take_profit"
    return "exit"
