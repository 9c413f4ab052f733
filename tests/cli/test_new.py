"""`rulebot new`: every template writes a rulebook that validates with no warning, under the
name the user gave, and an existing file is never overwritten."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rulebot.cli import main
from rulebot.cli.new import TEMPLATES
from rulebot.rulebook.validate import validate_file


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_writes_a_rulebook_that_validates_without_warnings(tmp_path, monkeypatch, template):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["new", "btc.bot-1", "--template", template])
    assert res.exit_code == 0, res.output
    result = validate_file(str(tmp_path / "btc.bot-1.yaml"), {})
    assert result.ok and not result.diagnostics, [d.message for d in result.diagnostics]
    assert result.compiled is not None and result.compiled.name == "btc.bot-1"
    assert "# " in (tmp_path / "btc.bot-1.yaml").read_text()  # commented: it teaches


def test_new_refuses_to_overwrite_an_existing_rulebook(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("my work\n")
    res = CliRunner().invoke(main, ["new", str(path), "--template", "breakout"])
    assert res.exit_code == 1 and "already exists" in res.output and "Traceback" not in res.output
    assert path.read_text() == "my work\n"


def test_a_name_that_cannot_name_a_rulebook_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["new", str(tmp_path / "My Bot")])
    assert res.exit_code == 1 and "cannot name a rulebook" in res.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["", ".", "/", "..", "rules/"])
def test_a_name_with_no_file_name_in_it_is_a_clear_error_not_a_bug(tmp_path, monkeypatch, name):
    """`rulebot new ""` ended in "internal error in rulebot: ValueError: PosixPath('.') has an
    empty name" (exit 70, 'report the traceback')."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    res = CliRunner().invoke(main, ["new", name])
    assert res.exit_code == 1, res.output
    assert "cannot name a rulebook" in res.output and "internal error" not in res.output
    assert [p.name for p in tmp_path.iterdir()] == ["rules"] and not list((tmp_path / "rules").iterdir())


def test_an_unknown_template_is_a_usage_error_listing_the_templates(tmp_path):
    res = CliRunner().invoke(main, ["new", str(tmp_path / "x"), "--template", "grid"])
    assert res.exit_code == 2 and "mean-reversion" in res.output
