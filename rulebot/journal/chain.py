"""The hash chain: each row's hash covers its content and the hash of the row before it.

Editing, deleting or inserting a row breaks the chain at that row; `verify` walks the table
and names the first row where it breaks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import orjson

GENESIS = "0" * 64
# The columns a hash covers, in this order (everything but prev_hash and hash themselves).
COLUMNS = ("id", "run_id", "time", "kind", "symbol", "rule", "client_order_id", "version", "body")


def row_hash(prev_hash: str, values: Sequence[object]) -> str:
    """sha256(prev_hash || canonical JSON of the row's values)."""
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(orjson.dumps(list(values)))
    return digest.hexdigest()


def hashed(values: Sequence[object], mode: str) -> Sequence[object]:
    """What a row's hash covers: its COLUMNS values, and its mode when it has one (rows written
    before modes were kept have '' and hashes over COLUMNS alone)."""
    return (*values, mode) if mode else values


def parse_head(value: str) -> tuple[int, str]:
    """The head the writer keeps in `meta`: "<last id> <last hash>"."""
    last_id, last_hash = value.split(" ", 1)
    return int(last_id), last_hash
