"""The safe YAML loader: positions, YAML 1.2 scalars, and refusal of hostile documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebot.rulebook.errors import RulebookError
from rulebot.rulebook.load import MAX_EXPANDED_NODES, MAX_FILE_BYTES, load_yaml_file, load_yaml_text


def codes(text: str) -> list[str]:
    with pytest.raises(RulebookError) as info:
        load_yaml_text(text, "t.yaml")
    return [d.code for d in info.value.diagnostics]


def test_yaml_1_2_scalars_keep_on_as_a_key_and_yes_as_text():
    data = load_yaml_text("on: trade\nx: yes\nt: 1:30\nb: true\nn: ~\nf: 1.5\ni: -3\np: 1.5%\n").data
    assert data == {"on": "trade", "x": "yes", "t": "1:30", "b": True, "n": None, "f": 1.5, "i": -3, "p": "1.5%"}


def test_positions_of_keys_and_values_are_one_based():
    loaded = load_yaml_text('rules:\n  - name: a\n    when: "price > 1"\n', "f.yaml")
    loc = loaded.source.entries[("rules", 0, "when")]
    assert (loc.span.line, loc.span.column) == (3, 11)
    assert loc.key_span is not None and (loc.key_span.line, loc.key_span.column) == (3, 5)


@pytest.mark.parametrize(
    ("text", "value", "offset", "column"),
    [
        ("when: price > 1\n", "price > 1", 8, 15),  # plain
        ("when: 'price > 1'\n", "price > 1", 8, 16),  # single-quoted
        ('when: "price > 1"\n', "price > 1", 8, 16),  # double-quoted
    ],
)
def test_span_in_value_maps_expression_offsets_to_columns(text, value, offset, column):
    src = load_yaml_text(text, "f.yaml").source
    span = src.span_in_value(("when",), value, offset, 1)
    assert (span.line, span.column) == (1, column)


def test_span_in_value_finds_text_in_block_scalars():
    text = "when: |\n  a > 1 and\n  bogus > 2\n"
    loaded = load_yaml_text(text, "f.yaml")
    value = loaded.data["when"]
    span = loaded.source.span_in_value(("when",), value, value.index("bogus"), 5)
    assert (span.line, span.column, span.length) == (3, 3, 5)


def test_duplicate_keys_are_errors_that_name_the_first():
    with pytest.raises(RulebookError) as info:
        load_yaml_text("a: 1\nb: 2\na: 3\n", "t.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "yaml-duplicate-key" and d.span.line == 3 and "line 1" in d.hint


def test_python_tags_are_refused_without_being_constructed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"a: !!python/object/apply:os.system ['touch {marker}']\n"
    assert codes(text) == ["yaml-tag"]
    assert not marker.exists()


def test_custom_tags_and_merge_keys_are_refused():
    assert codes("a: !secret x\n") == ["yaml-tag"]
    assert codes("base: &b {x: 1}\nc:\n  <<: *b\n") == ["yaml-merge"]


def test_billion_laughs_is_refused():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    assert codes("\n".join(lines) + "\n") == ["yaml-too-large"]
    with pytest.raises(RulebookError) as info:
        load_yaml_text("\n".join(lines) + "\n", "t.yaml")
    assert "anchors and aliases" in (info.value.diagnostics[0].hint or "")


def test_too_many_values_without_an_alias_does_not_blame_aliases():
    """A long list written out in full was told "anchors and aliases (&a / *a) that multiply each
    other are refused": the file had none."""
    text = "x: [" + ", ".join(["1"] * (MAX_EXPANDED_NODES + 5)) + "]\n"
    with pytest.raises(RulebookError) as info:
        load_yaml_text(text, "t.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "yaml-too-large" and d.message == f"the document holds more than {MAX_EXPANDED_NODES} values"
    assert "alias" not in (d.hint or "")


def test_small_alias_use_is_fine():
    data = load_yaml_text("x: &stop {distance: 2%}\ny: *stop\n").data
    assert data["y"] == {"distance": "2%"}


def test_recursive_alias_is_refused():
    assert codes("a: &a [*a]\n") == ["yaml-recursive"]


def test_oversized_file_is_refused(tmp_path: Path):
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * (MAX_FILE_BYTES + 10) + "\n")
    with pytest.raises(RulebookError) as info:
        load_yaml_file(str(path))
    assert info.value.diagnostics[0].code == "yaml-too-large"


def test_syntax_error_reports_line_and_column():
    with pytest.raises(RulebookError) as info:
        load_yaml_text("rules:\n  - name: a\n    on: [trade\n", "t.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "yaml-syntax" and d.span.line == 4


def test_tabs_get_a_hint():
    with pytest.raises(RulebookError) as info:
        load_yaml_text("a:\n\tb: 1\n", "t.yaml")
    assert "tabs" in (info.value.diagnostics[0].hint or "")


@pytest.mark.parametrize("text", ["a:\tb\n", "a: [1,\t2]\nb: x\tc: 3\n", "a: 1\t# note\n"])
def test_a_tab_inside_a_line_is_not_called_indentation(text):
    """`rulebook:\tname` was told "YAML indentation must use spaces": there is no indentation
    there, and a user looking at the start of the line would find nothing wrong."""
    try:
        load_yaml_text(text, "t.yaml")
    except RulebookError as exc:
        (d,) = exc.diagnostics
        assert d.span is not None and text.splitlines()[d.span.line - 1][d.span.column - 1] == "\t"
        assert d.hint == "a tab cannot stand here; write a space instead"


def test_not_utf8_and_missing_files_are_reported(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: \xff\xfe\n")
    for path, code in ((bad, "encoding"), (tmp_path / "missing.yaml", "io")):
        with pytest.raises(RulebookError) as info:
            load_yaml_file(str(path))
        assert info.value.diagnostics[0].code == code


def test_a_directory_is_named_as_one(tmp_path: Path):
    with pytest.raises(RulebookError) as info:
        load_yaml_file(str(tmp_path))
    d = info.value.diagnostics[0]
    assert d.code == "io" and d.message == "cannot read file: it is a directory, not a rulebook" and d.hint


def test_empty_document_is_an_error():
    assert codes("# only a comment\n") == ["yaml-empty"]


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 500 + "]" * 500 + "\n",  # flow nesting
        "".join("  " * i + f"k{i}:\n" for i in range(500)) + "  " * 500 + "x: 1\n",  # block nesting
    ],
    ids=["flow", "block"],
)
def test_yaml_nested_500_levels_is_an_error_not_a_recursion_traceback(text):
    with pytest.raises(RulebookError) as info:
        load_yaml_text(text, "deep.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "yaml-too-deep" and d.span is not None and d.span.file == "deep.yaml"


def test_yaml_with_a_nul_byte_is_an_error_at_its_line_and_column():
    with pytest.raises(RulebookError) as info:
        load_yaml_text("rulebook: x\nmarket: us\x00dm\n", "nul.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "yaml-character" and "NUL" in d.message
    assert d.span is not None and (d.span.line, d.span.column) == (2, 11)


def test_quoted_source_lines_are_cut_and_show_no_control_characters():
    from rulebot.rulebook.errors import Diagnostic, SourceSpan
    from rulebot.rulebook.report import format_diagnostic

    text = "x: " + "a" * 5000 + "\x1b[2J\x00" + "b" * 5000 + "\n"
    out = format_diagnostic(Diagnostic("error", "boom", SourceSpan("f.yaml", 1, 5004)), {"f.yaml": text})
    quoted, caret = out.splitlines()[1:3]
    assert len(quoted) < 200 and "\x1b" not in out and "\x00" not in out
    assert quoted[caret.index("^")] == "\ufffd"  # the caret still points at the ESC


def test_validate_quotes_at_most_a_rulebook_s_size_of_a_huge_file(tmp_path: Path):
    from rulebot.rulebook.validate import validate_file

    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (5 * MAX_FILE_BYTES))
    result = validate_file(str(big))
    assert not result.ok and result.text is not None and len(result.text) <= MAX_FILE_BYTES + 1


def test_a_5000_digit_integer_is_an_error_at_its_place_not_a_python_valueerror():
    with pytest.raises(RulebookError) as info:
        load_yaml_text("params:\n  n: " + "9" * 5000 + "\n", "big.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "yaml-number" and d.span is not None and (d.span.line, d.span.column) == (2, 6)


def test_a_second_document_is_called_one():
    """Two rulebooks pasted into one file said "YAML syntax error: but found another document"."""
    with pytest.raises(RulebookError) as info:
        load_yaml_text("a: 1\n---\nb: 2\n", "t.yaml")
    (d,) = info.value.diagnostics
    assert (d.span.line, d.span.column) == (2, 1)
    assert d.message == "a second YAML document starts here: a rulebook is one document"
    assert d.hint == "remove the '---' line, or put each rulebook in its own file"
