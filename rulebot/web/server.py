"""`rulebot web`: an aiohttp server for the page, its JSON API, live updates (server-sent
events) and, with `--control`, the kill switch and reload.

A poller asks each bot, on its own, for its status (control socket) and its journal head once a
second and pushes what changed to every open page; pages never poll.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from rulebot.backtest import report_html
from rulebot.runtime import control
from rulebot.runtime.reload import MAX_SETTLE_WAIT_S
from rulebot.web import api
from rulebot.web import journal_view as jv
from rulebot.web.bots import Bot
from rulebot.web.security import COOKIE, CSRF_HEADER, SESSION_TTL_S, Guard, host_name, is_loopback

BOTS: web.AppKey[list[Bot]] = web.AppKey("bots", list)
GUARD: web.AppKey[Guard] = web.AppKey("guard", Guard)
LISTENERS: web.AppKey[set[asyncio.Queue[str]]] = web.AppKey("listeners")
POLL_S: web.AppKey[float] = web.AppKey("poll_s", float)
STATIC = frozenset({"app.js", "app.css"})
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
# A backtest report is a file from disk: shown in a sandbox (an origin of its own, so no cookie and
# no API), running no script but the report's own zoom, named by its hash (report_html's
# `<script>{report.js}</script>`); whatever else a file holds stays inert.
_REPORT_JS = hashlib.sha256(report_html._script().encode()).digest()
_REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{base64.b64encode(_REPORT_JS).decode()}'; sandbox allow-scripts"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def _deny(status: int, why: str) -> web.Response:
    return _json({"ok": False, "error": why}, status)


@web.middleware
async def _security(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await _guarded(request, handler)
    response.headers["Content-Security-Policy"] = response.headers.get("Content-Security-Policy", _CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's answer if this request may have it, else why not; errors as JSON."""
    guard = request.app[GUARD]
    if guard.loopback and not is_loopback(host_name(request.host)):
        return _deny(403, "this server answers on its loopback address only (Host header)")
    by_token = _by_token(request, guard)
    signed_in = by_token or guard.session_ok(request.cookies.get(COOKIE))
    if request.method == "POST":
        if not guard.control:
            return _deny(403, "read-only: start `rulebot web` with --control to allow kill and reload")
        if not signed_in:
            return _deny(401, "sign in first: a token is needed to control a bot")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return _deny(403, f"cross-site request refused (Origin {origin})")
        if not by_token and (
            origin is None or not guard.csrf_ok(request.cookies.get(COOKIE), request.headers.get(CSRF_HEADER))
        ):
            return _deny(403, "cross-site request refused (no CSRF header from this page)")
    elif not guard.loopback and not signed_in and request.path not in ("/login", "/favicon.ico"):
        return _deny(401, "sign in with the link `rulebot web` printed, or send Authorization: Bearer TOKEN")
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # raised by aiohttp (no route, wrong method) or a handler
        if exc.status < 400:
            raise
        text = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        response = _deny(exc.status, text or "")
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    return response


def _by_token(request: web.Request, guard: Guard) -> bool:
    bearer = request.headers.get("Authorization", "")
    return bearer.startswith("Bearer ") and guard.token_ok(bearer[7:].strip())


def _signed_in(request: web.Request) -> bool:
    guard = request.app[GUARD]
    return _by_token(request, guard) or guard.session_ok(request.cookies.get(COOKIE))


def _csrf(request: web.Request) -> str | None:
    """The page's CSRF value: its session's (a script with the token sends no CSRF header)."""
    guard, session = request.app[GUARD], request.cookies.get(COOKIE)
    return guard.csrf(session) if session is not None and guard.session_ok(session) else None


def _bot(request: web.Request) -> Bot:
    for bot in request.app[BOTS]:
        if bot.id == request.match_info["bot"]:
            return bot
    raise web.HTTPNotFound(text="no such bot")


async def index(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_static("index.html"), content_type="text/html")


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(body=_static(name), content_type=_TYPES["." + name.rsplit(".", 1)[1]])


async def favicon(request: web.Request) -> web.StreamResponse:
    # Browsers ask for it on every page and report (a 404 is an error in their console): no icon.
    return web.Response(status=204)


def _static(name: str) -> bytes:
    return (Path(__file__).parent / "static" / name).read_bytes()


async def login(request: web.Request) -> web.StreamResponse:
    guard = request.app[GUARD]
    if not (guard.token_ok(request.query.get("token")) or guard.use_once(request.query.get("once"))):
        return _deny(401, "that token or sign-in link is not valid (a link works once)")
    response = web.Response(status=303, headers={"Location": "/"})  # drops the secret from the address bar
    response.set_cookie(COOKIE, guard.new_session(), httponly=True, samesite="Strict", path="/", max_age=SESSION_TTL_S)
    return response


async def session(request: web.Request) -> web.StreamResponse:
    guard = request.app[GUARD]
    signed = _signed_in(request)
    return _json(
        {
            "control": guard.control,
            "signed_in": signed,
            "csrf": _csrf(request) if signed and guard.control else None,
            "bots": [api.summary(b) for b in request.app[BOTS]],
        }
    )


async def bot_detail(request: web.Request) -> web.StreamResponse:
    return _json(api.summary(_bot(request)))


_MAX_ROW = 2**63 - 1  # SQLite's INTEGER: a larger number raised OverflowError, a 500


def _row_number(text: str, least: int) -> int:
    """A whole number a journal query can take, or ValueError."""
    number = int(text)
    if not least <= number <= _MAX_ROW:
        raise ValueError(text)
    return number


async def decisions(request: web.Request) -> web.StreamResponse:
    bot = _bot(request)
    try:
        after = _row_number(request.query.get("after", "0"), 0)
        limit = _row_number(request.query.get("limit", "200"), 1)
    except ValueError:
        return _deny(400, "after and limit are whole numbers (after from 0, limit from 1)")
    try:
        return _json(await api.in_db(bot, jv.recent_decisions, after, limit))
    except LookupError as exc:
        return _deny(404, str(exc))


async def explain(request: web.Request) -> web.StreamResponse:
    bot = _bot(request)
    try:
        decision = _row_number(request.match_info["decision"], 1)
    except ValueError:
        return _deny(400, f"a decision id is a whole number from 1, not {request.match_info['decision']!r}")
    try:
        story = await api.in_db(bot, jv.explain, decision)
    except LookupError as exc:
        return _deny(404, str(exc))
    if story is None:
        return _deny(404, f"no decision with id {request.match_info['decision']}")
    return _json(story)


async def versions(request: web.Request) -> web.StreamResponse:
    try:
        return _json(await api.in_db(_bot(request), jv.versions))
    except LookupError as exc:
        return _deny(404, str(exc))


async def diff(request: web.Request) -> web.StreamResponse:
    old, new = request.query.get("old", ""), request.query.get("new", "")
    if not old or not new:
        return _deny(400, "give old and new (version hash prefixes)")
    try:
        return web.Response(text=await api.in_db(_bot(request), jv.diff, old, new), content_type="text/plain")
    except LookupError as exc:
        return _deny(404, str(exc).strip("'\""))


async def diagram(request: web.Request) -> web.StreamResponse:
    bot = _bot(request)
    live = (bot.status or {}).get("states") if (bot.status or {}).get("running") else None
    try:
        svg = await api.in_db(bot, api.state_diagram, live)
    except LookupError as exc:
        svg = f"<p class='muted'>{exc}</p>"
    return web.Response(text=svg, content_type="text/html")


async def chart(request: web.Request) -> web.StreamResponse:
    bot = _bot(request)
    try:
        html = await api.in_db(bot, api.chart_html, bot)
    except LookupError as exc:
        html = f"<p class='muted'>{exc}</p>"
    return web.Response(text=html, content_type="text/html")


async def report(request: web.Request) -> web.StreamResponse:
    path = _bot(request).report_path(request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound(text="no such report in this bot's run directory")
    response = web.Response(body=path.read_bytes(), content_type="text/html")
    response.headers["Content-Security-Policy"] = _REPORT_CSP
    return response


_ANSWER_S = 10.0  # a running bot answers between two events
_RELOAD_ANSWER_S = MAX_SETTLE_WAIT_S + _ANSWER_S  # a reload first lets a file being written settle


async def command(request: web.Request) -> web.StreamResponse:
    bot = _bot(request)
    if not bot.controllable or bot.run_dir is None:
        return _deny(409, "this bot is not running (no control socket)")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {}
    what = request.match_info["cmd"]
    if what == "kill":
        policy = body.get("policy") if isinstance(body, dict) else None
        if policy not in ("flatten", "keep"):
            return _deny(400, "policy is flatten or keep")
        payload = {"cmd": "kill", "policy": policy, "reason": "kill switch on the web page"}
    else:
        payload = {"cmd": "reload"}
    wait_s = _RELOAD_ANSWER_S if what == "reload" else _ANSWER_S
    try:
        answer = await control.request(bot.run_dir, payload, wait_s)
    except TimeoutError:  # no message of its own
        return _deny(502, f"the bot did not answer within {wait_s:g} s (busy or stuck): its output says why")
    except (OSError, ConnectionError) as exc:
        return _deny(502, f"the bot did not answer: {exc}")
    with contextlib.suppress(Exception):
        await _poll(request.app, bot)
    return _json(answer, 200 if answer.get("ok") else 409)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `bot` with a bot's summary whenever its status or journal changed."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100)
    request.app[LISTENERS].add(queue)
    try:
        for bot in request.app[BOTS]:
            await response.write(_event(bot))
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), 15)
            except TimeoutError:
                message = ": keep-alive\n\n"
            if not message:  # the server is shutting down
                break
            await response.write(message.encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        request.app[LISTENERS].discard(queue)
    return response


def _event(bot: Bot) -> bytes:
    return f"event: bot\ndata: {json.dumps(api.summary(bot), default=str)}\n\n".encode()


async def _poll(app: web.Application, bot: Bot) -> None:
    try:  # one bot's bad answer or journal must not end its loop: its pages would go quiet
        changed = await bot.poll()
        message = _event(bot).decode() if changed else ""
    except (*api.UNREADABLE, OSError):
        return
    if changed:
        listeners: set[asyncio.Queue[str]] = app[LISTENERS]
        for q in list(listeners):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(message)


async def _poller(app: web.Application) -> Any:
    # A loop per bot: a bot slow to answer (up to the status timeout) delays only itself.
    async def loop(bot: Bot) -> None:
        while True:
            await _poll(app, bot)
            await asyncio.sleep(app[POLL_S])

    tasks = [asyncio.create_task(loop(bot)) for bot in app[BOTS]]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _end_streams(app: web.Application) -> None:
    """Open event streams would hold the shutdown for its whole timeout: end them first."""
    listeners: set[asyncio.Queue[str]] = app[LISTENERS]
    for q in list(listeners):
        with contextlib.suppress(asyncio.QueueFull):
            q.put_nowait("")


def make_app(bots: list[Bot], guard: Guard, poll_s: float = 1.0) -> web.Application:
    app = web.Application(middlewares=[_security], client_max_size=64 * 1024)
    app[BOTS] = bots
    app[GUARD] = guard
    app[LISTENERS] = set()
    app[POLL_S] = poll_s
    app.cleanup_ctx.append(_poller)
    app.on_shutdown.append(_end_streams)
    r = app.router
    r.add_get("/", index)
    r.add_get("/static/{name}", static)
    r.add_get("/favicon.ico", favicon)
    r.add_get("/login", login)
    r.add_get("/api/session", session)
    r.add_get("/api/events", events)
    r.add_get("/api/bots/{bot}", bot_detail)
    r.add_get("/api/bots/{bot}/decisions", decisions)
    r.add_get("/api/bots/{bot}/decisions/{decision}", explain)
    r.add_get("/api/bots/{bot}/versions", versions)
    r.add_get("/api/bots/{bot}/diff", diff)
    r.add_get("/api/bots/{bot}/diagram", diagram)
    r.add_get("/api/bots/{bot}/chart", chart)
    r.add_get("/reports/{bot}/{path:.+}", report)
    r.add_post("/api/bots/{bot}/{cmd:kill|reload}", command)
    return app
