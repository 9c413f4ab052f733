"""Consoles for tables and a progress bar: wide when piped, a bar only on a terminal.

Rich lays tables out for 80 columns when it cannot ask a terminal, which cut the summary's
values into two-line cells in a pipe or a file. Output that is not a terminal gets a width
wide enough for any row instead (COLUMNS, when set, still wins). The progress bar goes to
stderr, and only when stderr is a terminal: never into a pipe, a file or JSON output.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PIPE_WIDTH = 200  # enough for the widest summary row; a pipe has no width of its own


def output_console(stderr: bool = False, **kwargs: object) -> Console:
    """A console for tables and lines: the terminal's width, or PIPE_WIDTH when not a terminal."""
    console = Console(stderr=stderr, highlight=False, **kwargs)  # type: ignore[arg-type]
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, highlight=False, width=PIPE_WIDTH, **kwargs)  # type: ignore[arg-type]
    return console


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


class ReplayProgress:
    """A bar over the replayed time with an ETA, on stderr when it is a terminal; else nothing.

    `span(first, last)` sets the time the replay will cover (unknown: a spinner and the count);
    `update(events, time)` moves it. Use as a context manager around the run.
    """

    def __init__(self, what: str = "replaying", console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.enabled,
        )
        self.task: TaskID = self.progress.add_task(what, total=None)
        self.first: int | None = None
        self.what = what

    def span(self, first: int, last: int) -> None:
        self.first = first
        self.progress.update(self.task, total=max(1, last - first), completed=0)

    def update(self, events: int, time: int) -> None:
        description = f"{self.what} {events:,} events · {_when(time)}"
        if self.first is None:
            self.progress.update(self.task, description=description)
        else:
            self.progress.update(self.task, description=description, completed=max(0, time - self.first))

    def __enter__(self) -> ReplayProgress:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()
