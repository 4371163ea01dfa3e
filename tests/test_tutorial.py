"""docs/tutorial.md, played as a reader would: every file it shows is written and every
command it gives is run, in order, in an empty folder.

The tutorial marks each file the reader writes with a line ``<!-- file: PATH -->`` just
before its fenced ```yaml block, and gives every command in fenced ```sh blocks. A command
is expected to exit 0 unless its comment says otherwise (``# exits 1: ...``). Only
``sopflow`` commands are supported (no pipes, redirects or other programs): a block with
anything else fails the test, so the tutorial never asks the reader for something this
test does not check. The commands run in-process through typer's CliRunner on the real
app; the rehearsals play on the time-skipping test server.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

from sopflow.cli.app import app
from tests.conftest import REPO

pytestmark = pytest.mark.workflow

TUTORIAL = REPO / "docs" / "tutorial.md"
FILE_MARK = re.compile(r"^<!-- file: (\S+) -->$")
EXITS = re.compile(r"#.*\bexits (\d+)")
SHELL = re.compile(r"[|<>;&`$]")


@dataclass(frozen=True)
class File:
    line: int
    path: str
    text: str


@dataclass(frozen=True)
class Command:
    line: int
    args: list[str]
    exit_code: int


def _fence(lines: list[str], start: int) -> tuple[list[str], int]:
    """The lines of the fenced block opening at ``start``, and the index after it."""
    end = start + 1
    while lines[end].strip() != "```":
        end += 1
    return lines[start + 1 : end], end + 1


def _commands(block: list[str], first: int) -> list[Command]:
    found = []
    for offset, raw in enumerate(block):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"docs/tutorial.md:{first + offset}"
        code, _, _ = line.partition(" #")
        assert not SHELL.search(code), f"{where}: only plain sopflow commands: {line!r}"
        args = shlex.split(code)
        assert args[0] == "sopflow", f"{where}: not a sopflow command: {line!r}"
        exits = EXITS.search(line)
        found.append(Command(first + offset, args[1:], int(exits[1]) if exits else 0))
    return found


def tutorial_steps(text: str) -> list[File | Command]:
    """The files and commands of the tutorial, in reading order."""
    lines = text.splitlines()
    steps: list[File | Command] = []
    i = 0
    while i < len(lines):
        mark = FILE_MARK.match(lines[i].strip())
        if mark:
            assert lines[i + 1] == "```yaml", f"docs/tutorial.md:{i + 2}: a ```yaml block"
            body, i = _fence(lines, i + 1)
            path = PurePosixPath(mark[1])
            assert not path.is_absolute() and ".." not in path.parts, mark[1]
            steps.append(File(i, mark[1], "\n".join(body) + "\n"))
        elif lines[i].startswith("```sh"):
            body, after = _fence(lines, i)
            steps += _commands(body, i + 2)
            i = after
        elif lines[i].startswith("```"):
            assert not lines[i].startswith("```yaml"), (
                f"docs/tutorial.md:{i + 1}: a ```yaml block needs a <!-- file: PATH --> line"
            )
            i = _fence(lines, i)[1]
        else:
            i += 1
    return steps


def test_the_tutorial_shows_every_kind_of_step() -> None:
    steps = tutorial_steps(TUTORIAL.read_text(encoding="utf-8"))
    commands = [" ".join(s.args[:2]) for s in steps if isinstance(s, Command)]
    for expected in (
        "init my-sops",
        "new sop",
        "new variant",
        "new policy",
        "new rehearsal",
        "lint -d",
        "graph livestream-self-harm",
        "rehearse -d",
        "publish -d",
    ):
        assert any(c.startswith(expected) for c in commands), expected
    assert sum(isinstance(s, File) for s in steps) >= 8


def test_the_tutorial_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOPFLOW_DEFINITIONS", raising=False)
    runner = CliRunner()
    outputs: list[tuple[Command, str]] = []
    for step in tutorial_steps(TUTORIAL.read_text(encoding="utf-8")):
        if isinstance(step, File):
            target = tmp_path / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            continue
        result = runner.invoke(app, step.args)
        where = f"docs/tutorial.md:{step.line}: sopflow {' '.join(step.args)}"
        assert result.exit_code == step.exit_code, f"{where}\n{result.output}"
        outputs.append((step, result.output))
    lints = [out for cmd, out in outputs if cmd.args[0] == "lint"]
    assert "no problems" in lints[-1], lints[-1]
    rehearsals = [out for cmd, out in outputs if cmd.args[0] == "rehearse" and not cmd.exit_code]
    assert rehearsals
    assert all("FAIL" not in out and "passed" in out for out in rehearsals), rehearsals
    assert "2 rehearsals: 2 passed" in rehearsals[-1]
    assert (tmp_path / "my-sops" / "sopflow.lock").is_file()
