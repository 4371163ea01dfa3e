"""The layering contracts in pyproject.toml hold, and they do fail on a forbidden import
(checked on a scratch copy of the packages, so the real tree is never touched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def scratch_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("sopflow", "workflows", "activities"):
        shutil.copytree(REPO / package, root / package, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def break_with(root: Path, module: str, line: str) -> None:
    path = root / module
    text = path.read_text(encoding="utf-8")
    anchor = "from __future__ import annotations\n"
    assert anchor in text, module
    path.write_text(text.replace(anchor, anchor + line + "\n", 1), encoding="utf-8")


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("workflows/conductor.py", "import yaml  # noqa", "workflows/ imports no YAML"),
        ("workflows/runner.py", "import pathlib  # noqa", "workflows/ imports no YAML"),
        ("sopflow/language/roster.py", "import temporalio.client  # noqa", "import no Temporal"),
        ("sopflow/compile/graph.py", "import sopflow.cli.app  # noqa", "Layers"),
        ("sopflow/cli/tasks.py", "import temporalio.client  # noqa", "only through the client"),
    ],
)
def test_a_forbidden_import_breaks_the_lint(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    root = scratch_copy(tmp_path)
    break_with(root, module, line)
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout
    assert contract in result.stdout and "BROKEN" in result.stdout
