"""`sopflow task list` says which desk acts on each task: the incident's region, or the desk
a step that followed the sun is with now (a US responder at night sees why she cannot act)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sopflow.cli.tasks import _task_row
from sopflow.client.views import OpenTask

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)


def _task(desk: str | None, stalled: bool = False) -> OpenTask:
    return OpenTask(
        incident="inc-1",
        sop="threat-to-life",
        version=2,
        region="US",
        severity="SEV2",
        step="assess",
        title="Assess",
        type="task",
        roles=("responder",),
        due_at=NOW - timedelta(minutes=5),
        desk=desk,
        stalled=stalled,
    )


def test_a_step_with_its_own_desk_and_one_that_followed_the_sun() -> None:
    home = _task(None)
    away = _task("AU", stalled=True)
    assert (_task_row(home, NOW)["desk"], _task_row(home, NOW)["stalled"]) == ("US", False)
    row = _task_row(away, NOW)
    assert (row["desk"], row["region"], row["stalled"], row["overdue"]) == ("AU", "US", True, True)
