"""`rulebot schema`: write the rulebook JSON Schema that editors use for completion."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rulebot.core.errors import UserError
from rulebot.rulebook.model import json_schema

DEFAULT_PATH = Path("schemas") / "rulebook.schema.json"


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


@click.command("schema")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PATH,
    show_default=True,
    help="Where to write it ('-' for standard output).",
)
def schema_cmd(output: Path) -> None:
    """Write schemas/rulebook.schema.json (for yaml-language-server and other editors)."""
    text = schema_text()
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:  # the path named in the message is the one the user gave
        raise UserError(f"cannot write the schema to {output}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {output}")
