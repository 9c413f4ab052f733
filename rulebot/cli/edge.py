"""The command line's one error boundary: no input ever ends in a Python traceback.

Every command runs inside `RulebotGroup.invoke`. What escapes a command is sorted once, here:

- a `RulebookError` prints its diagnostics like `rulebot validate` (exit 1);
- a `UserError` (bad archive file, backtest that cannot run, missing keys...) prints
  `error: <message>` and its hint (its `exit_code`, 1 unless it says otherwise);
- an `OSError` names the file and what the system said (exit 1): a path that cannot be
  written or read is the user's to fix;
- anything else is a bug in rulebot: one line saying so (exit 70, EX_SOFTWARE).

`--debug` (on any command, or `RULEBOT_DEBUG=1`) adds the traceback, for a bug report.
Click's own usage errors (exit 2) pass through untouched.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from rulebot.core.errors import UserError
from rulebot.rulebook.errors import RulebookError

EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE; 4 is --strict's rule failure
_DEBUG_KEY = "rulebot.debug"


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG_KEY] = True


def debug_option() -> click.Option:
    return click.Option(
        ["--debug"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="On an error, also print the Python traceback (for a bug report).",
    )


def add_debug_option(command: click.Command) -> None:
    """`--debug` on `command` and, for a group, on every command below it."""
    if not any(p.name == "debug" for p in command.params):
        command.params.append(debug_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_debug_option(sub)


def _debugging(ctx: click.Context) -> bool:
    return bool(ctx.meta.get(_DEBUG_KEY)) or os.environ.get("RULEBOT_DEBUG", "") not in ("", "0")


# A file name or a quoted row can hold an escape sequence that would rewrite the terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c not in (0x09, 0x0A)}


def _say(text: str) -> None:
    click.echo(text.translate(_CONTROLS), err=True)


def report(exc: BaseException) -> int:
    """Print what went wrong for a person; the exit code it deserves."""
    if isinstance(exc, RulebookError):
        from rulebot.cli.validate import print_rulebook_errors

        files = [d.span.file for d in exc.diagnostics if d.span is not None]
        print_rulebook_errors(exc.file or (files[0] if files else "rulebook"), exc)
        return 1
    if isinstance(exc, UserError):
        _say(f"error: {exc}")
        if exc.hint:
            _say(exc.hint)
        return exc.exit_code
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else None
        what = exc.strerror or str(exc) or type(exc).__name__
        _say(f"error: {where}: {what}" if where is not None else f"error: {what}")
        return 1
    _say(f"error: internal error in rulebot: {type(exc).__name__}: {exc}")
    _say("this is a bug, not your input: rerun with --debug and report the traceback it prints")
    return EXIT_INTERNAL


class RulebotGroup(click.Group):
    """The top-level group: its `invoke` is the error boundary of every command, and its commands
    are imported when one runs (`commands.py`), not when the program starts."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from rulebot.cli.commands import COMMANDS

        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            from rulebot.cli.commands import load

            command = load(cmd_name)
            if command is None:
                return None
            add_debug_option(command)  # every command answers to --debug
            self.commands[cmd_name] = command
        return self.commands[cmd_name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table: `--help` imports no command."""
        from rulebot.cli.commands import COMMANDS

        # As click.Group.format_commands shortens each command's help, from the table's text.
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit)) for name in sorted(COMMANDS)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            raise  # `rulebot audit ... | head`: click closes the pipe quietly
        except Exception as exc:
            if _debugging(ctx):
                traceback.print_exc(file=sys.stderr)
            ctx.exit(report(exc))
