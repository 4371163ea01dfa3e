"""Lint a library as the editor sees it: the open buffers in place of the files on disk.

Lint reads files, so the library is copied to a scratch directory, the edited files are
overwritten with their buffer texts, and lint runs there; paths in the result are mapped
back to the real library. Copying a library of a hundred small files takes milliseconds,
and it keeps one code path for lint: whatever ``sopflow lint`` says, the editor says.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sopflow.compile.lint import LintResult, lint_library
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.library import LOCK_FILE, display_path
from sopflow.language.yaml_source import MAX_FILE_BYTES

# What marks a library root (the folder `sopflow lint` is given).
ROOT_MARKERS = ("regions.yaml", "roster.yaml", LOCK_FILE)
# A folder with more documents than this is not a library someone edits by hand (a home
# directory opened by mistake): copying it on every keystroke would stall the editor.
MAX_DOCUMENTS = 5000


class TooLargeError(Exception):
    """The folder holds more documents than a library would."""


def is_document(path: Path) -> bool:
    """True for the files lint reads as documents."""
    return path.suffix in (".yaml", ".yml")


def library_root(file: Path) -> Path:
    """The nearest folder above ``file`` that holds a library marker, else its folder."""
    start = file.resolve().parent
    for folder in (start, *start.parents):
        if any((folder / marker).is_file() for marker in ROOT_MARKERS):
            return folder
    return start


@dataclass(frozen=True, slots=True)
class Overlay:
    """A lint result of the scratch copy, and how to read its paths as the real ones."""

    root: Path
    result: LintResult
    scratch: Path
    cwd: Path

    def real_path(self, shown: str) -> Path | None:
        """The real file behind a path as lint printed it, or None if it is not in the copy."""
        path = Path(shown)
        if not path.is_absolute():
            path = self.cwd / path
        try:
            return self.root / path.resolve().relative_to(self.scratch)
        except ValueError:
            return None

    def message(self, text: str) -> str:
        """``text`` with the scratch copy's paths written as lint would print the real ones."""
        scratch = display_path(self.scratch, self.cwd)
        real = display_path(self.root, self.cwd)
        return text.replace(scratch + os.sep, "" if real == "." else real + os.sep)

    def diagnostics(self) -> dict[Path, list[Diagnostic]]:
        """The diagnostics `sopflow lint` lists (not those it folds as following from
        others), by real file, with real paths in the messages."""
        out: dict[Path, list[Diagnostic]] = {}
        for diag in self.result.diagnostics:
            real = self.real_path(diag.path)
            if real is None:
                continue
            shown = display_path(real, self.cwd)
            moved = replace(diag, path=shown, message=self.message(diag.message))
            out.setdefault(real, []).append(moved)
        return out


def _library_files(root: Path) -> list[Path]:
    """The files lint reads under ``root``: its documents and its lock file."""
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        found += [Path(folder, n) for n in names if is_document(Path(n))]
        if len(found) > MAX_DOCUMENTS:
            raise TooLargeError(f"{root} holds more than {MAX_DOCUMENTS} YAML files")
    lock = root / LOCK_FILE
    return [*found, lock] if lock.is_file() else found


def _copy(root: Path, scratch: Path, buffers: Mapping[Path, str]) -> None:
    for file in _library_files(root):
        target = scratch / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = file.stat().st_size
        except OSError:
            continue  # gone since the walk: lint would not see it either
        if size > MAX_FILE_BYTES:
            # Lint refuses it by its size alone (E100): a sparse file of that size says the
            # same without copying a byte.
            with target.open("wb") as handle:
                handle.truncate(size)
            continue
        shutil.copyfile(file, target)
    for file, text in buffers.items():
        target = scratch / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def lint_overlay(root: Path, buffers: Mapping[Path, str]) -> Overlay:
    """Lint the library at ``root`` (resolved) with ``buffers`` (file -> text, files under
    ``root``) in place of those files on disk."""
    cwd = Path.cwd().resolve()
    with tempfile.TemporaryDirectory(prefix="sopflow-lsp-") as tmp:
        scratch = Path(tmp).resolve() / (root.name or "library")
        scratch.mkdir()
        _copy(root, scratch, {f: t for f, t in buffers.items() if f.is_relative_to(root)})
        result = lint_library(scratch)
    return Overlay(root=root, result=result, scratch=scratch, cwd=cwd)
