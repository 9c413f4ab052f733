"""Why a backtest's replay had nothing to trade: no files for the rulebook's symbols, files with no
rows, or --from/--to outside what the files cover, said with what they do cover."""

from __future__ import annotations

from collections.abc import Sequence

from rulebot.backtest.text import when
from rulebot.core.errors import UserError
from rulebot.feeds.replay import ReplaySource
from rulebot.feeds.replay import log as replay_log
from rulebot.rulebook.compiled import CompiledRulebook
from rulebot.rulebook.history import duration_text

_MINUTE, _DAY = 60_000, 86_400_000
_NOTHING_TRADED = (
    "nothing was traded; point --data at Binance archive files (or folders of them) for the rulebook's "
    "symbols, and make --from/--to overlap their dates"
)


def nothing_in_range(
    book: CompiledRulebook, data: Sequence[str], start: int | None, end: int | None, *, found: bool
) -> tuple[str, str]:
    """Why the replay has nothing to trade, and what to do (message, hint); `found`: the files for the
    range were there, with no event. No files for the symbols, empty files, or --from/--to outside
    what the files cover (said with what they cover: the user need not look for files that are there)."""
    symbols = ", ".join(book.symbols)
    periods: list[tuple[int, int] | None] = []
    if start is not None or end is not None:
        # The files again, without the range; the files it skips were already said once.
        quiet = replay_log.disabled
        replay_log.disabled = True
        try:
            periods = [f.period() for f in ReplaySource(list(data), symbols=set(book.symbols)).files]
        except UserError:  # the files outside the range are the user's to fix once they are asked for
            pass
        finally:
            replay_log.disabled = quiet
    elif found:
        return (f"the files for {symbols} under {', '.join(data)} hold no events (are they empty?)", _NOTHING_TRADED)
    if not periods:
        return (f"no archive files for {symbols} under {', '.join(data)}", _NOTHING_TRADED)
    if any(p is None for p in periods):
        return ("the data holds no events in the requested time range", _NOTHING_TRADED)
    first = min(p[0] for p in periods if p is not None)
    last = max(p[1] for p in periods if p is not None)
    if start is not None and end is not None:
        asked = f"from {when(start)} to {when(end)}"
    else:
        asked = f"from {when(start)}" if start is not None else f"before {when(end or 0)}"
    return (
        f"no data for {symbols} {asked} UTC: the files for it cover {when(first)} to {when(last)} UTC",
        "nothing was traded; set --from/--to inside that time, or add the files for it with --data",
    )


def short_of_range(first: int, last: int, start: int | None, end: int | None) -> tuple[str, ...]:
    """Notes for a --from/--to wider than the data by a day or more (`first`, `last`: the times of the
    first and last events traded): the period ran is shorter than asked, which the summary's period
    shows but does not point out."""
    notes = []
    begins = first - first % _MINUTE
    if start is not None and begins - start >= _DAY:
        notes.append(
            f"the data starts {when(begins)}, {duration_text(begins - start)} after --from {when(start)}: "
            "the period ran is shorter than asked"
        )
    ends = (last + 1) - (last + 1) % _MINUTE  # a bar's last millisecond is the end of its minute
    if end is not None and end - ends >= _DAY:
        notes.append(
            f"the data ends {when(ends)}, {duration_text(end - ends)} before --to {when(end)}: "
            "the period ran is shorter than asked"
        )
    return tuple(notes)
