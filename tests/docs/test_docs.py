"""The language reference in docs/ cannot rot: the site builds with `mkdocs build --strict`
(a broken link or a page missing from the nav fails), and every example marked as a rulebook
compiles with the real compiler."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rulebot.rulebook.validate import validate_file

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# An example is a rulebook when the line before its fence says so: `<!-- rulebook -->`.
EXAMPLE = re.compile(r"<!-- rulebook -->\s*\n```yaml\n(.*?)\n```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for i, m in enumerate(EXAMPLE.finditer(page.read_text(encoding="utf-8"))):
            found.append((f"{page.name}#{i + 1}", m.group(1)))
    return found


EXAMPLES = examples()


def test_every_page_of_the_language_has_an_example_that_ci_checks():
    pages = {name.split("#")[0] for name, _ in EXAMPLES}
    for page in (
        "index.md",
        "tutorial.md",
        "rulebook.md",
        "triggers.md",
        "expressions.md",
        "indicators.md",
        "actions.md",
        "guards.md",
    ):
        assert page in pages, f"{page} has no example marked <!-- rulebook -->"


@pytest.mark.parametrize(("where", "text"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_every_rulebook_example_in_the_docs_compiles_without_a_warning(where, text, tmp_path):
    book = tmp_path / "example.yaml"
    book.write_text(text, encoding="utf-8")
    result = validate_file(str(book), {})
    assert result.ok and not result.diagnostics, f"{where}: " + "; ".join(
        f"{d.message} ({d.hint})" for d in result.diagnostics
    )


def test_the_site_builds_strictly(tmp_path):
    out = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "index.html").exists() and (out / "guards" / "index.html").exists()
