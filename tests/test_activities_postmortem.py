"""The post-mortem kickoff: a blameless Markdown draft, written atomically and idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.postmortem import postmortem
from sopflow.contract.messages import PostmortemRequest, PostmortemResult, StepState, TimelineEntry

pytestmark = pytest.mark.unit

OPENED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "artifacts"
    monkeypatch.setenv("SOPFLOW_ARTIFACTS", str(folder))
    return folder


def request(**changes: Any) -> PostmortemRequest:
    fields: dict[str, Any] = {
        "incident_id": "inc-9",
        "sop": "threat-to-life",
        "version": 1,
        "region": "UK",
        "title": "Threat to life referral",
        "severity": "SEV1",
        "outcome": "referred",
        "owner": "lead",
        "due_at": OPENED + timedelta(days=3),
        "template": "blameless",
        "timeline": [
            TimelineEntry(at=OPENED, actor="system", kind="incident.opened"),
            TimelineEntry(
                at=OPENED + timedelta(minutes=4),
                actor="tbrennan",
                kind="task.completed",
                step="assess",
                detail="credible | imminent",
            ),
            TimelineEntry(
                at=OPENED + timedelta(minutes=40),
                actor="system",
                kind="sla.breached",
                step="refer",
            ),
        ],
        "steps": [
            StepState(
                id="assess",
                type="task",
                status="done",
                role="responder",
                started_at=OPENED,
                finished_at=OPENED + timedelta(minutes=4),
            ),
            StepState(
                id="refer",
                type="task",
                status="done",
                role="responder",
                breaches=1,
                escalated_to=["lead"],
            ),
        ],
    }
    return PostmortemRequest(**(fields | changes))


def run(req: PostmortemRequest) -> PostmortemResult:
    return ActivityEnvironment().run(postmortem, req)


def test_the_draft_holds_summary_timeline_steps_and_open_sections(artifacts: Path) -> None:
    result = run(request())

    document = artifacts / "inc-9.md"
    assert result.document == str(document.resolve())
    assert result.owner == "lead" and result.due_at == OPENED + timedelta(days=3)
    text = document.read_text(encoding="utf-8")
    assert text.startswith("# Post-mortem: Threat to life referral\n")
    assert "blameless" in text
    assert "| Severity | SEV1 |" in text
    assert "| Outcome | referred |" in text
    assert "| Post-mortem owner | lead |" in text
    assert "| Due | 2026-03-04 09:30:00 UTC |" in text
    assert "| Time (UTC) | Actor | What happened |" in text
    assert "| 2026-03-01 09:30:00 | system | incident.opened |" in text
    # A pipe in the detail stays inside its cell.
    assert (
        "| 2026-03-01 09:34:00 | tbrennan | task.completed `assess`: credible \\| imminent |"
        in text
    )
    assert "| 2026-03-01 10:10:00 | system | sla.breached `refer` |" in text
    assert "| `refer` | task | done | responder | - | - | 1 | lead |" in text
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == [
        "## Summary",
        "## Timeline",
        "## Steps",
        "## What went well",
        "## Contributing factors",
        "## Action items",
    ]
    assert "| Action | Owner | Due |" in text
    assert text.index("09:30:00 | system") < text.index("09:34:00") < text.index("10:10:00")


def test_a_rerun_is_idempotent(artifacts: Path) -> None:
    first = run(request())
    document = artifacts / "inc-9.md"
    before = (document.read_bytes(), document.stat().st_mtime_ns)

    again = run(request())

    assert again == first
    assert (document.read_bytes(), document.stat().st_mtime_ns) == before
    assert sorted(p.name for p in artifacts.iterdir()) == ["inc-9.md"]  # no temporary files


def test_a_draft_people_have_edited_is_kept(artifacts: Path) -> None:
    run(request())
    document = artifacts / "inc-9.md"
    edited = document.read_text(encoding="utf-8").replace(
        "_To be written in the review._", "The callback worked within minutes."
    )
    document.write_text(edited, encoding="utf-8")

    run(request())

    assert document.read_text(encoding="utf-8") == edited


def test_an_unknown_template_is_said_in_the_draft(artifacts: Path) -> None:
    run(request(template="five-whys"))
    text = (artifacts / "inc-9.md").read_text(encoding="utf-8")
    assert "template `five-whys`" in text
    assert "## Contributing factors" in text


def test_an_empty_history_still_drafts(artifacts: Path) -> None:
    run(request(timeline=[], steps=[], severity=None, outcome=None))
    text = (artifacts / "inc-9.md").read_text(encoding="utf-8")
    assert "_The history recorded no events._" in text
    assert "| Severity | not set |" in text


@pytest.mark.parametrize("incident_id", ["../escape", "a/b", ".hidden", ""])
def test_an_incident_id_that_is_not_a_file_name_is_refused(
    artifacts: Path, incident_id: str
) -> None:
    with pytest.raises(ApplicationError) as failure:
        run(request(incident_id=incident_id))
    assert failure.value.non_retryable and failure.value.type == "BadIncidentId"
    assert not artifacts.exists() or list(artifacts.iterdir()) == []
