"""Registry of command groups; each module owns one command or group."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    pass
