"""Who may read the page and press its buttons: tokens, origins, CSRF, hosts, paths, secrets."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from rulebot.web.bots import Bot
from rulebot.web.security import COOKIE, CSRF_HEADER, SESSION_TTL_S, Guard, TokenError, load_or_create_token

from .conftest import TOKEN, client_for, signed_in


@pytest.fixture
def journal_bot(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    return Bot("0", run_dir=run)


async def test_a_kill_without_a_token_is_refused(journal_bot):
    async with client_for([journal_bot]) as client:
        r = await client.post("/api/bots/0/kill", json={"policy": "flatten"})
        assert r.status == 401
        assert "token" in (await r.json())["error"]


async def test_a_wrong_token_signs_nobody_in_and_kills_nothing(journal_bot):
    async with client_for([journal_bot]) as client:
        assert (await client.get("/login?token=not-the-token", allow_redirects=False)).status == 401
        assert not (await (await client.get("/api/session")).json())["signed_in"]
        r = await client.post("/api/bots/0/kill", json={"policy": "flatten"}, headers={"Authorization": "Bearer wrong"})
        assert r.status == 401


async def test_a_cross_site_post_is_refused_even_with_the_session_cookie(journal_bot):
    async with client_for([journal_bot]) as client:
        csrf = await signed_in(client)
        evil = {"Origin": "http://evil.example", CSRF_HEADER: csrf}
        assert (await client.post("/api/bots/0/kill", json={"policy": "flatten"}, headers=evil)).status == 403
        # A form posted from another site cannot set the CSRF header.
        own = {"Origin": f"http://{client.server.host}:{client.server.port}"}
        assert (await client.post("/api/bots/0/kill", data={"policy": "flatten"}, headers=own)).status == 403
        # The page's own request gets through the checks (no bot runs here: 409, not 401/403).
        ok = await client.post("/api/bots/0/kill", json={"policy": "flatten"}, headers={**own, CSRF_HEADER: csrf})
        assert ok.status == 409


async def test_a_read_only_server_refuses_control_even_with_the_token(journal_bot):
    async with client_for([journal_bot], control=False) as client:
        r = await client.post("/api/bots/0/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status == 403 and "--control" in (await r.json())["error"]


async def test_another_address_than_loopback_needs_the_token_to_read(journal_bot):
    async with client_for([journal_bot], loopback=False) as client:
        assert (await client.get("/api/session")).status == 401
        assert (await client.get("/")).status == 401
        r = await client.get("/api/session", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status == 200


async def test_a_dns_rebinding_host_cannot_read_a_loopback_server(journal_bot):
    async with client_for([journal_bot]) as client:
        assert (await client.get("/api/session", headers={"Host": "attacker.example:8787"})).status == 403
        assert (await client.get("/api/session", headers={"Host": "localhost:8787"})).status == 200


async def test_a_report_outside_the_run_directory_is_never_served(tmp_path, journal_bot):
    (tmp_path / "secret.html").write_text("<p>outside</p>")
    (tmp_path / "keys.txt").write_text("BINANCE_API_SECRET=abc")
    (journal_bot.run_dir / "bt.html").write_text("<h1>report</h1><script>alert(1)</script>")
    (journal_bot.run_dir / "link.html").symlink_to(tmp_path / "secret.html")
    async with client_for([journal_bot]) as client:
        ok = await client.get("/reports/0/bt.html")
        assert ok.status == 200 and "report" in await ok.text()
        assert "sandbox" in ok.headers["Content-Security-Policy"]  # its script never runs
        for bad in (
            "../secret.html",
            "%2e%2e/secret.html",
            "..%2Fsecret.html",
            "link.html",
            "../keys.txt",
            f"{tmp_path}/secret.html",
            "/etc/passwd",
        ):
            r = await client.get(f"/reports/0/{bad}")
            assert r.status == 404, bad
            assert "outside" not in await r.text()


async def test_no_response_carries_the_token(journal_bot):
    async with client_for([journal_bot]) as client:
        await signed_in(client)
        for path in ("/", "/api/session", "/api/bots/0", "/static/app.js", "/api/bots/0/diagram", "/api/bots/0/chart"):
            r = await client.get(path)
            assert TOKEN not in await r.text(), path
            assert TOKEN not in str(r.headers) and TOKEN not in str(r.cookies), path


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/bots/9", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/static/app.py", 404),
        ("GET", "/reports/0/missing.html", 404),
        ("PUT", "/api/bots/0/kill", 405),
        ("POST", "/api/bots/9/kill", 404),
        ("POST", "/api/bots/0/reload", 401),
    ],
)
async def test_error_answers_carry_the_same_protective_headers_and_say_what_in_json(journal_bot, method, path, status):
    # They came from aiohttp's exceptions, which passed the middleware by: text/plain
    # "404: Not Found", without nosniff, CSP or frame protection.
    async with client_for([journal_bot]) as client:
        signed = {"Authorization": f"Bearer {TOKEN}"} if status != 401 else {}
        r = await client.request(method, path, headers=signed)
        assert r.status == status
        assert r.headers["X-Content-Type-Options"] == "nosniff" and "frame-ancestors 'none'" in r.headers.get(
            "Content-Security-Policy", ""
        )
        body = await r.json()
        assert body["ok"] is False and body["error"], body
        if status == 405:
            assert "POST" in r.headers["Allow"]


def test_the_token_is_made_once_mode_600_and_refused_when_others_can_read_it(tmp_path):
    path = tmp_path / "cfg" / "web-token"
    token, created = load_or_create_token(path)
    assert created and len(token) >= 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_token(path) == (token, False)
    os.chmod(path, 0o644)
    with pytest.raises(TokenError, match="chmod 600"):
        load_or_create_token(path)


async def test_each_sign_in_gets_a_session_of_its_own_that_ends_with_the_server(journal_bot):
    """Browsers send a cookie of 127.0.0.1 to every port of it: a cookie another local server saw
    must not be the token's, nor outlive this server, nor match another sign-in's."""
    async with client_for([journal_bot]) as first, client_for([journal_bot]) as second:
        login = await first.get(f"/login?token={TOKEN}", allow_redirects=False)
        assert f"Max-Age={SESSION_TTL_S}" in login.headers["Set-Cookie"]
        await signed_in(second)
        cookie1 = first.session.cookie_jar.filter_cookies(first.make_url("/"))[COOKIE]
        cookie2 = second.session.cookie_jar.filter_cookies(second.make_url("/"))[COOKIE]
        assert cookie1.value != cookie2.value and TOKEN not in cookie1.value
        # The first server's session means nothing to the second (another start, the same token).
        r = await second.get("/api/session", cookies={COOKIE: cookie1.value})
        assert not (await r.json())["signed_in"]


async def test_a_csrf_value_works_only_with_its_own_session(journal_bot):
    async with client_for([journal_bot]) as client:
        csrf = await signed_in(client)
        own = {"Origin": f"http://{client.server.host}:{client.server.port}"}
        client.session.cookie_jar.clear()
        await signed_in(client)  # a new session: the old CSRF value is not its
        r = await client.post("/api/bots/0/kill", json={"policy": "flatten"}, headers={**own, CSRF_HEADER: csrf})
        assert r.status == 403


def test_a_session_ends_after_its_time_and_a_new_sign_in_makes_another():
    now = [1000.0]
    guard = Guard(TOKEN, loopback=True, control=True, clock=lambda: now[0])
    session = guard.new_session()
    csrf = guard.csrf(session)
    assert guard.session_ok(session) and guard.csrf_ok(session, csrf)
    assert TOKEN not in session and not guard.session_ok(TOKEN)
    now[0] += SESSION_TTL_S - 1
    assert guard.session_ok(session)
    now[0] += 1
    assert not guard.session_ok(session) and not guard.csrf_ok(session, csrf)
    assert guard.new_session() != session


async def test_reload_on_the_page_waits_as_long_as_the_bot_waits_for_the_file(tmp_path, monkeypatch):
    """The bot waits up to 30 s for a rulebook still being written before it reloads; the page's
    Reload gave up after 10 s with 'the bot did not answer: ' and nothing after the colon."""
    import json

    from rulebot.web import server

    monkeypatch.setattr(server, "_ANSWER_S", 0.3)
    monkeypatch.setattr(server, "_RELOAD_ANSWER_S", 3.0)
    run = tmp_path / "run"
    run.mkdir()
    delay = {"s": 1.0}

    async def bot(reader, writer):  # a control socket that takes its time, as a settling reload does
        await reader.readline()
        if delay["s"] is None:
            await reader.read()  # never answers
            return
        await asyncio.sleep(delay["s"])
        writer.write(json.dumps({"ok": True, "version": "abc"}).encode() + b"\n")
        await writer.drain()
        writer.close()

    sock = await asyncio.start_unix_server(bot, path=str(run / "control.sock"))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with client_for([Bot("0", run_dir=run)]) as client:
            r = await client.post("/api/bots/0/reload", headers=auth)
            assert r.status == 200 and (await r.json())["ok"], await r.text()
            delay["s"] = None
            r = await client.post("/api/bots/0/kill", json={"policy": "keep"}, headers=auth)
            assert r.status == 502 and "did not answer within 0.3 s" in (await r.json())["error"], await r.text()
    finally:
        sock.close()
