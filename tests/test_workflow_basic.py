"""The interpreter on the real time-skipping server: automated steps, routing, outcomes."""

from __future__ import annotations

import pytest

from tests.harness import bench, compile_text, run

pytestmark = pytest.mark.workflow

AUTOMATED = """\
apiVersion: sopflow/v1
kind: SOP
id: auto
version: 1
title: Automated
owner: tests
region: US
roles:
  lead: {description: Lead}
steps:
  - id: triage
    type: triage
    rules:
      - when: input.urgent
        severity: SEV1
        labels: [urgent]
      - severity: SEV3
  - id: route
    type: decision
    branches:
      - when: 'incident.severity == "SEV1"'
        goto: page
      - goto: close
  - id: page
    type: notify
    channel: pager
    to: lead
    message: 'Incident {{ incident.id }} is {{ incident.severity }}'
  - id: close
    type: end
    outcome: resolved
"""


def test_automated_sop_runs_to_its_outcome() -> None:
    async def scenario() -> None:
        async with bench() as b:
            plan = compile_text(AUTOMATED)
            handle = await b.start(plan, {"urgent": True})
            final = await handle.result()
            assert (final.status, final.outcome, final.severity) == (
                "completed",
                "resolved",
                "SEV1",
            )
            assert final.labels == ["urgent"]
            assert [s for s, v in final.steps.items() if v.status == "done"] == [
                "triage",
                "route",
                "page",
                "close",
            ]
            [note] = b.fakes.notifications
            assert note.message == f"Incident {final.incident_id} is SEV1"
            assert note.to == "lead" and note.to_is_role

    run(scenario)


def test_decision_skips_to_its_target() -> None:
    async def scenario() -> None:
        async with bench() as b:
            handle = await b.start(compile_text(AUTOMATED), {"urgent": False})
            final = await handle.result()
            assert final.severity == "SEV3" and final.steps["page"].status == "pending"
            assert final.steps["route"].output == {"goto": "close"}
            assert b.fakes.notifications == []

    run(scenario)
