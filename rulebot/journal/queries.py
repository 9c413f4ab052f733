"""What `rulebot audit` asks the journal: plain SQL over the documented views."""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

DAY_MS = 86_400_000


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    return [dict(r) for r in cur.fetchall()]


def runs(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every run, with `last_time`: the time of its last row (for a run that wrote no stop, as
    SIGKILL, a crash or a power cut leave it, the last moment anything is known of it)."""
    out = _rows(db.execute("SELECT * FROM runs ORDER BY id"))
    for r in out:
        r["stop"] = json.loads(r["stop"]) if r.get("stop") else None
        last = db.execute("SELECT time FROM entries WHERE run_id = ? ORDER BY id DESC LIMIT 1", (r["run_id"],))
        r["last_time"] = last.fetchone()[0]
    return out


def decisions(
    db: sqlite3.Connection,
    rule: str | None = None,
    symbol: str | None = None,
    since: int | None = None,
    limit: int = 200,
    errors_only: bool = False,
) -> list[dict[str, Any]]:
    sql, args = "SELECT * FROM decisions WHERE 1=1", []
    if errors_only:
        sql += " AND error IS NOT NULL"
    for clause, value in (("rule = ?", rule), ("symbol = ?", symbol), ("time >= ?", since)):
        if value is not None:
            sql += f" AND {clause}"
            args.append(value)
    sql += " ORDER BY id LIMIT ?"
    args.append(limit)
    out = _rows(db.execute(sql, args))
    for d in out:
        d["inputs"] = json.loads(d["inputs"]) if d["inputs"] else {}
        d["fired"] = bool(d["fired"])
    return out


def explain(db: sqlite3.Connection, decision_id: int) -> dict[str, Any] | None:
    """The whole story of one decision: trigger, inputs, verdicts, orders, fills, position after."""
    row = db.execute("SELECT * FROM entries WHERE id = ? AND kind = 'decision'", (decision_id,)).fetchone()
    if row is None:
        return None
    body = json.loads(row["body"])
    # The verdicts of this decision follow it in the same step: same run, time, symbol and rule,
    # before the next decision.
    nxt = db.execute(
        "SELECT MIN(id) FROM entries WHERE run_id = ? AND kind = 'decision' AND id > ?", (row["run_id"], decision_id)
    ).fetchone()[0] or (1 << 62)
    guards = _rows(
        db.execute(
            "SELECT id, time, client_order_id, body FROM entries WHERE run_id = ? AND kind = 'guard' AND id > ? "
            "AND id < ? AND rule = ? AND symbol = ? ORDER BY id",
            (row["run_id"], decision_id, nxt, row["rule"], row["symbol"]),
        )
    )
    # What became of the symbol until its own next decision: another symbol's state changes in
    # between are another story (its stop closing its position is not this symbol's close).
    own_next = db.execute(
        "SELECT MIN(id) FROM entries WHERE run_id = ? AND kind = 'decision' AND symbol = ? AND id > ?",
        (row["run_id"], row["symbol"], decision_id),
    ).fetchone()[0] or (1 << 62)
    states = _rows(
        db.execute(
            "SELECT id, time, body FROM entries WHERE run_id = ? AND kind = 'state' AND symbol = ? AND id > ? "
            "AND id < ? ORDER BY id",
            (row["run_id"], row["symbol"], decision_id, own_next),
        )
    )
    cids = [g["client_order_id"] for g in guards if g["client_order_id"]]
    orders: list[dict[str, Any]] = []
    for cid in cids:
        placed = db.execute(
            "SELECT MIN(id) FROM commands WHERE run_id = ? AND client_order_id = ? AND command = 'PlaceOrder' "
            "AND id > ?",
            (row["run_id"], cid, decision_id),
        ).fetchone()[0]
        if placed is None:
            continue
        orders.extend(
            _rows(
                db.execute(
                    "SELECT id, time, kind, client_order_id, body FROM entries c WHERE client_order_id = ? "
                    "AND kind IN ('command', 'order', 'algo') AND id >= ? AND id < "
                    + _NEXT_PLACED.format(cmd="?")
                    + " ORDER BY id",
                    (cid, placed, placed),
                )
            )
        )
    last_fill = max(
        (
            o["id"]
            for o in orders
            if o["kind"] == "order" and Decimal(json.loads(o["body"]).get("last_filled_qty", "0")) > 0
        ),
        default=None,
    )
    position = None
    if last_fill is not None:
        snap = db.execute(
            "SELECT id, time, body FROM entries WHERE run_id = ? AND kind = 'account' AND id > ? ORDER BY id LIMIT 1",
            (row["run_id"], last_fill),
        ).fetchone()
        if snap is not None:
            position = {"id": snap["id"], "time": snap["time"], **json.loads(snap["body"])}
    shown = {g["id"] for g in guards} | {s["id"] for s in states} | {o["id"] for o in orders}
    return {
        "id": decision_id,
        "run_id": row["run_id"],
        "time": row["time"],
        "symbol": row["symbol"],
        "rule": row["rule"],
        "version": row["version"],
        "trigger": body.get("trigger"),
        "state": body.get("state"),
        "fired": body.get("fired"),
        "inputs": body.get("inputs", {}),
        "error": body.get("error"),
        "verdicts": [{"id": g["id"], "client_order_id": g["client_order_id"], **json.loads(g["body"])} for g in guards],
        "state_changes": [{"id": s["id"], **json.loads(s["body"])} for s in states],
        "orders": [{"id": o["id"], "kind": o["kind"], **json.loads(o["body"])} for o in orders],
        "position_after": position,
        **_engine_after(db, row, own_next, shown),
    }


# What the engine does on its own for a position (the protective and daily-cap stops, a stop's
# resize, a refused stop closed at market, cancels with their reasons) is journaled by kind.
_ENGINE_KINDS = ("guard", "command", "order", "algo", "notice")
ENGINE_ROWS = 500  # an explain is read by a person: a window with more says so (`engine_more`)


def _engine_after(db: sqlite3.Connection, decision: sqlite3.Row, until: int, shown: set[int]) -> dict[str, Any]:
    """`engine_after`: the rows the engine wrote for the decision's symbol (and the account's notices,
    symbol '') after the decision and before the symbol's next decision, in the order written, less
    those the story already tells (`shown`); `engine_more`: whether there were more than ENGINE_ROWS.
    Read by id range on the kind index: a window, never the table."""
    marks = ",".join("?" * len(_ENGINE_KINDS))
    found = db.execute(
        f"SELECT id, time, kind, rule, client_order_id, body FROM entries WHERE kind IN ({marks}) AND run_id = ? "
        "AND id > ? AND id < ? AND (symbol = ? OR (symbol = '' AND kind = 'notice')) ORDER BY id LIMIT ?",
        (*_ENGINE_KINDS, decision["run_id"], decision["id"], until, decision["symbol"], ENGINE_ROWS + len(shown) + 1),
    ).fetchall()
    out: list[dict[str, Any]] = []
    for r in found:
        if r["id"] in shown:
            continue
        body = json.loads(r["body"])
        if r["kind"] == "notice":  # its own kind (order-rejected, replace-stop, ...) beside the row's
            body["notice"] = body.pop("kind", None)
        out.append(
            {
                **body,
                "id": r["id"],
                "time": r["time"],
                "kind": r["kind"],
                "rule": r["rule"],
                "client_order_id": r["client_order_id"],
            }
        )
    return {"engine_after": out[:ENGINE_ROWS], "engine_more": len(out) > ENGINE_ROWS}


# The row where a client order id is placed again (another backtest's bt-1, ...): an order's
# updates are those after its command and before that, whichever run wrote them (a restarted bot
# journals the fill of a stop the run before it placed).
_NEXT_PLACED = (
    "COALESCE((SELECT MIN(n.id) FROM commands n WHERE n.command = 'PlaceOrder' "
    "AND n.client_order_id = c.client_order_id AND n.id > {cmd}), 1 << 62)"
)


def orders(db: sqlite3.Connection, limit: int = 500) -> list[dict[str, Any]]:
    """Each order once: what was sent and its last known status. `price` is the limit (None for a
    market or STOP_MARKET order), `trigger_price` the stop's trigger (None for a LIMIT)."""
    sql = (
        """
    SELECT c.id, c.time, c.symbol, c.client_order_id, c.command,
           json_extract(c.body, '$.side') AS side, json_extract(c.body, '$.order_type') AS type,
           json_extract(c.body, '$.quantity') AS quantity,
           json_extract(c.body, '$.price') AS price, json_extract(c.body, '$.trigger_price') AS trigger_price,
           (SELECT COALESCE(json_extract(u.body, '$.status'), '') FROM entries u
             WHERE u.client_order_id = c.client_order_id AND u.kind IN ('order', 'algo')
               AND u.id > c.id AND u.id < """
        + _NEXT_PLACED.format(cmd="c.id")
        + """
             ORDER BY u.id DESC LIMIT 1) AS status,
           (SELECT MAX(u.id) FROM entries u
             WHERE u.client_order_id = c.client_order_id AND u.kind IN ('order', 'algo')
               AND u.id > c.id AND u.id < """
        + _NEXT_PLACED.format(cmd="c.id")
        + """) AS status_id,
           (SELECT g.rule FROM entries g WHERE g.kind = 'guard' AND g.client_order_id = c.client_order_id
             AND g.run_id = c.run_id LIMIT 1) AS rule,
           (SELECT json_extract(x.body, '$.reason') FROM entries x
             WHERE x.client_order_id = c.client_order_id AND x.kind = 'command' AND x.id > c.id
               AND json_extract(x.body, '$.type') = 'CancelOrder' AND x.id < """
        + _NEXT_PLACED.format(cmd="c.id")
        + """
             ORDER BY x.id LIMIT 1) AS cancel_reason, c.run_id
    FROM commands c WHERE c.command = 'PlaceOrder' ORDER BY c.id LIMIT ?"""
    )
    out = _rows(db.execute(sql, (limit,)))
    _cancel_all_reasons(db, out)
    for o in out:
        del o["status_id"], o["run_id"]
    return out


def _cancel_all_reasons(db: sqlite3.Connection, orders: list[dict[str, Any]]) -> None:
    """A cancelled order that no CancelOrder named went with its symbol's CancelAllOrders (a flatten, a
    rule's `cancel`): the last one between its placing and its CANCELED gives its reason. Read once,
    not per order. One that none did either the exchange cancelled, with the reason its update gives
    (a close-position stop triggered with no position left: "Reduce Only reject")."""
    wanting = [o for o in orders if o["status"] == "CANCELED" and not o["cancel_reason"]]
    if not wanting:
        return
    alls: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for r in db.execute(
        "SELECT id, run_id, symbol, json_extract(body, '$.reason') FROM commands WHERE command = 'CancelAllOrders' "
        "ORDER BY id"
    ):
        alls[r[1], r[2]].append((r[0], r[3] or ""))
    for o in wanting:
        ids = alls.get((o["run_id"], o["symbol"]), [])
        before = bisect.bisect_left(ids, (o["status_id"] or 0, ""))  # those before the CANCELED
        if before and ids[before - 1][0] > o["id"]:
            o["cancel_reason"] = ids[before - 1][1] or None
    # None of the bot's cancels: the exchange cancelled it on its own (a close-position stop whose
    # position another stop closed), and its update says why.
    for o in wanting:
        if not o["cancel_reason"] and o["status_id"] is not None:
            row = db.execute("SELECT json_extract(body, '$.reason') FROM entries WHERE id = ?", (o["status_id"],))
            why = row.fetchone()[0]
            o["cancel_reason"] = f"by the exchange: {why}" if why else "by the exchange"


def fills(db: sqlite3.Connection, limit: int = 1000) -> list[dict[str, Any]]:
    return _rows(db.execute("SELECT * FROM fills ORDER BY id LIMIT ?", (limit,)))


def pnl(db: sqlite3.Connection, by: str = "day") -> list[dict[str, Any]]:
    """Realized PnL, fees and funding, by UTC day or by the rule that placed the order, and by
    asset: amounts of different assets (a COIN-M run's BTC beside a USD-M run's USDT, a fee paid
    in BNB) are never added together."""
    table: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    rule_of, margin_of = _placed_by(db), _margin_assets(db)
    for f in db.execute(
        "SELECT f.id, f.time, f.run_id, f.client_order_id, f.realized_pnl, f.fee, f.fee_asset, "
        "json_extract(e.body, '$.of_run') AS of_run FROM fills f JOIN entries e ON e.id = f.id"
    ):
        key = _day(f["time"]) if by == "day" else rule_of(f["id"], f["of_run"] or f["run_id"], f["client_order_id"])
        fee_asset = f["fee_asset"] or ""
        # The fee is in its own asset; the PnL in the margin asset, which it is unless paid in BNB.
        asset = fee_asset if fee_asset not in ("", _FEE_ONLY) else margin_of.get(f["run_id"], fee_asset)
        table[key, asset]["realized_pnl"] += Decimal(f["realized_pnl"] or "0")
        table[key, asset]["fills"] += 1
        table[key, fee_asset or asset]["fees"] += Decimal(f["fee"] or "0")
    # Funding belongs to the position, not to the rule that opened it: by rule it gets a row of
    # its own, so that both views add up to the same net.
    prev: dict[str, Decimal] = {}
    for a in db.execute("SELECT time, reason, balances FROM snapshots ORDER BY id"):
        for b in json.loads(a["balances"] or "[]"):
            wallet = Decimal(b["wallet_balance"])
            if a["reason"] == "FUNDING_FEE":
                change = Decimal(b.get("balance_change") or "0") or (wallet - prev.get(b["asset"], wallet))
                table[_day(a["time"]) if by == "day" else "(funding)", b["asset"]]["funding"] += change
            prev[b["asset"]] = wallet
    out = []
    for (key, asset), t in sorted(table.items()):
        net = t["realized_pnl"] - t["fees"] + t["funding"]
        out.append(
            {
                by: key,
                "asset": asset,
                "fills": int(t["fills"]),
                "realized_pnl": str(t["realized_pnl"]),
                "fees": str(t["fees"]),
                "funding": str(t["funding"]),
                "net": str(net),
            }
        )
    return out


_FEE_ONLY = "BNB"  # an asset Binance takes fees in (the BNB discount) that is no futures margin asset


def _margin_assets(db: sqlite3.Connection) -> dict[str, str]:
    """Each run's margin asset, from its account snapshots (the first balance that is not BNB)."""
    out: dict[str, str] = {}
    for r in db.execute(
        "SELECT s.run_id, json_extract(b.value, '$.asset') AS asset FROM snapshots s, json_each(s.balances) b "
        "ORDER BY s.id"
    ):
        if r["asset"] and r["asset"] != _FEE_ONLY:
            out.setdefault(r["run_id"], r["asset"])
    return out


def _placed_by(db: sqlite3.Connection) -> Callable[[int, str, str], str]:
    """The rule that placed an order, for a fill: the guard row of the fill's run with its client
    order id (every backtest numbers its orders bt-1, bt-2, ...: another run's bt-1 is another
    order), else the last one written before the fill (an order a restarted bot adopted)."""
    found: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for r in db.execute(
        "SELECT id, run_id, client_order_id, rule FROM entries WHERE kind = 'guard' AND client_order_id IS NOT NULL "
        "ORDER BY id"
    ):
        found[r["client_order_id"]].append((r["id"], r["run_id"], r["rule"]))

    def rule_of(fill_id: int, run_id: str, client_order_id: str) -> str:
        guards = found.get(client_order_id, [])
        own = [rule for _, run, rule in guards if run == run_id]
        before = [rule for row, _, rule in guards if row < fill_id]
        return (own or before or ["(engine or liquidation)"])[-1]

    return rule_of


def versions(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(db.execute("SELECT id, run_id, time, hash, name, loaded_by FROM rulebook_versions ORDER BY id"))


def version_text(db: sqlite3.Connection, prefix: str) -> tuple[str, str]:
    # A prefix compared as text: LIKE would take `%` and `_` in it as wildcards, and ignore case.
    found = db.execute(
        "SELECT DISTINCT hash, text FROM rulebook_versions WHERE substr(hash, 1, ?) = ?", (len(prefix), prefix)
    ).fetchall()
    if not found:
        raise LookupError(f"no rulebook version starts with {prefix!r} (see `rulebot audit versions`)")
    if len({f["hash"] for f in found}) > 1:
        raise LookupError(f"{prefix!r} matches several versions; give more characters")
    return found[0]["hash"], found[0]["text"]


def entries(db: sqlite3.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    if kind:
        return _rows(db.execute("SELECT * FROM entries WHERE kind = ? ORDER BY id", (kind,)))
    return _rows(db.execute("SELECT * FROM entries ORDER BY id"))


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
