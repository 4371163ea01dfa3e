"""The invalid-document corpus: one small library root per mistake, and what lint must say.

Each directory under ``tests/corpus/invalid`` is a library root holding a minimal SOP (plus a
Regions, Roster, policy, variant, rehearsal or lock file when the case needs one) with exactly
one mistake, and ``expected.json``: every diagnostic lint must report for it, errors and
warnings, as ``{"file", "line", "col", "code"}`` (file relative to the case directory, 1-based
positions) with an optional ``"message_contains"``. Nothing else may be reported.

A file over the 1 MiB limit is built at run time in ``tmp_path`` instead of being checked in.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sopflow.compile.lint import lint_library
from sopflow.language.diagnostics import CODES, Diagnostic
from sopflow.language.yaml_source import MAX_FILE_BYTES

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parent / "corpus" / "invalid"
CASES = sorted(p for p in CORPUS.iterdir() if p.is_dir())

Key = tuple[str, int, int, str]

_ENTRY_KEYS = {"file", "line", "col", "code", "message_contains"}
_LINE = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (error|warning)\[[EW]\d{3}\]: .+$"
)

MINIMAL_SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: demo
version: 1
title: Demo procedure
owner: risk-response
region: US
roles:
  responder: {description: On-shift responder}
defaults:
  sla: 30m
steps:
  - id: work
    type: task
    assignee: responder
  - id: close
    type: end
    outcome: resolved
"""


def expected_of(case: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((case / "expected.json").read_text("utf-8"))
    assert isinstance(entries, list) and entries, f"{case.name}: expected.json lists nothing"
    for entry in entries:
        assert set(entry) <= _ENTRY_KEYS, f"{case.name}: unknown keys {set(entry) - _ENTRY_KEYS}"
        assert entry["code"] in CODES, f"{case.name}: unknown code {entry['code']}"
        assert (case / entry["file"]).is_file(), f"{case.name}: no file {entry['file']}"
    return entries


def relative(path: str, case: Path) -> str:
    """A diagnostic's path relative to the case directory, with forward slashes."""
    found = Path(path)
    if found.is_absolute():
        found = found.resolve().relative_to(case.resolve())
    return found.as_posix()


def lint_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> list[Diagnostic]:
    """Lint ``case`` in-process from inside it, so diagnostics carry relative paths."""
    monkeypatch.chdir(case)
    return lint_library(Path()).diagnostics


def assert_reports(case: Path, diags: list[Diagnostic], expected: list[dict[str, Any]]) -> None:
    actual: list[Key] = sorted((relative(d.path, case), d.line, d.col, d.code) for d in diags)
    wanted: list[Key] = sorted((e["file"], e["line"], e["col"], e["code"]) for e in expected)
    shown = "\n".join(d.format() for d in diags) or "(no diagnostics)"
    assert actual == wanted, f"{case.name}: lint reported\n{shown}"
    for entry in expected:
        needle = entry.get("message_contains")
        if needle is None:
            continue
        key = (entry["file"], entry["line"], entry["col"], entry["code"])
        messages = [
            d.message for d in diags if (relative(d.path, case), d.line, d.col, d.code) == key
        ]
        assert any(needle in m for m in messages), (
            f"{case.name}: no message at {key} contains {needle!r}: {messages}"
        )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = expected_of(case)
    diags = lint_case(case, monkeypatch)  # lint never raises on bad input
    assert_reports(case, diags, expected)


def test_file_over_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    padding = "# padding\n" * (MAX_FILE_BYTES // 10 + 1)
    (tmp_path / "v1.yaml").write_text(MINIMAL_SOP + padding, encoding="utf-8")
    assert (tmp_path / "v1.yaml").stat().st_size > MAX_FILE_BYTES
    diags = lint_case(tmp_path, monkeypatch)
    assert_reports(
        tmp_path,
        diags,
        [{"file": "v1.yaml", "line": 1, "col": 1, "code": "E100", "message_contains": "1 MiB"}],
    )


def test_file_at_size_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = MINIMAL_SOP + "#" * (MAX_FILE_BYTES - len(MINIMAL_SOP) - 1) + "\n"
    (tmp_path / "v1.yaml").write_text(text, encoding="utf-8")
    assert (tmp_path / "v1.yaml").stat().st_size == MAX_FILE_BYTES
    assert lint_case(tmp_path, monkeypatch) == []


def test_corpus_covers_every_code() -> None:
    assert len(CASES) >= 40
    covered = {"E100"}  # test_file_over_size_limit: 1 MiB is not checked in
    for case in CASES:
        covered |= {entry["code"] for entry in expected_of(case)}
    assert sorted(set(CODES) - covered) == []


def run_cli(case: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sopflow.cli.app", "lint", ".", *args],
        cwd=case,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CLI_CASES = [
    "yaml-syntax-error",
    "duplicate-step-id",
    "unknown-region",
    "lock-hash-mismatch",
    "variant-duplicate-region",
    "roster-unknown-role",
]


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_lint_text(name: str) -> None:
    case = CORPUS / name
    expected = expected_of(case)
    done = run_cli(case)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [e for e in expected if CODES[e["code"]].severity == "error"]
    assert done.returncode == (1 if errors else 0), done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(expected), done.stdout
    for line in lines:
        assert _LINE.match(line), f"not `path:line:col: severity[CODE]: message`: {line!r}"
    for entry in expected:
        severity = CODES[entry["code"]].severity
        prefix = f"{entry['file']}:{entry['line']}:{entry['col']}: {severity}[{entry['code']}]: "
        assert any(line.startswith(prefix) for line in lines), (prefix, done.stdout)


def test_cli_lint_json() -> None:
    case = CORPUS / "undeclared-role-assignee"
    expected = expected_of(case)
    done = run_cli(case, "--format", "json")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
    found = json.loads(done.stdout)
    assert [(d["path"], d["line"], d["col"], d["code"], d["severity"]) for d in found] == [
        (e["file"], e["line"], e["col"], e["code"], "error") for e in expected
    ]
    assert all(isinstance(d["message"], str) and d["message"] for d in found)


def test_cli_lint_alias_bomb_fails_fast() -> None:
    # The subprocess timeout is a backstop only: the bomb is refused after 10 000 nodes.
    done = run_cli(CORPUS / "alias-bomb")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert "error[E103]:" in done.stdout
