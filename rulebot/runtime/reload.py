"""Hot reload of a running bot's rulebook: compile the file aside, take it only when it is valid
and can take over safely (`engine.reload.reload_engine`), and watch the file for changes.

Triggers: a change of the file (watchfiles: inotify, debounced), SIGHUP, `rulebot reload`.
The runner swaps the engine between two events and journals the verdict either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from rulebot.engine.engine import Engine
from rulebot.engine.reload import ReloadRefused, ReloadResult, reload_engine
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.compiler import compile_text
from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.report import format_diagnostic


@dataclass(frozen=True, slots=True)
class ReloadVerdict:
    accepted: bool
    errors: tuple[str, ...] = ()  # each as the compiler prints it: file:line:col, the line, a caret
    book: CompiledRulebook | None = None  # the new rulebook, when it compiled
    result: ReloadResult | None = None  # the engine that takes over, when accepted
    unchanged: bool = False  # the same text as the running one: nothing to do


def try_reload(engine: Engine, path: Path, text: str | None = None) -> ReloadVerdict:
    """The verdict on `text` (default: the file at `path`) as the running engine's successor."""
    try:
        source = text if text is not None else path.read_text()
        book = compile_text(source, str(path))
    except OSError as exc:
        return ReloadVerdict(False, (f"{path}: cannot be read ({exc.strerror or exc})",))
    except RulebookError as exc:
        errors = [d for d in exc.diagnostics if d.severity == "error"]
        return ReloadVerdict(False, tuple(format_diagnostic(d, {str(path): source}) for d in errors) or (str(exc),))
    if book.source_hash == engine.book.source_hash:
        return ReloadVerdict(True, book=book, unchanged=True)
    try:
        return ReloadVerdict(True, book=book, result=reload_engine(engine, book))
    except ReloadRefused as exc:
        return ReloadVerdict(False, (str(exc),), book=book)


async def watch(path: Path, changed: Callable[[], None]) -> None:
    """Call `changed` after each burst of writes to `path` (editors write in several steps)."""
    async for _ in watchfiles.awatch(path, debounce=200, step=50):
        changed()
