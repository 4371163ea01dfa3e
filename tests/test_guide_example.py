"""The complete example library of docs/authoring.md (section 12), copied as a reader would.

The guide marks each file of that library with a line ``<!-- file: PATH -->`` just before its
fenced ```yaml block, as docs/tutorial.md does. Most are in the appendix; the regions, the UK
variant, the US policy and the rehearsal are shown where the guide explains them (sections 2,
7, 8 and 10) and the appendix points there. This test writes every marked file into an
empty folder, writes the schema, and holds the appendix to its word: lint is clean, with the
summary the appendix quotes, and every rehearsal passes on the time-skipping test server.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from tests.conftest import REPO
from tests.test_tutorial import FILE_MARK, _fence

pytestmark = pytest.mark.workflow

GUIDE = REPO / "docs" / "authoring.md"
LIBRARY = "sop_definitions"
APPENDIX = "## 12. Appendix: the complete example library"
NAMED = re.compile(rf"`({LIBRARY}/[\w./-]+\.yaml)`")
LINT_CLAIM = re.compile(r"`(ok: \d+ files, no problems)`")


def library_files(text: str) -> dict[str, str]:
    """``{path: text}`` of every file the guide marks with ``<!-- file: PATH -->``."""
    lines = text.splitlines()
    files: dict[str, str] = {}
    for i, line in enumerate(lines):
        mark = FILE_MARK.match(line.strip())
        if not mark:
            continue
        where = f"docs/authoring.md:{i + 1}"
        assert lines[i + 1] == "```yaml", f"{where}: a ```yaml block must follow the mark"
        path = PurePosixPath(mark[1])
        assert not path.is_absolute() and ".." not in path.parts, f"{where}: {mark[1]}"
        assert path.parts[0] == LIBRARY, f"{where}: {mark[1]} is not under {LIBRARY}/"
        assert mark[1] not in files, f"{where}: {mark[1]} is marked twice"
        body, _ = _fence(lines, i + 1)
        files[mark[1]] = "\n".join(body) + "\n"
    return files


def appendix(text: str) -> str:
    start = text.index(APPENDIX)
    end = text.find("\n## ", start + len(APPENDIX))
    return text[start:] if end < 0 else text[start:end]


def test_the_appendix_marks_every_file_it_names() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    files = library_files(text)
    named = set(NAMED.findall(appendix(text)))
    assert named == set(files), (sorted(named - set(files)), sorted(set(files) - named))
    kinds = set(re.findall(r"^kind: (\w+)$", "\n".join(files.values()), re.M))
    assert {"SOP", "Variant", "DisclosurePolicy", "Roster", "Regions", "Rehearsal"} <= kinds


def test_the_example_library_lints_clean_and_its_rehearsals_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOPFLOW_DEFINITIONS", raising=False)
    text = GUIDE.read_text(encoding="utf-8")
    for path, body in library_files(text).items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    runner = CliRunner()

    schema = runner.invoke(app, ["schema", "--write", "-d", LIBRARY])
    assert schema.exit_code == 0, schema.output

    lint = runner.invoke(app, ["lint", LIBRARY])
    assert lint.exit_code == 0, lint.output
    assert lint.stdout == "", lint.output
    claim = LINT_CLAIM.search(appendix(text))
    assert claim, "the appendix quotes lint's summary"
    assert claim[1] in lint.stderr, (claim[1], lint.stderr)

    rehearse = runner.invoke(app, ["rehearse", "-d", LIBRARY, "-v"])
    assert rehearse.exit_code == 0, rehearse.output
    assert "FAIL" not in rehearse.output and "ERROR" not in rehearse.output, rehearse.output
    assert re.search(r"^(\d+) rehearsals?: \1 passed$", rehearse.output, re.M), rehearse.output
