"""`rulebot new NAME --template ...`: a commented starting rulebook that validates as written."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import click

from rulebot.core.errors import UserError
from rulebot.rulebook.model import NAME_PATTERN

TEMPLATES = ("trend", "mean-reversion", "breakout", "funding")


def template_text(template: str, name: str) -> str:
    """The shipped template with its `rulebook:` line naming the new file's rulebook."""
    text = (resources.files("rulebot") / "templates" / f"{template}.yaml").read_text(encoding="utf-8")
    return re.sub(r"^rulebook: [a-z0-9_.-]+", f"rulebook: {name}", text, count=1, flags=re.M)


def target(name: str) -> tuple[Path, str]:
    """NAME is a rulebook name (written to NAME.yaml) or a path ending in .yaml/.yml; the file's
    stem becomes the rulebook's name, so a journal, a run directory and the file agree."""
    path = Path(name)
    if path.name in ("", ".", "..") or name.endswith(("/", "\\")):  # a folder, not a file in it
        raise UserError(
            f"'{name}' cannot name a rulebook: it names no file",
            hint="give the rulebook's name (btc-trend) or its file (rules/btc-trend.yaml)",
        )
    if path.suffix not in (".yaml", ".yml"):
        path = path.with_name(path.name + ".yaml")
    if not re.match(NAME_PATTERN, path.stem):
        raise UserError(
            f"'{path.stem}' cannot name a rulebook",
            hint="use lowercase letters, digits and - _ . (starting with a letter or digit), e.g. btc-trend",
        )
    return path, path.stem


@click.command("new")
@click.argument("name")
@click.option(
    "--template",
    "-t",
    type=click.Choice(TEMPLATES),
    default="trend",
    show_default=True,
    help="The idea the rulebook starts from.",
)
def new_cmd(name: str, template: str) -> None:
    """Write a commented starting rulebook NAME.yaml (never over an existing file)."""
    path, book = target(name)
    text = template_text(template, book)
    try:
        with path.open("x", encoding="utf-8") as f:  # "x": an existing rulebook is never replaced
            f.write(text)
    except FileExistsError:
        raise UserError(f"{path} already exists; nothing was written", hint="choose another NAME") from None
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {path} (rulebook '{book}', from the {template} template)")
    click.echo(f"next: rulebot validate {path} --explain, then rulebot backtest {path} --data ...")
