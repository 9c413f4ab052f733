"""A Ray address must speak gRPC: on anything else `ray.init` retried for over a minute, printing
only its own log lines. Checked against a silent port, a web server and Ray's own GCS."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from rulebot.sweep import run_sweep
from rulebot.sweep.addresses import check_ray
from rulebot.sweep.space import SweepError

KW = {"start": "2025-06-07T06:00", "end": "2025-06-08T06:00"}


@pytest.fixture
def web() -> Iterator[str]:
    """A port where an HTTP/1.1 server answers whatever it is sent with a 400."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    done.set()
    thread.join()
    server.close()


def test_a_silent_port_is_refused_within_the_time_given(silent):
    began = time.monotonic()
    with pytest.raises(SweepError, match="gave no gRPC answer within 1 s"):
        check_ray(silent, seconds=1)
    assert time.monotonic() - began < 5


def test_a_web_server_is_not_a_ray_cluster(web):
    with pytest.raises(SweepError, match=r"is not a Ray cluster: it does not speak gRPC \(it answered b'HTTP/1.1 400"):
        check_ray(web)
    with pytest.raises(SweepError, match="is not a Ray cluster"):
        check_ray(f"ray://{web}")  # Ray Client's address form


def test_a_sweep_on_a_web_server_stops_at_once_with_the_reason(web, rulebook, data):
    began = time.monotonic()
    with pytest.raises(SweepError, match="is not a Ray cluster"):
        run_sweep(rulebook, data, ["fast=3,6"], engine="ray", address=web, **KW)
    assert time.monotonic() - began < 30


def test_with_tls_only_the_connection_is_checked(web, monkeypatch):
    """Ray with TLS opens with a TLS handshake, which the probe does not speak: it must not refuse."""
    monkeypatch.setenv("RAY_USE_TLS", "1")
    check_ray(web)


def test_rays_own_gcs_passes():
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        check_ray(ray.get_runtime_context().gcs_address)
    finally:
        if started:
            ray.shutdown()


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("127.0.0.1:99999", "Port out of range"),  # was passed on to Ray, which retried it for a minute
        (":", "expected HOST:PORT"),
        ("localhost", "expected HOST:PORT"),
        ("", "--address is empty"),  # started a cluster here without a word
    ],
)
def test_an_address_that_names_no_port_is_refused_before_any_engine_starts(address, says, rulebook, data):
    began = time.monotonic()
    with pytest.raises(SweepError, match=says):
        run_sweep(rulebook, data, ["fast=3,6"], engine="ray", address=address, **KW)
    assert time.monotonic() - began < 10
