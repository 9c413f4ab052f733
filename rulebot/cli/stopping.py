"""How a long command (`rulebot sweep`) stops from outside: SIGTERM and SIGHUP as Ctrl-C, and a
terminal that went away (SIGHUP) without losing what is to be written."""

from __future__ import annotations

import errno
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from rich.progress import Progress

# Stopped, a command exits 128 + the signal's number: 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def stopped_like_ctrl_c(received: list[int]) -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does, and are added to `received`.
    For a sweep: the running trials finish, the finished ones are printed and written, the pool's
    workers end. By default they killed it at once: nothing printed or written, and the workers
    left running, orphaned (holding a piped stdout open)."""

    def stop(signum: int, _frame: object) -> None:
        # Once: a supervisor's repeated SIGTERM must not cut short the running trials' wind-down.
        if signum not in received:
            received.append(signum)
            raise KeyboardInterrupt

    before = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def progress_shown(progress: Progress) -> Iterator[Progress]:
    """`with progress`, except that clearing the bar on a terminal that has gone (the SIGHUP of a
    closed window: EIO) is no error: what the command still has to write must not be lost to it."""
    progress.start()
    try:
        yield progress
    finally:
        with suppress(OSError):
            progress.stop()


class GoneTerminalSafe:
    """A console's stream that stops writing once the terminal is gone (EIO, EPIPE) instead of
    raising: a closed window's EIO can reach a progress redraw or a warning before its SIGHUP
    does, and the OSError then ended a sweep with exit 1 and its finished trials unwritten."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except OSError as exc:
                if exc.errno not in _GONE:
                    raise
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError as exc:
                if exc.errno not in _GONE:
                    raise
                self.gone = True

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: the stream's own
        return getattr(self._stream, name)


_GONE = (errno.EIO, errno.EPIPE)
