"""Shared fixtures: small libraries written to a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "sop_definitions"
# Incident histories recorded before actions were signed and before the interpreter kept due
# times in visibility. They still replay (tests/test_replay.py), and the audit tests read them
# as fixed samples: re-recording tests/histories changes none of their figures.
UNSIGNED_HISTORIES = REPO / "tests" / "histories" / "before-visible-due-times"

MINIMAL_SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: mini
version: 1
title: Minimal procedure
owner: tests
region: US
roles:
  responder: {description: On-shift responder}
  lead: {description: Incident lead}
defaults:
  sla: 30m
steps:
  - id: triage
    type: triage
    rules:
      - when: input.urgent
        severity: SEV2
      - severity: SEV3
  - id: verify
    type: task
    assignee: responder
    escalate: [lead]
    form:
      type: object
      required: [ok]
      properties: {ok: {type: boolean}}
  - id: approve
    type: approval
    approvers: [lead]
    on: {rejected: refused}
  - id: done
    type: end
    outcome: resolved
  - id: refused
    type: end
    outcome: rejected
"""

REGIONS = """\
apiVersion: sopflow/v1
kind: Regions
regions:
  US: {timezone: America/New_York, team: us-desk}
  UK: {timezone: Europe/London, team: uk-desk}
  AU: {timezone: Australia/Sydney, team: au-desk}
"""

WriteLib = Callable[[dict[str, str]], Path]


@pytest.fixture
def write_lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteLib:
    """Write ``{relative path: YAML text}`` as a library root and chdir beside it, so
    diagnostics carry short relative paths."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "lib"
        for name, text in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text), encoding="utf-8")
        root.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(tmp_path)
        return root

    return write
