"""The `rulebot` command line: thin wrappers over library functions of the same names."""

from __future__ import annotations

import click

from rulebot import __version__
from rulebot.cli.edge import RulebotGroup, add_debug_option


@click.group(cls=RulebotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rulebot")
def main() -> None:
    """Declarative, rules-based trading bots for Binance Futures."""


# Commands are imported when one runs (RulebotGroup.get_command, commands.py); every command answers
# to --debug, the group itself too (`rulebot --debug X`).
add_debug_option(main)
