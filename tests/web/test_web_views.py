"""The page's API against a dry-run bot on the simulated market: status, risk, the state
machine, decisions and why, live events, the kill switch."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from click.testing import CliRunner

from rulebot.cli import main
from rulebot.web.bots import Bot
from rulebot.web.security import CSRF_HEADER

from .conftest import client_for, signed_in, until


async def test_status_shows_the_position_with_mark_liquidation_price_and_distance(live_bot):
    bot = Bot("0", run_dir=live_bot.run_dir)
    await until(lambda: live_bot.runner.status().get("positions") and live_bot.runner.status().get("orders"))
    async with client_for([bot]) as client:
        await until(lambda: bot.status is not None and bot.status.get("positions"))
        b = await (await client.get("/api/bots/0")).json()
        assert b["running"] and b["mode"] == "dry-run" and b["uptime_s"] is not None
        st = b["status"]
        assert st["market"] == "usdm" and st["positions"][0]["side"] == "long"
        risk = st["risk"]["BTCUSDT"]
        mark, liq = Decimal(risk["mark"]), Decimal(risk["liquidation_price"])
        assert 0 < liq < mark  # a 3x long is liquidated below the mark
        # The distance is computed at the engine's mark, which may have moved a tick since `mark`
        # was read into the same status on a busy machine: agree to 1e-4, not to the last digit.
        assert abs(Decimal(risk["liquidation_distance"]) - (mark - liq) / mark) < Decimal("0.0001")
        assert sorted(o["purpose"] for o in st["working"]) == ["daily_cap", "stop_loss"]
        assert Decimal(st["daily_loss"]["USDT"]["cap"]) > 0
        assert st["rate_budget"]["max_per_minute"] > 0
        svg = await (await client.get("/api/bots/0/diagram")).text()
        assert 'class="node lit" data-state="long"' in svg and 'class="node" data-state="flat"' in svg


async def test_a_decision_on_the_page_is_what_audit_explain_says(live_bot):
    await until(lambda: live_bot.runner.status().get("positions"))
    # Stopped, so that the journal holds still while the page and the CLI read it.
    await live_bot.runner.request({"cmd": "kill", "policy": "flatten"})
    await asyncio.wait_for(live_bot.task, 30)
    bot = Bot("0", journal_file=live_bot.run_dir / "journal.sqlite")
    async with client_for([bot]) as client:
        decisions = await (await client.get("/api/bots/0/decisions")).json()
        buy = next(d for d in decisions if d["rule"] == "buy")
        assert buy["fired"] and buy["intents"] and buy["intents"][0].startswith("enter long")
        story = await (await client.get(f"/api/bots/0/decisions/{buy['id']}")).json()
    cli = CliRunner().invoke(
        main, ["audit", "-j", str(live_bot.run_dir / "journal.sqlite"), "explain", str(buy["id"]), "--format", "json"]
    )
    assert cli.exit_code == 0, cli.output
    assert story == json.loads(cli.output)
    assert story["verdicts"] and any(o["kind"] == "order" for o in story["orders"])


async def test_the_page_hears_a_trade_live_and_its_kill_button_flattens(live_bot):
    bot = Bot("0", run_dir=live_bot.run_dir)
    async with client_for([bot]) as client:
        csrf = await signed_in(client)
        events = await client.get("/api/events")
        seen: list[dict] = []

        async def read() -> None:
            async for line in events.content:
                if line.startswith(b"data: "):
                    seen.append(json.loads(line[6:]))

        reader = asyncio.create_task(read())
        await until(lambda: any((s.get("status") or {}).get("positions") for s in seen), timeout=15)
        own = {"Origin": f"http://{client.server.host}:{client.server.port}", CSRF_HEADER: csrf}
        r = await client.post("/api/bots/0/kill", json={"policy": "flatten"}, headers=own)
        assert r.status == 200 and (await r.json())["policy"] == "flatten"
        final = await asyncio.wait_for(live_bot.task, 30)
        assert final["positions"] == [] and final["guards"]["halted"]
        reader.cancel()
        events.close()
    with bot.db() as db:
        stop = json.loads(db.execute("SELECT body FROM entries WHERE kind = 'run_stop'").fetchone()[0])
    assert stop["policy"] == "flatten" and stop["reason"] == "kill switch on the web page"


async def test_a_finished_journal_is_shown_read_only_with_its_versions_and_diff(live_bot):
    await until(lambda: live_bot.runner.status().get("positions"))
    book = live_bot.runner.cfg.rulebook
    answer = await live_bot.runner.reload(book.read_text().replace('size: "0.01"', 'size: "0.02"'))
    assert answer["ok"]
    await live_bot.runner.request({"cmd": "kill", "policy": "flatten"})
    await asyncio.wait_for(live_bot.task, 30)
    bot = Bot("0", journal_file=live_bot.run_dir / "journal.sqlite")
    async with client_for([bot]) as client:
        b = await (await client.get("/api/bots/0")).json()
        assert not b["running"] and not b["controllable"] and b["run"]["stop"]["policy"] == "flatten"
        versions = await (await client.get("/api/bots/0/versions")).json()
        assert [v["loaded_by"] for v in versions] == ["start", "reload"]
        diff = await client.get(f"/api/bots/0/diff?old={versions[0]['hash'][:8]}&new={versions[1]['hash'][:8]}")
        text = await diff.text()
        assert (
            '-    do: [{enter: {side: long, size: "0.01"}}' in text
            and '+    do: [{enter: {side: long, size: "0.02"}}' in text
        )
        assert (await client.get("/api/bots/0/diff?old=zzzz&new=zzzz")).status == 404
        chart = await (await client.get("/api/bots/0/chart")).text()
        assert "<svg" in chart and "▲" in chart and "●" in chart  # the entry and the kill's exit, marked
        r = await client.post("/api/bots/0/kill", json={"policy": "flatten"}, headers={"Authorization": "Bearer x"})
        assert r.status == 401
