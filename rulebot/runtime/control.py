"""The local control channel of a running bot: `rulebot status`, `kill` and `reload` reach it here.

A Unix socket in the run directory (mode 0600: only the user who runs the bot may talk to
it), one JSON request per connection, one JSON answer:

    {"cmd": "status"}                       → positions, orders, states, PnL, guards
    {"cmd": "kill", "policy": "flatten"}    → halt: cancel, flatten (or keep protected positions)
    {"cmd": "reload"}                       → compile the rulebook file again, swap if valid
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
SOCKET_NAME = "control.sock"


class ControlServer:
    def __init__(self, run_dir: Path, handler: Handler) -> None:
        self.path = run_dir / SOCKET_NAME
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await ensure_no_bot(self.path.parent)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a bot that died: nobody answers on it
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            try:
                request = orjson.loads(line)
                answer = await self._handler(request if isinstance(request, dict) else {})
            except orjson.JSONDecodeError:
                answer = {"ok": False, "error": "not a JSON request"}
            writer.write(orjson.dumps(answer, default=str) + b"\n")
            await writer.drain()
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def ensure_no_bot(run_dir: Path) -> None:
    """Refuse a second bot on one run directory: both would trade the account from one journal."""
    path = run_dir / SOCKET_NAME
    if not path.exists():
        return
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 2)
    except (OSError, TimeoutError):
        return  # a socket left by a bot that died
    writer.close()
    raise FileExistsError(
        f"a bot is already running in {run_dir} (its control socket answers): stop it with "
        f"`rulebot kill --run-dir {run_dir}` or use another --run-dir"
    )


async def request(run_dir: Path, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to the bot running in `run_dir`."""
    path = run_dir / SOCKET_NAME
    if not path.exists():
        raise ConnectionError(f"no bot is running in {run_dir} (no {SOCKET_NAME})")
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout)
    writer.write(orjson.dumps(payload) + b"\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), timeout)
    writer.close()
    result: dict[str, Any] = orjson.loads(line)
    return result
