"""`rulebot web`: a page for running bots and finished journals (see rulebot/web/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rulebot.web.bots import JOURNAL_NAME, Bot
from rulebot.web.security import Guard, TokenError, default_token_file, is_loopback, load_or_create_token

DEMO_DIR = Path(".rulebot") / "web-demo"


def _bots(run_dirs: tuple[Path, ...], journals: tuple[Path, ...]) -> list[Bot]:
    if not run_dirs and not journals:  # every bot under .rulebot/, the runners' default place
        base = Path(".rulebot")
        run_dirs = tuple(sorted(p for p in base.glob("*") if p.is_dir())) if base.is_dir() else ()
    bots = [Bot(str(i), run_dir=d) for i, d in enumerate(run_dirs)]
    bots += [Bot(str(len(bots) + i), journal_file=j) for i, j in enumerate(journals)]
    return bots


def _demo(speed: float) -> subprocess.Popen[bytes]:
    """A dry-run bot on the simulated market, in its own process, for `--demo`."""
    from rulebot.cli.backtest import DEMO_RULEBOOK

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (DEMO_DIR / "KILL").unlink()  # a kill from the last demo would keep this one from starting
    market = ["--market", "simulated", "--preset", "volatile", "--hours", "168", "--speed", str(speed)]
    cmd = [sys.executable, "-m", "rulebot.cli", "dry-run", str(DEMO_RULEBOOK), *market, "--run-dir", str(DEMO_DIR)]
    cmd.append("--no-watch")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _serve(web: Any, app: Any, host: str, port: int, announce: Callable[[int], None]) -> None:
    """Listen, say where, and serve until SIGTERM or Ctrl-C (web.run_app announced before it bound)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        stop = asyncio.Event()
        # Before the announcement: a SIGTERM right after it killed the process outright (no
        # cleanup, a --demo bot left running, the rest of the announcement never printed).
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await web.TCPSite(runner, host, port).start()
        announce(runner.addresses[0][1])
        await stop.wait()
    finally:
        await runner.cleanup()


@click.command("web")
@click.option(
    "--run-dir",
    "run_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A bot's run directory (repeatable; default: every directory under .rulebot/).",
)
@click.option(
    "--journal",
    "journals",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A finished run's journal, shown read-only (repeatable).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Any other address than loopback needs the token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--control", is_flag=True, help="Allow kill and reload from the page (signed in, POST, same origin).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where the access token is kept (mode 600; default ~/.config/rulebot/web-token).",
)
@click.option("--demo", is_flag=True, help="Also start a dry-run bot on the simulated market and show it.")
@click.option("--demo-speed", type=float, default=600.0, show_default=True, hidden=True)
def web_cmd(
    run_dirs: tuple[Path, ...],
    journals: tuple[Path, ...],
    host: str,
    port: int,
    control: bool,
    token_file: Path | None,
    demo: bool,
    demo_speed: float,
) -> None:
    """Serve a page for running bots: status, guards, positions, the state machine, every
    decision and why, rulebook versions, equity and price; kill and reload with --control."""
    from aiohttp import web

    from rulebot.web.server import make_app

    path = token_file or default_token_file()
    try:
        token, created = load_or_create_token(path)
    except (TokenError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    loopback = is_loopback(host)
    for d in run_dirs:
        if not d.is_dir():  # a bot started later creates it: not an error, but often a typo
            click.echo(f"note: {d} does not exist (yet): its bot shows once one runs there", err=True)
    for j in journals:
        if j.name != JOURNAL_NAME and j.suffix not in (".sqlite", ".journal", ".db"):
            click.echo(f"note: {j} is read as a journal", err=True)
    child = _demo(demo_speed) if demo else None
    bots = _bots((*run_dirs, DEMO_DIR) if demo else run_dirs, journals)
    if not bots:
        click.echo("error: no bot to show: give --run-dir D or --journal J (or --demo)", err=True)
        sys.exit(1)
    guard = Guard(token, loopback=loopback, control=control)
    # Bound to every address (0.0.0.0, ::): a link to "0.0.0.0" works nowhere else; name this machine.
    named = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    shown = f"[{named}]" if ":" in named else named

    def announce(bound: int) -> None:  # once listening: the port is the one taken (--port 0), never "0"
        base = f"http://{shown}:{bound}"
        if created:
            click.echo(f"a new access token was stored in {path} (mode 600); it is printed this once:\n  {token}")
        click.echo(f"rulebot web: {len(bots)} bot(s) on {base}/ ({'control on' if control else 'read-only'})")
        if control or not loopback:
            click.echo(f"sign in (this link works once, for ten minutes): {base}/login?once={guard.one_time_link()}")
            click.echo(f"  or with the token in {path}: {base}/login?token=…")
        if not loopback:
            click.echo(
                f"warning: {base}/ is plain HTTP: the token, the sign-in link and the session cookie cross the "
                "network readable by anyone on its path; from another machine use an SSH tunnel instead "
                f"(ssh -L {bound}:127.0.0.1:{bound} THIS-HOST, with `--host 127.0.0.1` here)",
                err=True,
            )

    try:
        asyncio.run(_serve(web, make_app(bots, guard), host, port, announce))
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass  # Ctrl-C: stop serving, as SIGTERM does
    finally:
        if child is not None:
            child.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(10)
