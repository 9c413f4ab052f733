"""Is a cluster's address what it says it is? Checked before the engine's own client connects,
because those clients wait for minutes (Ray retrying its GCS) or for good (Dask on a port that
never answers) on the wrong address, printing nothing a user can act on.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

from rulebot.sweep.space import SweepError

_CONNECT_S = 5.0


def check_reachable(engine: str, address: str) -> None:
    """The cluster's address takes a TCP connection within seconds, or the sweep stops here with
    that: Ray retries an unreachable GCS for minutes, printing only its own log lines."""
    if engine == "Ray" and address in ("auto", "local"):  # Ray's own words: the cluster found, or a new one here
        return
    where = host_port(address)
    if where is None:
        if engine == "Ray" and "://" not in address:  # anything else bare is HOST:PORT to Ray
            raise SweepError([f"--address {address!r}: expected HOST:PORT (or ray://HOST:PORT, auto, local)"])
        return  # Dask's forms (a bare host on its default port, inproc://, ...): Dask says what it makes of it
    try:
        with socket.create_connection(where, timeout=_CONNECT_S):
            pass
    except OSError as exc:
        raise SweepError([f"cannot reach {engine} at {address}: {exc.strerror or exc}"]) from None


def check_dask_scheduler(address: str, seconds: float = 10.0) -> None:
    """A Dask scheduler answers its handshake at `address` within `seconds`. Dask's own Client waits
    forever on a listener that never answers (another service's port, a proxy) despite its
    timeout, and takes the first bytes of anything else for a frame length (a MemoryError
    asking for exabytes)."""
    import asyncio

    from distributed.core import rpc

    async def identity() -> Any:
        remote = rpc(address, timeout=seconds)
        try:
            return await remote.identity()
        finally:
            await remote.close_rpc()

    try:
        answer = asyncio.run(asyncio.wait_for(identity(), seconds))
    except TimeoutError:
        raise SweepError(
            [f"Dask at {address}: something listens there but gave no Dask handshake within {seconds:g} s"]
        ) from None
    except Exception as exc:  # whatever garbage it sent (MemoryError included), it is no scheduler
        raise SweepError(
            [f"Dask at {address} is not a Dask scheduler ({type(exc).__name__}: {str(exc)[:200]})"]
        ) from None
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise SweepError([f"Dask at {address} is not a Dask scheduler (it says it is {answer!r:.100})"])


def host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of `address`; None when it names none. A port out of range is an error here:
    passed on, Ray retried it for minutes."""
    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise SweepError([f"--address {address!r}: {exc}"]) from None
    return (host, port) if host and port is not None else None


# An HTTP/2 client's connection preface and an empty SETTINGS frame (RFC 9113, 3.4): a gRPC server
# (Ray's GCS and its client server both are) answers with a SETTINGS frame of its own.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_SETTINGS = 0x4


def check_ray(address: str, seconds: float = 10.0) -> None:
    """Ray's address takes a connection and speaks gRPC (HTTP/2) there within `seconds`. On any
    other service (a web server, a database, a silent proxy) `ray.init` retries for over a minute.
    With RAY_USE_TLS the handshake is TLS first, which this does not speak: only the TCP check runs."""
    check_reachable("Ray", address)
    where = host_port(address)
    if where is None or os.environ.get("RAY_USE_TLS", "").lower() in ("1", "true"):
        return
    try:
        with socket.create_connection(where, timeout=seconds) as conn:
            conn.settimeout(seconds)
            conn.sendall(_H2_PREFACE)
            head = _read(conn, 9)
            if len(head) == 9 and head[3] != _H2_SETTINGS:  # more of what it said, for the message
                conn.settimeout(0.5)
                head += _read(conn, 31)
    except TimeoutError:
        raise SweepError(
            [
                f"Ray at {address}: something listens there but gave no gRPC answer within {seconds:g} s; is it the "
                "address `ray start --head` printed (the GCS, port 6379 by default, or ray://host:10001)?"
            ]
        ) from None
    except OSError as exc:
        raise SweepError([f"Ray at {address}: the connection failed during the handshake ({exc})"]) from None
    if len(head) < 9 or head[3] != _H2_SETTINGS:
        raise SweepError([f"Ray at {address} is not a Ray cluster: it does not speak gRPC (it answered {head[:40]!r})"])


def _read(conn: socket.socket, size: int) -> bytes:
    """Up to `size` bytes, fewer only when the other side closes (or, once some came, goes quiet)."""
    got = b""
    while len(got) < size:
        try:
            chunk = conn.recv(size - len(got))
        except TimeoutError:
            if got:
                break
            raise
        if not chunk:
            break
        got += chunk
    return got
