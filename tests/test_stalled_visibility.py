"""A stalled step (its escalation chain spent, its last role paged every SLA) is visible
where people look without asking the incident: the inbox's open tasks, `GET /me/tasks`, and
the incident list's summary, all read from the `Stalled` search attribute."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from sopflow.api.models import IncidentSummaryOut, TaskOut
from sopflow.client.queues import open_tasks
from sopflow.client.views import summary_of
from sopflow.contract import search
from tests.harness import compile_text
from tests.test_workflow_people import PEOPLE

pytestmark = pytest.mark.unit

DUE = datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_an_open_task_of_a_stalled_step_says_so() -> None:
    plan = compile_text(PEOPLE)
    [task] = open_tasks("inc-1", plan, [("verify", DUE)], "SEV2", None, stalled=["verify"])
    assert task.stalled and TaskOut.of(task, DUE).stalled
    [calm] = open_tasks("inc-1", plan, [("verify", DUE)], "SEV2", None)
    assert not calm.stalled and not TaskOut.of(calm, DUE).stalled


def test_the_incident_summary_lists_its_stalled_steps() -> None:
    attrs = TypedSearchAttributes(
        [
            SearchAttributePair(search.SOP_ID, "people"),
            SearchAttributePair(search.STALLED, "verify approve"),
        ]
    )
    summary = summary_of("inc-1", None, attrs, DUE)
    assert summary.stalled == ("verify", "approve")
    assert IncidentSummaryOut.of(summary).stalled == ["verify", "approve"]
    empty = TypedSearchAttributes([SearchAttributePair(search.STALLED, "")])
    assert summary_of("inc-2", None, empty, DUE).stalled == ()
