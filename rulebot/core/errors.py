"""The one error type the command line turns into a message and an exit code, with no traceback.

Library code raises a `UserError` (or a subclass: a bad archive file, a backtest that cannot run
as asked, missing credentials) when the input is at fault and a person can fix it. The CLI edge
(`rulebot.cli.edge`) prints `error: <message>` and the hint, and exits with `exit_code`; any
other exception is a bug and is reported as one.
"""

from __future__ import annotations


class UserError(Exception):
    """Input a person can fix: the message says what is wrong and where (file and line if any)."""

    exit_code = 1  # README: 1 invalid input, 2 usage, 3 market feed failed

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InvalidInput(UserError, ValueError):
    """A value the user gave (an option, a setting, a file's content) that cannot be used.

    Also a ValueError, so that code and tests that expect one keep working."""
