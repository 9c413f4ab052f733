"""Which journal rows a trader wants to hear about, and what the message says. Pure: a row in,
a message (or None) out, so every rule here is tested on real rows without a network."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.engine.records import is_standing_order

# Notices the engine writes on its own, by what they mean to a trader.
_NOTICE = {
    "daily-loss-cap": "guard",
    "volatility-breaker": "guard",
    "stream-down": "guard",
    "halt": "halt",
    "shutdown": "kill",
}


@dataclass(frozen=True, slots=True)
class Message:
    event: str  # guard, kill, halt, liquidation, fill
    title: str
    text: str
    time: int
    symbol: str
    row: int  # the journal row it came from

    def plain(self, bot: str) -> str:
        return f"[{bot}] {self.title}\n{self.text}"

    def json(self, bot: str) -> dict[str, Any]:
        return {
            "bot": bot,
            "event": self.event,
            "title": self.title,
            "text": self.text,
            "time": self.time,
            "symbol": self.symbol,
            "row": self.row,
        }


def classify(row: dict[str, Any]) -> Message | None:
    """`row`: an `entries` row (id, time, kind, symbol, rule, client_order_id, body)."""
    kind = row["kind"]
    body = row["body"] if isinstance(row["body"], dict) else json.loads(row["body"])
    sym = row.get("symbol") or body.get("symbol") or ""

    def msg(event: str, title: str, text: str) -> Message:
        return Message(event, title, text, int(row["time"]), sym, int(row["id"]))

    if kind == "notice":
        event = _NOTICE.get(body.get("kind", ""))
        if event is None or (body.get("kind") == "volatility-breaker" and "back under" in body.get("message", "")):
            return None
        return msg(event, f"{body.get('kind')} {sym}".strip(), str(body.get("message", "")))
    if kind == "guard":
        verdicts = body.get("verdicts", [])
        acts = [v for v in verdicts if v.get("kind") == "act"]
        # The daily cap's stop placed or re-priced is a standing order, not the guard acting:
        # a message for each re-pricing would bury the ones that matter.
        if not acts or is_standing_order(str(body.get("intent", "")), (v.get("kind", "") for v in verdicts)):
            return None
        return msg(
            "guard",
            f"guard acted: {', '.join(v['guard'] for v in acts)} {sym}".strip(),
            "; ".join(str(v.get("reason", "")) for v in acts),
        )
    if kind == "margin_call":
        return msg("liquidation", f"margin call {sym}".strip(), _margin_call(body))
    if kind == "run_stop":
        policy = body.get("policy")
        if policy is None:
            return None
        return msg("kill", f"bot stopped ({policy})", str(body.get("reason") or "kill switch"))
    if kind == "order":
        qty = Decimal(str(body.get("last_filled_qty") or "0"))
        if qty <= 0:
            return None
        cid = str(body.get("client_order_id") or "")
        what = f"{body.get('side')} {qty} {sym} @ {body.get('last_filled_price')}"
        if cid.startswith(("autoclose", "adl_autoclose")) or body.get("order_type") == "LIQUIDATION":
            return msg("liquidation", f"LIQUIDATED {sym}", f"{what} (the exchange closed the position)")
        return msg("fill", f"fill {sym}", f"{what} fee {body.get('commission')} (order {cid})")
    return None


def _margin_call(body: dict[str, Any]) -> str:
    parts = [
        f"{p.get('symbol')} {p.get('position_side', '')} amount {p.get('amount')} mark {p.get('mark_price')} "
        f"maintenance {p.get('maintenance_margin')}"
        for p in body.get("positions", [])
        if isinstance(p, dict)
    ]
    return "the exchange warns of liquidation: " + ("; ".join(parts) or json.dumps(body)[:300])
