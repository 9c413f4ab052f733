"""The Ray cluster a sweep started on this machine ends with the sweep, even when the sweep is killed.

`ray.init()` without an address starts a cluster whose processes (GCS, raylet, workers, the
dashboard and runtime-env agents) outlive a driver killed by SIGKILL or the out-of-memory killer:
Ray ends most of them, but its two agents were often left running, re-parented to init, for ever.

Just before `ray.init` the driver starts a small reaper process in a session of its own (so that
a Ctrl-C or a SIGTERM sent to the terminal's job does not reach it). It notes, every second, the
processes started under the driver since (each with its start time, so that a reused pid is never
mistaken for one of them), and waits on a pipe that only the driver holds. When the pipe closes
(the driver closed the engine, exited, or was killed), it kills those still running. The
environment cannot mark them instead: Ray's process titles overwrite what /proc shows of it.
Linux only (it reads /proc); elsewhere nothing is started, as before.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

_PROC = Path("/proc")
_EVERY = 1.0  # seconds between two looks at the driver's process tree


class Reaper:
    """Starts the reaper; `close` after `ray.shutdown()` ends what shutdown left running."""

    def __init__(self) -> None:
        self._write: int | None = None
        if not (_PROC / "self" / "stat").exists():
            return
        before = ",".join(map(str, descendants(os.getpid(), _table())))  # not the cluster's: spared
        read, self._write = os.pipe()  # not inherited by the cluster's processes (PEP 446)
        try:
            subprocess.Popen(
                # -I: this file alone, as a script, with nothing of the package imported (it idles for
                # the whole sweep) and its own folder kept off sys.path.
                [sys.executable, "-I", __file__, str(os.getpid()), before],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            os.close(self._write)
            self._write = None
        finally:
            os.close(read)

    def close(self) -> None:
        if self._write is not None:
            with contextlib.suppress(OSError):
                os.close(self._write)
            self._write = None


def _table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) of every process this one can see."""
    out = {}
    for entry in os.listdir(_PROC):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):  # gone while read
                fields = (_PROC / entry / "stat").read_text().rpartition(")")[2].split()
                out[int(entry)] = (int(fields[1]), fields[19])
    return out


def descendants(root: int, table: dict[int, tuple[int, str]]) -> dict[int, str]:
    """The processes under `root` in `table`, with their start times."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {}, list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        found[pid] = table[pid][1]
        todo.extend(children.get(pid, ()))
    return found


def reap(known: dict[int, str], spare: set[int], rounds: int = 10, pause: float = 0.5) -> None:
    """Kill the `known` processes still running (the same start time: not a reused pid), and what they
    started since; again while any are left."""
    for _ in range(rounds):
        table = _table()
        for pid in list(known):
            known.update(descendants(pid, table))
        alive = [p for p, started in known.items() if p not in spare and table.get(p, (0, ""))[1] == started]
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(pause)


def watch(driver: int, before: set[int]) -> None:
    """Note the driver's new descendants until the pipe on stdin closes, then end them (not `before`:
    what ran under the driver before the reaper was started)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spare = {os.getpid(), driver, *before}
    known: dict[int, str] = {}
    while True:
        ready, _, _ = select.select([0], [], [], _EVERY)
        if ready and not os.read(0, 4096):
            break
        known.update(descendants(driver, _table()))
    reap(known, spare)


if __name__ == "__main__":
    watch(int(sys.argv[1]), {int(p) for p in sys.argv[2].split(",") if p})
