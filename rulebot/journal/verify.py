"""Walk the hash chain and name the first row where it breaks.

The chain catches a row edited, deleted or inserted anywhere before the last one; the head
the writer keeps in `meta` catches rows cut off the end or appended by hand. The head lives in
the same WAL as the rows, so a WAL cut short rolls both back together: the anchor file beside
the journal (`<journal>-anchor`, rewritten after each commit) catches that. Someone who can
rewrite the whole file and the anchor can also recompute every hash: keep the last hash
elsewhere too (print it with `rulebot audit verify`) to detect that.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rulebot.journal.chain import COLUMNS, GENESIS, hashed, parse_head, row_hash


@dataclass(frozen=True, slots=True)
class Verification:
    rows: int
    ok: bool
    first_broken: int | None = None  # the id of the first row that does not chain
    problem: str = ""
    last_hash: str = GENESIS
    anchored: bool = False  # an anchor file was there and agrees


def anchor_path(journal: str | Path) -> Path:
    return Path(f"{journal}-anchor")


def read_anchor(journal: str | Path) -> tuple[int, str] | None:
    """The last row the writer committed, as its anchor file says (None: no anchor, or one
    that cannot be read: a journal from before anchors, or copied without it)."""
    try:
        text = anchor_path(journal).read_text(encoding="ascii").strip()
        return parse_head(text) if text else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def anchor_problem(anchor: tuple[int, str], last_id: int, hash_at_anchor: str | None) -> str | None:
    """Why the journal does not hold the row its anchor names (None: it does)."""
    anchor_id, anchor_hash = anchor
    if anchor_id == 0:
        return None
    if anchor_id > last_id:
        return (
            f"rows {last_id + 1}..{anchor_id} are missing: the writer committed row {anchor_id} (its anchor file "
            "says so) but the journal ends at row " + f"{last_id} (its WAL file was cut short or lost)"
        )
    if hash_at_anchor != anchor_hash:
        return f"row {anchor_id} is not the row the writer committed (its anchor file holds another hash)"
    return None


def no_journal_here(path: str | Path) -> str:
    """Why a file with no journal tables is no journal. A journal copied without its WAL file
    looks like that too (the rows of a bot killed before a checkpoint are all in `-wal`)."""
    wal, anchor = f"{path}-wal", read_anchor(path)
    if anchor is not None and anchor[0] > 0:
        return (
            f"none of its rows are in this file: the writer committed rows 1..{anchor[0]} (its anchor file says "
            f"so), and they are in its WAL file {wal}, which is missing or empty: copy the journal with its -wal file"
        )
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        header = b""
    # In WAL mode with no WAL to read (opening it read-only may leave an empty one behind).
    if len(header) == 20 and header[18:20] == b"\x02\x02" and _size(wal) == 0:
        return (
            f"no journal tables in this file; if it was copied from a bot's run directory, its rows are in "
            f"{wal}, which is missing or empty: copy the journal with its -wal and -anchor files"
        )
    return "not a rulebot journal (an empty file, or another program's database)"


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def verify(db: sqlite3.Connection, anchor: tuple[int, str] | None = None) -> Verification:
    """Walk the whole chain; with `anchor` (see `read_anchor`), also check it ends where the
    writer last committed. Read the anchor *before* calling this: the writer moves it after each
    commit, so one read first is never ahead of the rows this walk will see."""
    result = _walk(db)
    if not result.ok or anchor is None:
        return result
    row = db.execute("SELECT hash FROM entries WHERE id = ?", (anchor[0],)).fetchone()
    problem = anchor_problem(anchor, result.rows, row[0] if row else None)
    if problem:
        return Verification(result.rows, False, min(anchor[0], result.rows + 1), problem, result.last_hash)
    return Verification(result.rows, True, last_hash=result.last_hash, anchored=True)


def _walk(db: sqlite3.Connection) -> Verification:
    prev_hash, prev_id, count = GENESIS, 0, 0
    has_mode = any(c[1] == "mode" for c in db.execute("PRAGMA table_info(entries)"))
    n = len(COLUMNS)
    mode = "mode" if has_mode else "''"
    query = f"SELECT {', '.join(COLUMNS)}, prev_hash, hash, {mode} FROM entries ORDER BY id"
    try:
        for row in db.execute(query):
            values = tuple(row[:n])
            row_id, stored_prev, stored_hash, mode = values[0], row[n], row[n + 1], row[n + 2]
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
            if row_hash(prev_hash, hashed(values, mode)) != stored_hash:
                return Verification(
                    count, False, row_id, f"row {row_id} was edited: its content no longer matches its hash"
                )
            prev_hash, prev_id, count = stored_hash, row_id, count + 1
    except sqlite3.DatabaseError as exc:
        # A flipped bit or a cut page: SQLite cannot hand the next row over (bytes that are not
        # UTF-8, "database disk image is malformed"). Naming where is the answer verify exists
        # to give, not a crash.
        problem = f"the file is damaged at or after row {prev_id + 1}: SQLite cannot read it ({exc})"
        return Verification(count, False, prev_id + 1, problem, prev_hash)
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
