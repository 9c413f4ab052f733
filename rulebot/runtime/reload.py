"""Hot reload of a running bot's rulebook: compile the file aside, take it only when it is valid
and can take over safely (`engine.reload.reload_engine`), and watch the file for changes.

Triggers: a change of the file (watchfiles: inotify, debounced), SIGHUP, `rulebot reload`.
The runner swaps the engine between two events and journals the verdict either way, with why.

The file decides what the bot trades, so it is trusted as the key file is: it must be a regular
file owned by the bot's user, writable by nobody else (its group only when that is the user's
own private group), in a directory where nobody else can replace it. And it must be whole: a
reload reads a file only once it has not changed for a settle period (an editor's or a script's
writes in several steps; a file moved into place by an atomic rename keeps the time it was
written, so it is taken at once), and refuses one that changed while it was being read.
"""

from __future__ import annotations

import asyncio
import grp
import hashlib
import os
import pwd
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from rulebot.engine.engine import Engine
from rulebot.engine.reload import ReloadRefused, ReloadResult, reload_engine
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.load import MAX_FILE_BYTES
from rulebot.rulebook.report import format_diagnostic

SETTLE_S = 2.0  # a reload waits until the file has been still this long
MAX_SETTLE_WAIT_S = 30.0  # and no longer: then it reloads, or says why not
# A modification time this far ahead of the clock is not the file settling: it was stamped by
# another clock (a copy that kept its time, an NFS server ahead), and waiting does not help.
FUTURE_S = 1.0


@dataclass(frozen=True, slots=True)
class ReloadVerdict:
    accepted: bool
    errors: tuple[str, ...] = ()  # each as the compiler prints it: file:line:col, the line, a caret
    book: CompiledRulebook | None = None  # the new rulebook, when it compiled
    result: ReloadResult | None = None  # the engine that takes over, when accepted
    unchanged: bool = False  # the same text as the running one: nothing to do
    warnings: tuple[str, ...] = ()  # the compiler's, formatted as errors are: a clamped guard, …
    # What a refusal was of: sha256 of the text judged, or for a file refused unread its identity.
    digest: str = ""

    @property
    def refusal(self) -> tuple[str, ...]:
        """What makes this refusal the same as another: the same text refused for the same reasons
        (the file watcher and `rulebot reload` both judge one edit)."""
        return (self.digest, *self.errors)


def try_reload(engine: Engine, path: Path, text: str | None = None, settle_s: float = SETTLE_S) -> ReloadVerdict:
    """The verdict on `text` (default: the file at `path`) as the running engine's successor.
    Never raises: every refusal comes with its reason, for the operator and the journal."""
    try:
        source = text if text is not None else read_trusted(path, settle_s)
    except Untrusted as exc:  # not read: the file's identity and times stand for its text
        return ReloadVerdict(False, (str(exc),), digest=_file_identity(path))
    except OSError as exc:
        return ReloadVerdict(False, (f"{path}: cannot be read ({exc.strerror or exc})",), digest=_file_identity(path))
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        book = compile_text(source, str(path))
    except RulebookError as exc:
        errors = [d for d in exc.diagnostics if d.severity == "error"]
        found = tuple(format_diagnostic(d, {str(path): source}) for d in errors) or (str(exc),)
        return ReloadVerdict(False, found, digest=digest)
    except Exception as exc:  # a compiler bug must not take the running bot down, nor pass silently
        return ReloadVerdict(False, (f"{path}: cannot be compiled ({type(exc).__name__}: {exc})",), digest=digest)
    if book.source_hash == engine.book.source_hash:
        return ReloadVerdict(True, book=book, unchanged=True, digest=digest)
    warnings = tuple(format_diagnostic(d, {str(path): source}) for d in book.warnings)
    try:
        result = reload_engine(engine, book)
        return ReloadVerdict(True, book=book, result=result, warnings=warnings + result.warnings, digest=digest)
    except ReloadRefused as exc:
        return ReloadVerdict(False, (str(exc),), book=book, warnings=warnings, digest=digest)


class Untrusted(Exception):
    """The file may not be loaded: someone else could have written it, or it is not whole yet."""


def read_trusted(path: Path, settle_s: float = SETTLE_S) -> str:
    """The file's text, if it can be trusted and is whole (see the module's doc)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO put in its place must not block the bot
    try:
        before = os.fstat(fd)
        why = untrusted(path, before)
        if why:
            raise Untrusted(f"{path}: {why}; the running rulebook is unchanged")
        age = time.time() - before.st_mtime
        if age < -FUTURE_S:
            raise Untrusted(
                f"{path}: its modification time is {-age:.0f} s in the future (stamped by a clock ahead of this "
                "machine's), so a reload cannot tell whether it is completely written: "
                f"run `touch {path}` and reload it again"
            )
        if age < settle_s:
            raise Untrusted(
                f"{path}: changed {age:.1f} s ago, and a reload waits until the file has been still for "
                f"{settle_s:g} s (or arrives whole by an atomic rename): it may not be completely written"
            )
        raw = b""
        while len(raw) <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - len(raw))):
            raw += chunk
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if _signature(after) != _signature(before):
        raise Untrusted(f"{path}: changed while it was being read; the next change triggers a reload again")
    if len(raw) > MAX_FILE_BYTES:
        raise Untrusted(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Untrusted(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _file_identity(path: Path) -> str:
    """A file refused unread, told apart by what changes with each write of it ("" if it is gone)."""
    try:
        return "file " + " ".join(map(str, _signature(os.stat(path))))
    except OSError:
        return ""


def untrusted(path: Path, st: os.stat_result) -> str | None:
    """Why a file with this status may not decide what the bot trades (None: it may)."""
    uid = os.geteuid()
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != uid:
        return f"owned by {_user(st.st_uid)}, not by {_user(uid)} who runs the bot: only they may change what it trades"
    if st.st_mode & stat.S_IWOTH or (st.st_mode & stat.S_IWGRP and not _private_group(st.st_gid, uid)):
        return f"writable by other users (mode {stat.filemode(st.st_mode)}): run `chmod go-w {path}`"
    # The folder of the path and, for a symbolic link, the folder of the file it points to.
    for folder in dict.fromkeys((Path(os.path.abspath(path)).parent, Path(os.path.realpath(path)).parent)):
        dst = folder.stat()
        others_may_replace = dst.st_mode & stat.S_IWOTH or (
            dst.st_mode & stat.S_IWGRP and not _private_group(dst.st_gid, uid)
        )
        if others_may_replace and not dst.st_mode & stat.S_ISVTX:
            return f"other users may replace it: its directory {folder} is writable by them (`chmod go-w {folder}`)"
    return None


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _private_group(gid: int, uid: int) -> bool:
    """The user's own group (Debian's and Ubuntu's default umask 002 makes files group-writable)."""
    try:
        group, user = grp.getgrgid(gid), pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    return group.gr_name == user and set(group.gr_mem) <= {user}


async def settled(path: Path, settle_s: float = SETTLE_S, max_wait_s: float = MAX_SETTLE_WAIT_S) -> None:
    """Return once the file has not changed for `settle_s` (or after `max_wait_s`: the reload
    then says why it refused). Runs outside the engine's task: events go on meanwhile."""
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        try:
            age = time.time() - os.stat(path).st_mtime
        except OSError:
            return  # gone (an editor's rename in progress) or unreadable: the reload says which
        if age >= settle_s or age < -FUTURE_S:  # still, or stamped in the future: the reload says why
            return
        await asyncio.sleep(min(settle_s - age + 0.01, max(deadline - time.monotonic(), 0)))


async def watch(path: Path, changed: Callable[[], None], settle_s: float = SETTLE_S, recheck_s: float = 1.0) -> None:
    """Call `changed` after each burst of writes to `path`, once the file is still. The folder is
    watched, not the file: a file moved into place by a rename is a new file. The folder itself
    may be replaced too (a deploy that switches a `current` symbolic link, a folder moved aside
    and another put in its place): inotify would go on watching the old one and never say a word,
    so its identity is checked every `recheck_s` and the watch moves to the new one, which counts
    as a change of the file."""
    name = path.name

    def ours(_: watchfiles.Change, p: str) -> bool:
        return os.path.basename(p) == name

    while True:
        folder = _identity(path.parent)
        if folder is None:  # gone for now: wait for it to come back
            await asyncio.sleep(recheck_s)
            continue
        stop = asyncio.Event()

        async def replaced(folder: tuple[int, int] = folder, stop: asyncio.Event = stop) -> None:
            while _identity(path.parent) == folder:
                await asyncio.sleep(recheck_s)
            stop.set()

        mover = asyncio.create_task(replaced(), name="watch-folder")
        try:
            async for _ in watchfiles.awatch(
                path.parent, watch_filter=ours, debounce=200, step=50, recursive=False, stop_event=stop
            ):
                await settled(path, settle_s)
                changed()
        except OSError:
            await asyncio.sleep(recheck_s)  # the folder went away as the watch began: look again
        finally:
            mover.cancel()
        if stop.is_set():  # another folder now: the file in it is another file
            await settled(path, settle_s)
            changed()


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino
