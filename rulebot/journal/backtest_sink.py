"""Journaling a backtest: every record, command and account event of the run, batched."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from rulebot import __version__
from rulebot.journal.encode import Row, to_row
from rulebot.journal.writer import SyncJournal
from rulebot.rulebook.compiled import CompiledRulebook


def new_run_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class RunJournal:
    """A synchronous run journal: `record(obj)` for each thing the run produced, `end_step()`
    between engine steps, `close(summary)` at the end."""

    def __init__(self, path: str | Path, book: CompiledRulebook, mode: str, venue: str, time: int = 0) -> None:
        self.run_id = new_run_id(mode)
        self.book = book
        self._sink = SyncJournal(path, self.run_id, mode=mode)
        self._time = time
        self._started = False
        self._venue, self._mode = venue, mode

    def _start(self, time: int) -> None:
        self._started = True
        book = self.book
        body = {"mode": self._mode, "venue": self._venue, "software": f"rulebot {__version__}", "rulebook": book.name}
        self._sink.append(Row(time, "run_start", body, version=book.source_hash))
        self._sink.append(
            Row(
                time,
                "rulebook",
                {"name": book.name, "how": "start", "text": book.source_text},
                version=book.source_hash,
            )
        )

    def record(self, obj: object) -> None:
        row = to_row(obj, self.book.source_hash)
        if row is None:
            return
        if not self._started:
            self._start(row.time)
        if row.time > self._time:  # (a comparison, not a call to max: once per row)
            self._time = row.time
        self._sink.append(row)

    def end_step(self) -> None:
        self._sink.end_step()

    @property
    def rows_written(self) -> int:
        return self._sink.rows_written

    def close(self, summary: dict[str, Any] | None = None, time: int | None = None) -> None:
        """End the run at `time` (the last event's; by default the last journaled row's)."""
        end = max(self._time, time or 0)
        if not self._started:
            self._start(end)
        self._sink.append(Row(end, "run_stop", summary or {}, version=self.book.source_hash))
        self._sink.close()
