"""The committed JSON Schema must be what `rulebot schema` writes today."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rulebot.cli import main
from rulebot.cli.schema import schema_text

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "rulebook.schema.json"


def test_committed_schema_is_current():
    assert COMMITTED.exists(), "schemas/rulebook.schema.json is missing: run `rulebot schema`"
    assert COMMITTED.read_text() == schema_text(), "the schema is stale: run `rulebot schema` and commit it"


def test_schema_describes_the_language_for_editors():
    schema = json.loads(COMMITTED.read_text())
    props = schema["properties"]
    for key in (
        "rulebook",
        "market",
        "symbols",
        "account",
        "timeframes",
        "params",
        "indicators",
        "states",
        "rules",
        "risk",
    ):
        assert key in props, key
    assert props["market"]["enum"] == ["usdm", "coinm"]
    rule = schema["$defs"]["Rule"]["properties"]
    assert "in" in rule and "on" in rule and "do" in rule  # aliases, as users write them
    assert rule["on"]["description"].startswith("trigger:")
    assert schema["additionalProperties"] is False


def test_every_ready_rulebook_points_editors_at_the_schema():
    for path in (ROOT / "rules").glob("*.yaml"):
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/rulebook.schema.json", path.name


def test_schema_command_writes_the_file(tmp_path):
    out = tmp_path / "s.json"
    result = CliRunner().invoke(main, ["schema", "-o", str(out)])
    assert result.exit_code == 0
    assert out.read_text() == schema_text()
