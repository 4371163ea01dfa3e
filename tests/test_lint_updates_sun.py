"""Lint of a stakeholder update cadence that follows the sun: the library needs a Rota with
the SOP's desk (E708, as for a step that follows the sun), and the Rota must always have
someone on call for the roles the cadence asks and pages (E707)."""

from __future__ import annotations

import pytest

from sopflow.compile.lint import lint_library
from sopflow.language.diagnostics import Diagnostic
from tests.conftest import WriteLib

pytestmark = pytest.mark.unit

# Line 15: the cadence; `follow_the_sun` at col 72.
SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: demo
version: 1
title: Demo procedure
owner: risk-response
region: US
roles:
  responder: {description: On-shift responder}
  lead: {description: Shift lead}
  stakeholders: {description: People kept informed}
defaults:
  sla: 30m
updates:
  SEV0: {every: 30m, to: stakeholders, channel: email, follow_the_sun: true}
steps:
  - id: work
    type: task
    assignee: responder
  - id: close
    type: end
    outcome: resolved
"""

# Line 9: the lead's entry (its role at col 16).
ROTA = """\
apiVersion: sopflow/v1
kind: Rota
desks:
  US:
    timezone: Etc/UTC
    shifts:
      - {name: all-day, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "00:00"}
    oncall:
      - {role: lead, shift: all-day, people: [bob]}
"""


def lint(write_lib: WriteLib, sop: str = SOP, rota: str | None = ROTA) -> list[Diagnostic]:
    files = {"demo/v1.yaml": sop, **({"rota.yaml": rota} if rota is not None else {})}
    return lint_library(write_lib(files)).diagnostics


def places(diags: list[Diagnostic]) -> list[tuple[str, int, int, str]]:
    return [(d.path, d.line, d.col, d.code) for d in diags]


def test_a_cadence_that_follows_the_sun_with_a_rota_is_clean(write_lib: WriteLib) -> None:
    assert lint(write_lib) == []


def test_without_a_rota_it_is_an_error(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, rota=None)
    assert places([found]) == [("lib/demo/v1.yaml", 15, 72, "E708")]
    assert found.message.startswith(
        "the SEV0 update cadence follows the sun, which the Rota's desks decide, and the "
        "library has no Rota: add rota.yaml (docs/rota.md), or ask the incident's own desk"
    )


def test_without_the_sops_desk_in_the_rota_it_is_an_error(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, rota=ROTA.replace("  US:\n", "  UK:\n"))
    assert places([found]) == [("lib/demo/v1.yaml", 15, 72, "E708")]
    assert "the Rota has no desk US" in found.message


def test_the_asked_role_must_be_on_call_somewhere(write_lib: WriteLib) -> None:
    [found] = lint(write_lib, rota=ROTA.replace("role: lead", "role: responder"))
    assert places([found]) == [("lib/rota.yaml", 3, 1, "E707")]
    assert found.message == "nobody is ever on call for 'lead', which demo@1 (US) escalates to"


def test_a_cadence_of_the_incidents_own_desk_needs_no_rota(write_lib: WriteLib) -> None:
    sop = SOP.replace(", follow_the_sun: true", "")
    assert lint(write_lib, sop, rota=None) == []
    # Nor are its roles part of the Rota's cover check (its ask is not the Rota's to route).
    assert lint(write_lib, sop, rota=ROTA.replace("role: lead", "role: responder")) == []
