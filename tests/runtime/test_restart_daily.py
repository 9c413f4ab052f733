"""A daily-loss breach survives a restart of the runner (same UTC day), from the journal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from rulebot.rulebook.compiler import compile_file
from rulebot.runtime.assemble import dry_run
from rulebot.runtime.run_config import RunConfig

BOOK = """\
rulebook: breach
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 3}
risk: {daily_loss_cap: "13 USDT"}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.2"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: out
    on: candle_close 1m
    in: long
    when: close@1m > 100000000
    do: [exit]
"""


async def test_the_breach_is_restored_and_no_entry_is_sent_after_the_restart(tmp_path: Path):
    path = tmp_path / "breach.yaml"
    path.write_text(BOOK)
    cfg = RunConfig(path, "dry-run", tmp_path / "run", watch=False)
    first = await (await dry_run(compile_file(str(path)), cfg, "simulated", hours=1)).run()
    # the entry's fees (2 x 6 USDT) fit in the cap: a move of 5 USDT against 0.2 BTC breaches it
    assert first["guards"]["daily_loss_breached"]
    second_runner = await dry_run(compile_file(str(path)), cfg, "simulated", hours=1)
    second = await second_runner.run()
    assert second["guards"]["daily_loss_breached"]
    db = sqlite3.connect(cfg.journal_path())
    runs = [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY started")]
    assert len(runs) == 2
    entries = [
        json.loads(b)
        for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'command' AND run_id = ?", (runs[1],))
    ]
    assert not [
        c for c in entries if c.get("type") == "PlaceOrder" and not c.get("reduce_only") and not c.get("close_position")
    ]
    refused = db.execute(
        "SELECT COUNT(*) FROM guard_verdicts WHERE run_id = ? AND verdicts LIKE '%daily_loss_cap%'"
        " AND verdicts LIKE '%reject%'",
        (runs[1],),
    ).fetchone()[0]
    assert refused > 0
    notes = [
        json.loads(b)["message"]
        for (b,) in db.execute("SELECT body FROM entries WHERE kind = 'notice' AND run_id = ?", (runs[1],))
    ]
    assert any("breached earlier today" in n for n in notes)
