"""The positioned YAML loader: positions, and the inputs it must refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from sopflow.language.yaml_source import MAX_FILE_BYTES, load_file, parse_text

pytestmark = pytest.mark.unit


def test_positions_of_values_and_keys_are_one_based() -> None:
    doc, problems = parse_text("a: 1\nsteps:\n  - id: x\n    when: 'input.y'\n", "f.yaml")
    assert problems == [] and doc is not None
    assert (doc.pos(("steps", 0, "id")).line, doc.pos(("steps", 0, "id")).col) == (3, 9)
    assert (doc.key_pos(("steps", 0, "when")).line, doc.key_pos(("steps", 0, "when")).col) == (4, 5)
    # Inside a quoted scalar the content starts one column after the quote.
    at = doc.expr_pos(("steps", 0, "when"), 6)
    assert (at.line, at.col) == (4, 11 + 1 + 6)


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    _, problems = parse_text("a: 1\nb:\n  c: 1\n  c: 2\n", "f.yaml")
    assert [(p.code, p.line, p.col) for p in problems] == [("E102", 4, 3)]
    assert "line 3" in problems[0].message


def test_python_and_custom_tags_are_refused() -> None:
    for text in ("a: !!python/object:os.system {}\n", "a: !include other.yaml\n"):
        _, problems = parse_text(text, "f.yaml")
        assert [p.code for p in problems] == ["E104"], text


def test_alias_bomb_fails_fast() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    _, problems = parse_text("\n".join(lines) + "\n", "bomb.yaml")
    assert [p.code for p in problems] == ["E103"]


def test_a_few_aliases_are_fine() -> None:
    doc, problems = parse_text("base: &b {x: 1}\nuse: *b\nagain: *b\n", "f.yaml")
    assert problems == [] and doc is not None
    assert doc.data["again"] == {"x": 1}


def test_yaml_1_1_booleans_stay_text() -> None:
    doc, _ = parse_text("region: NO\nflag: yes\nreal: true\n", "f.yaml")
    assert doc is not None
    assert doc.data == {"region": "NO", "flag": "yes", "real": True}


def test_on_as_a_key_is_text_not_a_boolean() -> None:
    doc, _ = parse_text("on: {approved: x}\n", "f.yaml")
    assert doc is not None and doc.data == {"on": {"approved": "x"}}


def test_one_document_per_file() -> None:
    _, problems = parse_text("a: 1\n---\nb: 2\n", "f.yaml")
    assert [(p.code, p.line) for p in problems] == [("E106", 3)]
    _, problems = parse_text("# only a comment\n", "f.yaml")
    assert [p.code for p in problems] == ["E106"]


def test_document_must_be_a_mapping() -> None:
    _, problems = parse_text("- a\n- b\n", "f.yaml")
    assert [p.code for p in problems] == ["E105"]


def test_syntax_error_has_position() -> None:
    _, problems = parse_text("a: [1, 2\nb: 3\n", "f.yaml")
    assert len(problems) == 1 and problems[0].code == "E101"
    assert problems[0].line >= 2


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * MAX_FILE_BYTES + b"\n")
    _, problems = load_file(big, "big.yaml")
    assert [p.code for p in problems] == ["E100"]


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: \xff\xfe\n")
    _, problems = load_file(bad, "bad.yaml")
    assert [(p.code, p.line) for p in problems] == [("E107", 2)]


def test_modeline_is_recorded() -> None:
    doc, _ = parse_text("# yaml-language-server: $schema=../schema/sop.schema.json\na: 1\n", "f")
    assert doc is not None and doc.schema_modeline == "../schema/sop.schema.json"


def test_plain_scalars_follow_the_yaml_1_2_core_schema() -> None:
    text = (
        "a: ~\nb: null\nc: True\nd: 'true'\ne: 0x1F\nf: 1_000\ng: 1.5e3\nh: !!str 5\n"
        "i: 2026-01-01\nj: off\nk: -7\n"
    )
    doc, problems = parse_text(text, "f.yaml")
    assert problems == [] and doc is not None
    assert doc.data == {
        "a": None,
        "b": None,
        "c": True,
        "d": "true",
        "e": 31,
        "f": "1_000",
        "g": 1500.0,
        "h": "5",
        "i": "2026-01-01",
        "j": "off",
        "k": -7,
    }


def test_infinite_numbers_are_refused() -> None:
    _, problems = parse_text("a: .inf\n", "f.yaml")
    assert [p.code for p in problems] == ["E205"]
