"""The download's progress bar (rich, on stderr): files done overall, and each file in flight."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn


class FileDone(Protocol):
    """What the bar needs of a finished file (download.FileResult has it)."""

    @property
    def path(self) -> str: ...


class Bar:
    """rich progress on stderr: files done overall, and each file in flight."""

    def __init__(self, enabled: bool, files: int) -> None:
        self.enabled, self.files, self.done = enabled, files, 0
        self.progress: Progress | None = None
        self.overall = TaskID(0)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Bar:
        if self.enabled:
            columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
            self.progress = Progress(*columns, console=Console(stderr=True), transient=True)
            self.progress.start()
            self.overall = self.progress.add_task(f"0/{self.files} files", total=self.files)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start(self, rel: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        if rel in self.tasks:  # a retry: show where it resumes
            self.progress.update(self.tasks[rel], total=total or None, completed=done)
        else:
            name = rel.rsplit("/", 1)[-1]
            self.tasks[rel] = self.progress.add_task(name, total=total or None, completed=done)

    def advance(self, rel: str, size: int) -> None:
        if self.progress is not None and rel in self.tasks:
            self.progress.advance(self.tasks[rel], size)

    def finished(self, result: FileDone) -> None:
        if self.progress is None:
            return
        if result.path in self.tasks:
            self.progress.remove_task(self.tasks.pop(result.path))
        self.done += 1
        self.progress.update(self.overall, completed=self.done, description=f"{self.done}/{self.files} files")
