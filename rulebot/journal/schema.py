"""The journal's tables and views, and the migrations that bring an old journal up to date.

One append-only table, `entries`, holds every row in the order it was written; each row is
chained to the one before it by a SHA-256 hash (see `chain.py`). The typed views below are
what people query: plain SQL, readable in `sqlite3` or any SQLite browser.

    entries(id, run_id, time, kind, symbol, rule, client_order_id, version, body, prev_hash, hash)

`time` is the event clock in ms (data time in a backtest, exchange time live); `body` is the
row's content as canonical JSON (Decimals as exact strings). Kinds: run_start, run_stop,
rulebook, reload, decision, guard, state, log, notice, command, order, algo, account,
margin_call, leverage, stream, error, daily (the live runner's daily-loss state).

`meta` holds `schema_version` and `head` ("<last id> <last hash>"), which the writer updates
in the same transaction as the rows it covers.

`mode` (version 4) says which kind of run wrote the row: live, dry-run or backtest. A live start
restores state only from rows of live runs: a dry-run's paper wallet must never become the
live daily-loss baseline. Rows written before version 4 have mode '' (their run's `run_start`
says it); a row's hash covers its mode when it has one.
"""

from __future__ import annotations

SCHEMA_VERSION = 4

_BASE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    symbol TEXT NOT NULL DEFAULT '',
    rule TEXT NOT NULL DEFAULT '',
    client_order_id TEXT,
    version TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_kind ON entries(kind, run_id);
CREATE INDEX IF NOT EXISTS entries_cid ON entries(client_order_id) WHERE client_order_id IS NOT NULL;
"""

# Version 2 added the typed views (version 1 journals had only `entries`).
_RUNS_V2 = """
CREATE VIEW IF NOT EXISTS runs AS
  SELECT s.run_id, json_extract(s.body, '$.mode') AS mode, json_extract(s.body, '$.venue') AS venue,
         json_extract(s.body, '$.software') AS software, s.time AS started,
         (SELECT e.time FROM entries e WHERE e.kind = 'run_stop' AND e.run_id = s.run_id) AS stopped,
         json_extract(s.body, '$.rulebook') AS rulebook, s.version
  FROM entries s WHERE s.kind = 'run_start';"""
_OTHER_VIEWS = """
CREATE VIEW IF NOT EXISTS rulebook_versions AS
  SELECT id, run_id, time, version AS hash, json_extract(body, '$.name') AS name,
         json_extract(body, '$.how') AS loaded_by, json_extract(body, '$.text') AS text
  FROM entries WHERE kind = 'rulebook';
CREATE VIEW IF NOT EXISTS decisions AS
  SELECT id, run_id, time, symbol, rule, version, json_extract(body, '$.trigger') AS trigger,
         json_extract(body, '$.state') AS state, json_extract(body, '$.fired') AS fired,
         json_extract(body, '$.inputs') AS inputs, json_extract(body, '$.error') AS error
  FROM entries WHERE kind = 'decision';
CREATE VIEW IF NOT EXISTS guard_verdicts AS
  SELECT id, run_id, time, symbol, rule, client_order_id, json_extract(body, '$.intent') AS intent,
         json_extract(body, '$.verdicts') AS verdicts
  FROM entries WHERE kind = 'guard';
CREATE VIEW IF NOT EXISTS commands AS
  SELECT id, run_id, time, symbol, client_order_id, json_extract(body, '$.type') AS command, body
  FROM entries WHERE kind = 'command';
CREATE VIEW IF NOT EXISTS order_updates AS
  SELECT id, run_id, time, symbol, client_order_id, json_extract(body, '$.status') AS status,
         json_extract(body, '$.side') AS side, json_extract(body, '$.order_type') AS order_type,
         json_extract(body, '$.quantity') AS quantity, json_extract(body, '$.filled_qty') AS filled_qty,
         json_extract(body, '$.average_price') AS average_price, json_extract(body, '$.reject_reason') AS reject_reason
  FROM entries WHERE kind = 'order';
CREATE VIEW IF NOT EXISTS fills AS
  SELECT id, run_id, time, symbol, client_order_id, json_extract(body, '$.side') AS side,
         json_extract(body, '$.last_filled_qty') AS quantity, json_extract(body, '$.last_filled_price') AS price,
         json_extract(body, '$.commission') AS fee, json_extract(body, '$.commission_asset') AS fee_asset,
         json_extract(body, '$.realized_pnl') AS realized_pnl, json_extract(body, '$.is_maker') AS maker
  FROM entries WHERE kind = 'order' AND CAST(json_extract(body, '$.last_filled_qty') AS REAL) > 0;
CREATE VIEW IF NOT EXISTS funding AS
  SELECT id, run_id, time, body FROM entries
  WHERE kind = 'account' AND json_extract(body, '$.reason') = 'FUNDING_FEE';
CREATE VIEW IF NOT EXISTS snapshots AS
  SELECT id, run_id, time, json_extract(body, '$.reason') AS reason, json_extract(body, '$.balances') AS balances,
         json_extract(body, '$.positions') AS positions
  FROM entries WHERE kind = 'account';
CREATE VIEW IF NOT EXISTS reloads AS
  SELECT id, run_id, time, version, json_extract(body, '$.accepted') AS accepted,
         json_extract(body, '$.errors') AS errors
  FROM entries WHERE kind = 'reload';
CREATE VIEW IF NOT EXISTS problems AS
  SELECT id, run_id, time, kind, symbol, body FROM entries WHERE kind IN ('error', 'stream', 'notice');
"""
VIEWS_V2 = _RUNS_V2 + _OTHER_VIEWS

# Version 3 keeps the chain's head (last id and hash) in `meta`, updated in the same transaction
# as the rows, so that rows cut off the end (or appended by hand) are detected too. A journal
# upgraded to 3 starts from its current last row: an earlier truncation cannot be seen.
# It also gives `runs` the id of its first row (two backtests over the same data start at the
# same data time: the id keeps them in the order they ran) and what the run said when it stopped.
_HEAD = """
INSERT OR REPLACE INTO meta (key, value)
  SELECT 'head', id || ' ' || hash FROM entries ORDER BY id DESC LIMIT 1;
DROP VIEW IF EXISTS runs;
"""
_RUNS_V3 = """
CREATE VIEW IF NOT EXISTS runs AS
  SELECT s.id, s.run_id, json_extract(s.body, '$.mode') AS mode, json_extract(s.body, '$.venue') AS venue,
         json_extract(s.body, '$.software') AS software, s.time AS started, e.time AS stopped,
         json_extract(s.body, '$.rulebook') AS rulebook, s.version, e.body AS stop
  FROM entries s LEFT JOIN entries e ON e.kind = 'run_stop' AND e.run_id = s.run_id
  WHERE s.kind = 'run_start';"""

# Version 4 puts the mode of the run on every row (old rows keep '': their hashes do not cover it).
_MODE = """
ALTER TABLE entries ADD COLUMN mode TEXT NOT NULL DEFAULT '';
"""

# Each migration takes a journal from version N-1 to N. Never edit one that has shipped.
MIGRATIONS: dict[int, str] = {1: _BASE, 2: VIEWS_V2, 3: _HEAD + _RUNS_V3, 4: _MODE}
# The views as this release defines them (for a journal that cannot be upgraded in place).
VIEWS = _RUNS_V3 + _OTHER_VIEWS


def of_mode(mode: str) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause (and its arguments) for the rows written by runs of `mode`, old ones included."""
    return (
        "(mode = ? OR (mode = '' AND run_id IN (SELECT run_id FROM entries WHERE kind = 'run_start' "
        "AND json_extract(body, '$.mode') = ?)))",
        (mode, mode),
    )


def migrate_script(current: int) -> list[tuple[int, str]]:
    """The migrations to run, in order, for a journal at `current` (0: a new file)."""
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"this journal was written by a newer rulebot (schema {current}, this release reads up to "
            f"{SCHEMA_VERSION}); upgrade rulebot to open it"
        )
    return [(v, MIGRATIONS[v]) for v in range(current + 1, SCHEMA_VERSION + 1)]
