"""The `rulebot` command line: thin wrappers over library functions of the same names."""

from __future__ import annotations

import click

from rulebot import __version__
from rulebot.cli.edge import RulebotGroup, add_debug_option


@click.group(cls=RulebotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rulebot")
def main() -> None:
    """Declarative, rules-based trading bots for Binance Futures."""


def _register() -> None:
    # Each command group lives in its own module; importing here keeps start-up cheap
    # and lets a broken optional group fail loudly in tests rather than silently vanish.
    from rulebot.cli import commands

    commands.register(main)
    # Every command, whoever adds it, answers to --debug; the group itself too (`rulebot --debug X`).
    add_debug_option(main)


_register()
