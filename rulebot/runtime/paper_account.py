"""A dry-run's paper account kept in its run directory, so that it survives a restart as a live
account does: balances, positions, working orders and stops (trailing ones with their high
and low water marks), leverage, margin type and the order ids already used.

The exchange simulator is saved whole, whenever it changed the account (a command, a fill, a
funding payment, a liquidation), every few thousand market events (trailing stops move with
the market) and at shutdown: written beside the target, flushed, then renamed over it, so a
bot killed at any moment leaves the previous account or the new one, never half of one. As
with a live account, the account is the truth and the journal lags it: on restart the engine
takes the positions and balances from it and adopts the orders the journal knows
(`recovery.adopt`), just as it reconciles with Binance.

The account is saved after the journal step it follows, so a save that fails (a full disk) or a
kill between the two leaves a file older than the journal: a fill or a funding payment the
journal holds is not in it (issue 27). Such a file is not adopted (`behind_journal`): a restart
would trade on a position the journal says was closed, or without one it says was opened.

The file is a pickle of the simulator's own objects (no second format to keep in step with
it). Loading one is guarded as loading code would be: the file must belong to this user and
be writable by no one else, and the unpickler builds only the simulator's and core's plain
data classes, Decimals and builtin containers; anything else is refused.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import sqlite3
import stat
from collections.abc import Iterable
from decimal import Decimal
from enum import Enum, EnumMeta
from pathlib import Path
from typing import Any

from rulebot.binance.payloads.account_state import reconciled_balance, reconciled_position
from rulebot.core.account_events import RECONCILE, AccountUpdate
from rulebot.exchange_sim import FillModel, SimExchange
from rulebot.journal.schema import of_mode
from rulebot.journal.writer import read_only_uri
from rulebot.venues.binance.venue import Reconciliation

PAPER_FILE = "paper-account.pickle"
SAVE_EVERY_EVENTS = 5_000

# Modules whose classes a saved account may hold: the simulator's and core's data, all pure.
_SAFE_PREFIXES = ("rulebot.exchange_sim.", "rulebot.core.", "rulebot.binance.payloads.")
_SAFE_GLOBALS = {
    ("decimal", "Decimal"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "complex"),
    ("collections", "deque"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("rulebot.runtime.paper_account", "_method"),
    ("rulebot.runtime.paper_account", "_member"),
}


class PaperAccountError(RuntimeError):
    """The saved paper account cannot be used (unsafe, damaged, or for other symbols)."""


def _method(obj: object, name: str) -> Any:
    """A bound method of one of the simulator's objects (they hand each other callbacks)."""
    cls = type(obj)
    if not cls.__module__.startswith("rulebot.exchange_sim.") or name.startswith("__"):
        raise pickle.UnpicklingError(f"not a simulator method: {cls.__name__}.{name}")
    if not callable(getattr(cls, name, None)):
        raise pickle.UnpicklingError(f"{cls.__name__} has no method {name}")
    return getattr(obj, name)


def _member(cls: type[Enum], name: str) -> Enum:
    """An enum member by name (some Python 3.11 releases pickle members as `getattr(cls, name)`,
    and `getattr` is no global a saved account may call)."""
    if not cls.__module__.startswith(_SAFE_PREFIXES) or not isinstance(cls, EnumMeta):
        raise pickle.UnpicklingError(f"not a rulebot enum: {cls!r}")
    return cls[name]


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Enum):
            return _member, (type(obj), obj.name)
        self_ = getattr(obj, "__self__", None)
        if self_ is not None and type(obj).__name__ == "method":
            return _method, (self_, obj.__name__)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS or (module.startswith(_SAFE_PREFIXES) and not name.startswith("_")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a paper account")


def save(sim: SimExchange, path: Path) -> None:
    """Write the account atomically (temp file, fsync, rename, fsync of the directory)."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(sim)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = buf.getbuffer()
            while data:  # a write on a nearly full disk may write part and say so: the next one fails
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OSError(
            exc.errno,
            f"the paper account {path} cannot be saved ({exc.strerror}): is the disk full? The journal holds "
            "steps the file lacks, so a restart will not adopt it",
        ) from exc
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsynced
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def load(path: Path, symbols: Iterable[str]) -> SimExchange | None:
    """The saved account, or None when there is none; PaperAccountError when it cannot be used."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    advice = f"move {path} away to start a fresh paper account (its positions are then forgotten)"
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise PaperAccountError(
            f"the paper account {path} is not a file of yours that only you can write: not loaded; {advice}"
        )
    try:
        with path.open("rb") as f:
            sim = _Unpickler(f).load()
    except Exception as exc:  # a damaged or foreign file: say so, never run on half an account
        raise PaperAccountError(f"the paper account {path} cannot be read ({exc}); {advice}") from None
    if not isinstance(sim, SimExchange):
        raise PaperAccountError(f"{path} does not hold a paper account; {advice}")
    held = {p.symbol for p in sim.positions(include_flat=True)}
    wanted = set(symbols)
    if not wanted <= held:
        raise PaperAccountError(
            f"the paper account {path} trades {', '.join(sorted(held))}, not {', '.join(sorted(wanted - held))}: "
            f"use another --run-dir for this rulebook, or {advice}"
        )
    return sim


def other_fill_model(sim: SimExchange, asked: FillModel, path: Path) -> str | None:
    """Why the saved account `sim` cannot go on under the fill model `asked` (it fills with
    another: carried on, the run would fill as neither said), or None when it can."""
    kept = sim.fill_model
    if kept == asked:
        return None
    return (
        f"the paper account {path} was made with the {kept.name} fill model ({kept.describe()}), not the "
        f"{asked.name} one this dry-run asks for ({asked.describe()}): give --fill-model {kept.name} and the same "
        f"knobs to carry on with it, or move {path} away to start a fresh paper account (its positions are then "
        "forgotten)"
    )


def snapshot(sim: SimExchange, symbols: Iterable[str], time: int) -> Reconciliation:
    """The paper account as a live reconciliation reads Binance: open orders, balances, positions."""
    wanted = set(symbols)
    balances = tuple(reconciled_balance(b) for b in sim.balances())
    positions = tuple(reconciled_position(p) for p in sim.positions(include_flat=True) if p.symbol in wanted)
    return Reconciliation(
        tuple(o for o in sim.open_orders() if o.symbol in wanted),
        tuple(a for a in sim.open_algo_orders() if a.symbol in wanted),
        AccountUpdate(RECONCILE, balances, positions, time),
        time,
    )


# The last value the journal's account updates gave each wallet and each position (bare columns
# with max(): SQLite takes them from the row of the largest id, the latest update).
_LAST_WALLETS = (
    "SELECT json_extract(b.value, '$.asset'), json_extract(b.value, '$.wallet_balance'), max(e.id) "
    "FROM entries e, json_each(e.body, '$.balances') b WHERE e.kind = 'account' AND {where} GROUP BY 1"
)
_LAST_POSITIONS = (
    "SELECT json_extract(p.value, '$.symbol'), json_extract(p.value, '$.position_side'), "
    "json_extract(p.value, '$.amount'), max(e.id) "
    "FROM entries e, json_each(e.body, '$.positions') p WHERE e.kind = 'account' AND {where} GROUP BY 1, 2"
)


def behind_journal(sim: SimExchange, journal: Path, mode: str, path: Path) -> str | None:
    """Why the saved account `sim` cannot be the one the journal's runs of `mode` left (a wallet or
    a position differs from the journal's last account update of it), or None when it can."""
    if not journal.is_file():
        return None
    where, args = of_mode(mode)
    with contextlib.closing(sqlite3.connect(read_only_uri(journal), uri=True)) as db:
        wallets = db.execute(_LAST_WALLETS.format(where=where), args).fetchall()
        positions = db.execute(_LAST_POSITIONS.format(where=where), args).fetchall()
    kept_wallets = {b.asset: b.wallet_balance for b in sim.balances()}
    kept_positions = {(p.symbol, p.position_side.value): p.amount for p in sim.positions(include_flat=True)}
    differ = [
        f"{asset} wallet {text} in the journal, {kept_wallets[asset]} in the file"
        for asset, text, _ in wallets
        if asset in kept_wallets and Decimal(text) != kept_wallets[asset]
    ]
    differ += [
        f"{symbol} {side} position {text} in the journal, {kept_positions[(symbol, side)]} in the file"
        for symbol, side, text, _ in positions
        if (symbol, side) in kept_positions and Decimal(text) != kept_positions[(symbol, side)]
    ]
    if not differ:
        return None
    return (
        f"the paper account {path} does not match its journal ({'; '.join(differ)}): it was not saved after "
        "the journal's last steps (a full disk, or the bot was killed between the two), and trading on it "
        "would contradict the journal. Not loaded; move it away to start a fresh paper account, whose "
        "positions the journal's earlier runs then no longer hold"
    )
