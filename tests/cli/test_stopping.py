"""A console stream on a terminal that went away (rulebot/cli/stopping.py), on a real pty."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from rulebot.cli.stopping import GoneTerminalSafe


def test_writes_to_a_closed_terminal_stop_quietly_and_other_errors_still_raise():
    master, slave = os.openpty()
    stream = GoneTerminalSafe(os.fdopen(slave, "w", buffering=1))
    console = Console(file=stream, force_terminal=True)  # type: ignore[arg-type]
    console.print("drawn while the window is open")
    assert os.read(master, 1024) and not stream.gone
    os.close(master)  # the window closed: writes to the terminal fail with EIO
    console.print("a progress redraw before the SIGHUP arrives")
    assert stream.gone
    console.print("and everything after it")  # nothing raised: the command goes on to write its files
    os.close(slave)
    broken = GoneTerminalSafe(os.fdopen(os.open(os.devnull, os.O_RDONLY), "w"))
    with pytest.raises(OSError):  # EBADF: not a terminal gone, a real error
        broken.write("x")
        broken.flush()
