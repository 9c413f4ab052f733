"""Walk the hash chain and name the first row where it breaks."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from rulebot.journal.chain import COLUMNS, GENESIS, row_hash


@dataclass(frozen=True, slots=True)
class Verification:
    rows: int
    ok: bool
    first_broken: int | None = None  # the id of the first row that does not chain
    problem: str = ""
    last_hash: str = GENESIS


def verify(db: sqlite3.Connection) -> Verification:
    prev_hash, prev_id, count = GENESIS, 0, 0
    query = f"SELECT {', '.join(COLUMNS)}, prev_hash, hash FROM entries ORDER BY id"
    for row in db.execute(query):
        values = tuple(row[: len(COLUMNS)])
        row_id, stored_prev, stored_hash = values[0], row[len(COLUMNS)], row[len(COLUMNS) + 1]
        if row_id != prev_id + 1:
            return Verification(
                count,
                False,
                row_id,
                f"row {row_id} follows row {prev_id}: rows {prev_id + 1}..{row_id - 1} were deleted",
            )
        if stored_prev != prev_hash:
            return Verification(
                count,
                False,
                row_id,
                f"row {row_id} does not chain to row {prev_id} (a row was inserted, deleted or replaced before it)",
            )
        if row_hash(prev_hash, values) != stored_hash:
            return Verification(
                count, False, row_id, f"row {row_id} was edited: its content no longer matches its hash"
            )
        prev_hash, prev_id, count = stored_hash, row_id, count + 1
    return Verification(count, True, last_hash=prev_hash)
