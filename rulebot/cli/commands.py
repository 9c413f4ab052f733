"""Registry of command groups; each module owns one command or group."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    from rulebot.cli.audit import audit
    from rulebot.cli.backtest import backtest_cmd, demo_cmd
    from rulebot.cli.data import data
    from rulebot.cli.fake_exchange import fake_exchange_cmd
    from rulebot.cli.new import new_cmd
    from rulebot.cli.run import dry_run_cmd, kill_cmd, reload_cmd, run_cmd, status_cmd
    from rulebot.cli.schema import schema_cmd
    from rulebot.cli.sweep import sweep_cmd
    from rulebot.cli.validate import validate_cmd
    from rulebot.cli.web import web_cmd

    main.add_command(new_cmd)
    main.add_command(validate_cmd)
    main.add_command(schema_cmd)
    main.add_command(data)
    main.add_command(backtest_cmd)
    main.add_command(demo_cmd)
    main.add_command(sweep_cmd)
    main.add_command(audit)
    for cmd in (dry_run_cmd, run_cmd, status_cmd, kill_cmd, reload_cmd, fake_exchange_cmd, web_cmd):
        main.add_command(cmd)
