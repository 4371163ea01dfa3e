"""Every example library under examples/ lints clean and every one of its rehearsals passes
on the time-skipping test server (the libraries the guides point readers to must work)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sopflow.compile.lint import lint_library
from sopflow.rehearsal.batch import rehearse_all
from sopflow.rehearsal.cases import collect

pytestmark = pytest.mark.workflow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LIBRARIES = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())


def test_there_are_examples() -> None:
    assert [p.name for p in LIBRARIES] == [
        "follow-the-sun",
        "incident-lifecycle",
        "stakeholder-updates",
    ]


@pytest.mark.parametrize("library", LIBRARIES, ids=lambda p: p.name)
def test_an_example_lints_clean_and_its_rehearsals_pass(library: Path) -> None:
    result = lint_library(library)
    assert [d.format() for d in result.diagnostics] == []
    found = collect([], result)
    assert not found.blocked and found.ready
    results = asyncio.run(rehearse_all(found.ready, jobs=2))
    failures = {r.case.name: r.error or [m.summary for m in r.mismatches] for r in results}
    assert {name: f for name, f in failures.items() if f} == {}
