"""Every rulebook in tests/rulebook/invalid/ must produce exactly the diagnostics it announces.

Each file lists them in `# expect: LINE:COL: SEVERITY: MESSAGE` comment lines (the comment
lines themselves sit at the end so that they do not shift the positions above them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebot.rulebook.compiler import compile_file
from rulebot.rulebook.errors import RulebookError

CORPUS = Path(__file__).parent / "invalid"
FILES = sorted(CORPUS.glob("*.yaml"))


def expected(path: Path) -> list[str]:
    prefix = "# expect: "
    return [line[len(prefix) :].rstrip() for line in path.read_text().splitlines() if line.startswith(prefix)]


def actual(path: Path) -> list[str]:
    with pytest.raises(RulebookError) as info:
        compile_file(str(path))
    out = []
    for d in info.value.diagnostics:
        assert d.span is not None and d.span.file == str(path), d
        out.append(f"{d.span.line}:{d.span.column}: {d.severity}: {d.message}")
    return out


def test_corpus_is_not_empty():
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_invalid_rulebook_reports_exactly_its_errors(path: Path):
    want = expected(path)
    assert want, f"{path.name} announces no expected diagnostics"
    assert actual(path) == want
