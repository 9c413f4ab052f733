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
import fcntl
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
SOCKET_NAME = "control.sock"
LOCK_NAME = "lock"
LINE_LIMIT = 65536  # asyncio's default StreamReader limit: no request is anywhere near it


class ControlServer:
    def __init__(self, run_dir: Path, handler: Handler) -> None:
        self.path = run_dir / SOCKET_NAME
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a bot that died (the runner holds the run directory: see `claim`)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=LINE_LIMIT)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request, one answer; whatever a client sends, the answer is a message (an
        exception here would only reach the loop's handler: a traceback in the bot's output)."""
        try:
            answer = await self._answer(reader)
            writer.write(orjson.dumps(answer, default=str) + b"\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the client went away: nobody to answer
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
        except ValueError:  # StreamReader: the line is longer than its limit
            return {"ok": False, "error": f"request too long (the limit is {LINE_LIMIT} bytes)"}
        except TimeoutError:
            return {"ok": False, "error": "no request within 5 s"}
        try:
            request = orjson.loads(line)
        except orjson.JSONDecodeError:
            return {"ok": False, "error": "not a JSON request"}
        return await self._handler(request if isinstance(request, dict) else {})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def claim(run_dir: Path) -> int:
    """Hold the run directory for this bot (an exclusive lock the OS drops when the process
    ends, however it ends); a second bot would trade the account from the same journal and
    take over the control socket. Returns the descriptor to `os.close` at the end."""
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FileExistsError(
            f"a bot is already running in {run_dir}: stop it with `rulebot kill --run-dir {run_dir}` "
            "or use another --run-dir"
        ) from None
    return fd


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
