"""`rulebot --help` and `rulebot backtest` start without importing every command (commands.py)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.cli.commands import COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_says_what_each_command_says_of_itself(name: str) -> None:
    module, attr, text = COMMANDS[name]
    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, click.Command)
    assert command.name == name
    for limit in (30, 45, 60, 80, 200):  # whatever the terminal's width, the same short help
        assert click.Command(name, help=text).get_short_help_str(limit) == command.get_short_help_str(limit)


def test_every_command_is_in_the_table_and_answers_to_debug() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=100)
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output
        command = main.get_command(click.Context(main), name)
        assert command is not None and any(p.name == "debug" for p in command.params)
    assert main.get_command(click.Context(main), "no-such-command") is None


def test_help_imports_no_command_and_backtest_only_its_own() -> None:
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from rulebot.cli import main\n"
        "args = sys.argv[1:]\n"
        "CliRunner().invoke(main, args)\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('rulebot.cli.'))))\n"
    )

    def loaded(*args: str) -> set[str]:
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True)
        return set(out.stdout.strip().splitlines()[-1].split(","))

    assert loaded("--help") == {"rulebot.cli.commands", "rulebot.cli.edge"}
    after_backtest = loaded("backtest", "--help")
    assert "rulebot.cli.backtest" in after_backtest
    assert not {"rulebot.cli.run", "rulebot.cli.audit", "rulebot.cli.web", "rulebot.cli.sweep"} & after_backtest
