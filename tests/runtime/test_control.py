"""The control socket answers bad requests with a message, never a traceback in the bot's log."""

from __future__ import annotations

import asyncio
import logging

import orjson

from rulebot.runtime.control import ControlServer


async def _ask_raw(server: ControlServer, data: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(server.path))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return answer


async def test_an_over_long_control_line_is_refused_with_a_message_not_a_traceback(tmp_path, caplog):
    async def handler(request):
        return {"ok": True, "echo": request}

    server = ControlServer(tmp_path, handler)
    await server.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="asyncio"):
            answer = await _ask_raw(server, b'{"cmd": "' + b"x" * 200_000 + b'"}\n')
            await asyncio.sleep(0.05)  # let a failing callback reach the loop's exception handler
        assert orjson.loads(answer) == {"ok": False, "error": "request too long (the limit is 65536 bytes)"}
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert orjson.loads(await _ask_raw(server, b'{"cmd": "status"}\n'))["ok"]  # still serving
    finally:
        await server.stop()
