"""Walk the hash chain and name the first row where it breaks.

The chain catches a row edited, deleted or inserted anywhere before the last one; the head
the writer keeps in `meta` catches rows cut off the end or appended by hand. Someone who can
rewrite the whole file can also recompute every hash and the head: anchor the last hash
elsewhere (print it with `rulebot audit verify`) to detect that.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from rulebot.journal.chain import COLUMNS, GENESIS, parse_head, row_hash


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
    return _check_head(db, count, prev_id, prev_hash)


def _check_head(db: sqlite3.Connection, count: int, last_id: int, last_hash: str) -> Verification:
    """Does the chain end where the writer says it last wrote?"""
    try:
        found = db.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
    except sqlite3.OperationalError:  # no meta table at all: nothing recorded to compare with
        found = None
    if found is None:  # written before heads were kept, or never written to
        return Verification(count, True, last_hash=last_hash)
    head_id, head_hash = parse_head(found[0])
    if head_id > last_id:
        return Verification(
            count,
            False,
            last_id + 1,
            f"rows {last_id + 1}..{head_id} were deleted from the end (the writer last wrote row {head_id})",
            last_hash,
        )
    if head_id < last_id:
        return Verification(
            count,
            False,
            head_id + 1,
            f"rows {head_id + 1}..{last_id} were added after the writer's last row ({head_id})",
            last_hash,
        )
    if head_hash != last_hash:
        return Verification(
            count,
            False,
            last_id,
            f"row {last_id} is not the row the writer wrote last: the chain was recomputed",
            last_hash,
        )
    return Verification(count, True, last_hash=last_hash)
