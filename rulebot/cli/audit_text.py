"""How `rulebot audit` writes the journal's rows for a person: its tables and a decision's story."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console

from rulebot.backtest.text import number_text, order_prices, places_for


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


# The tables write numbers as `rulebot status` and the backtest summary do; the JSON keeps the
# journal's exact strings. Quantities and order prices keep every digit but not the zeros of their
# step's or tick's exponent (0.010, 59700.00): rounding them would misstate what was sent. Amounts
# (fees, PnL, equity) to cents, or to six places for a coin margin.
_EXACT = frozenset({"quantity", "price"})
_AMOUNTS = frozenset({"fee", "realized_pnl", "fees", "funding", "net", "end_equity"})


def cell(key: str, value: Any, places: int = 2) -> str:
    """A table's cell for the column `key`; `places` those of an amount (see `places_of`)."""
    if value is None:
        return "-"
    if key in ("time", "started", "stopped"):
        return when(int(value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(k, v, places) if k in _AMOUNTS else short(v)}" for k, v in value.items())
    if key in _EXACT or key in _AMOUNTS:
        return number_text(value, None if key in _EXACT else places)
    return str(value)


def order_price(price: Any, trigger: Any) -> str:
    """An order's prices as `rulebot status` writes them (`order_prices`); "-" for a market order."""
    return order_prices(price, trigger, "-")


def places_of(db: sqlite3.Connection) -> int:
    """The decimal places of the journal's amounts: those of its margin assets (cents for USDT,
    six for a coin margin), from the balances of its account snapshots."""
    assets = db.execute(
        "SELECT DISTINCT json_extract(b.value, '$.asset') FROM snapshots s, json_each(s.balances) b"
    ).fetchall()
    return max((places_for(a[0] or "") for a in assets), default=places_for(""))


def short(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def fee_places(asset: str | None, places: int) -> int:
    """A fee is in its own asset (BNB when paid in BNB), the other amounts in the margin asset's."""
    return places_for(asset) if asset else places


def _filled(last_filled_qty: Any) -> bool:
    """Whether an order update carries a fill: by value, since a zero is journaled as "0", "0E-8"
    or "0.000" as the Decimal was quantized."""
    return last_filled_qty is not None and Decimal(str(last_filled_qty)) > 0


def print_story(out: Console, story: dict[str, Any], places: int) -> None:
    """`rulebot audit explain`: the decision, its inputs and guards, and the orders it sent."""
    out.print(
        f"decision {story['id']} · {when(story['time'])} · {story['symbol']} · rule {story['rule']} "
        f"· rulebook {story['version'][:12]}",
        markup=False,
        style="bold",
    )
    out.print(
        f"trigger: {story['trigger']} in state {story['state']} → "
        f"{'fired' if story['fired'] else 'did not fire'}" + (f" ({story['error']})" if story["error"] else ""),
        markup=False,
    )
    out.print("inputs: " + ", ".join(f"{k}={short(v)}" for k, v in story["inputs"].items()), markup=False)
    for g in story["verdicts"]:
        out.print(f"guards on '{g['intent']}':", markup=False)
        for v in g["verdicts"]:
            out.print(f"  {v['kind']:7} {v['guard']}: {v['reason']}", markup=False)
    for s in story["state_changes"]:
        later = f" at {when(s['time'])}" if s.get("time") not in (None, story["time"]) else ""
        out.print(f"state: {s['from_state']} → {s['to_state']} ({s['why']}){later}", markup=False)
    for o in story["orders"]:
        out.print(_order_line(o, places), markup=False)
    pos = story["position_after"]
    if pos:
        for p in pos.get("positions", []):
            amount, entry = cell("quantity", p["amount"]), cell("price", p["entry_price"])
            out.print(f"position after: {p['symbol']} {amount} @ {entry}", markup=False)
    if story.get("engine_after"):
        # What the engine did for the symbol on its own until its next decision: its protective and
        # daily-cap stops, a stop resized or refused, cancels, each with its time and reason.
        out.print("then the engine, on its own:", markup=False)
        for e in story["engine_after"]:
            for line in _engine_lines(e, places):
                out.print("  " + line, markup=False)
        if story.get("engine_more"):
            out.print("  ... and more (`rulebot audit export` has every row)", markup=False)


def _order_line(o: dict[str, Any], places: int) -> str:
    """A command sent for an order, or an update of it (the latter indented under its command)."""
    if o["kind"] == "command" and o.get("type") not in ("PlaceOrder", None):
        why = f" ({o['reason']})" if o.get("reason") else ""  # a cancel's reason (commands.CancelOrder)
        cid = f" {o['client_order_id']}" if o.get("client_order_id") else ""  # CancelAllOrders names none
        return f"{o.get('type')}{cid} sent{why}"
    if o["kind"] == "command":
        qty = cell("quantity", o.get("quantity")) if o.get("quantity") else "close-position"
        price = order_price(o.get("price"), o.get("trigger_price"))
        at = f" @ {price}" if price != "-" else ""
        return f"order {o['client_order_id']} sent: {o.get('side')} {qty} {o.get('order_type')}{at}"
    return f"  {when(o['time'])} {_update(o, places)}"


def _update(o: dict[str, Any], places: int) -> str:
    """What the venue said of an order (its status, and its fill) or of a stop (an algo order)."""
    if o["kind"] != "order":
        return f"algo {o['status']}"
    if not _filled(o.get("last_filled_qty")):
        return str(o["status"])
    qty, price = cell("quantity", o["last_filled_qty"]), cell("price", o["last_filled_price"])
    fee = cell("fee", o["commission"], fee_places(o.get("commission_asset"), places))
    return f"{o['status']} filled {qty} @ {price} fee {fee}"


def _engine_lines(e: dict[str, Any], places: int) -> list[str]:
    """One row the engine wrote on its own, with its time, what and why."""
    at = when(e["time"])
    if e["kind"] == "guard":
        sent = f" → {e['client_order_id']}" if e.get("client_order_id") else " (nothing sent)"
        return [f"{at} {e['rule']}: {e.get('intent')}{sent}"] + [
            f"  {v['kind']:7} {v['guard']}: {v['reason']}" for v in e.get("verdicts", [])
        ]
    if e["kind"] == "notice":
        return [f"{at} notice {e.get('notice')}: {e.get('message')}"]
    if e["kind"] == "command":
        return [f"{at} {_order_line(e, places)}"]
    # An order's or a stop's update: its id, since several of the engine's may be working.
    why = f" ({e['reject_reason'] or e.get('reason')})" if e.get("reject_reason") or e.get("reason") else ""
    return [f"{at} {e['client_order_id']} {_update(e, places)}{why}"]
