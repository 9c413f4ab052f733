"""The reaper that ends a sweep's Ray cluster kills what it noted, and never a pid reused since."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from rulebot.sweep.ray_reaper import _table, descendants, reap

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_a_noted_process_is_killed_with_what_it_started_since():
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    parent = subprocess.Popen([sys.executable, "-c", code + "time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while not descendants(parent.pid, _table()) and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = descendants(parent.pid, _table())
        reap({parent.pid: _table()[parent.pid][1]}, spare=set(), pause=0.05)
        assert parent.wait(timeout=5) == -9
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "what the noted process started outlived it"
    finally:
        parent.kill()
        parent.wait()


def test_a_pid_whose_start_time_differs_is_not_the_noted_process_and_is_spared():
    other = _sleeper()
    try:
        reap({other.pid: "0"}, spare=set(), rounds=2, pause=0.01)
        assert other.poll() is None, "a process that only shares a noted pid was killed"
    finally:
        other.kill()
        other.wait()


def test_a_spared_process_is_not_killed():
    kept = _sleeper()
    try:
        reap({kept.pid: _table()[kept.pid][1]}, spare={kept.pid}, rounds=2, pause=0.01)
        assert kept.poll() is None
    finally:
        kept.kill()
        kept.wait()
