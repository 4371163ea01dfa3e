"""Linked incidents on the time-skipping server: an `open_incident` step opens another SOP's
incident with input built from this one, linked both ways; with `wait` it goes on when that
one closes, routed by its outcome; the linked incident outlives a cancelled opener; a library
that cannot answer makes the step wait, and an input that does not fit fails it, saying why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from activities.linked import LibraryOnDisk, LinkedPlans
from sopflow.compile.lint import lint_library
from sopflow.contract.messages import Actor, Cancel, CompleteTask, IncidentState
from sopflow.contract.plan import Plan
from tests.feature_histories import keep
from tests.harness import Bench, bench, run
from tests.test_workflow_people import active

pytestmark = pytest.mark.e2e

LIBRARY = Path(__file__).parent.parent / "examples" / "incident-lifecycle"
RESPONDER = Actor(id="amoreno", roles=["responder"], region="US")
LEAD = Actor(id="dokafor", roles=["lead"], region="US")


def welfare_v2() -> Plan:
    return lint_library(LIBRARY).plans[("welfare-review", 2, "US")]


def resolver(root: Path = LIBRARY) -> list[Callable[..., Any]]:
    return [LinkedPlans(LibraryOnDisk(root)).linked_plan]


async def opened(b: Bench, parent: str) -> str:
    state = await b.until(b.incidents.handle(parent), lambda s: bool(s.links))
    [child] = state.links
    return child


def test_the_parent_waits_for_the_linked_incident_and_routes_by_its_outcome() -> None:
    async def scenario() -> None:
        async with bench(activities=resolver()) as b:
            h = await b.start(welfare_v2(), {"report_id": "W-20"}, opened_by="amoreno")
            await b.until(h, active("review"))
            danger = {"someone_in_danger": True}
            await b.act(h, CompleteTask(step="review", actor=RESPONDER, data=danger))
            child_id = await opened(b, h.id)
            assert child_id == f"{h.id}.open-danger-to-life"
            child = b.incidents.handle(child_id)
            state = await b.until(child, active("locate"))
            assert state.opened_by == h.id and state.links == [h.id]
            assert state.sop == "danger-to-life" and state.severity == "SEV0"
            located = {"located": False}
            await b.act(child, CompleteTask(step="locate", actor=RESPONDER, data=located))
            await b.until(child, active("refer"))
            ref = {"reference": "SPD-1"}
            await b.act(child, CompleteTask(step="refer", actor=LEAD, data=ref))
            final: IncidentState = await h.result()
            assert final.outcome == "handed-to-police"
            assert final.path[-2:] == ["open_danger_to_life", "handed_over"]
            output = final.steps["open_danger_to_life"].output or {}
            assert output["outcome"] == "referred-to-police" and output["status"] == "completed"
            closed = [e.detail for e in final.timeline if e.kind == "link.closed"]
            assert closed == [f"referred-to-police: {child_id} completed (referred-to-police)"]
            await keep(b, h, "welfare-review-linked-parent")
            await keep(b, child, "welfare-review-linked-child")

    run(scenario)


def test_a_linked_incident_outlives_its_opener_being_cancelled() -> None:
    async def scenario() -> None:
        async with bench(activities=resolver()) as b:
            h = await b.start(welfare_v2(), {"report_id": "W-21"}, opened_by="amoreno")
            await b.until(h, active("review"))
            danger = {"someone_in_danger": True}
            await b.act(h, CompleteTask(step="review", actor=RESPONDER, data=danger))
            child = b.incidents.handle(await opened(b, h.id))
            await b.until(child, active("locate"))
            await b.act(h, Cancel(actor=LEAD, reason="duplicate report"))
            assert (await h.result()).status == "cancelled"
            state = await b.state(child)
            assert state.status == "running" and state.steps["locate"].status == "active"

    run(scenario)


def test_an_input_that_does_not_fit_fails_the_step_naming_why(tmp_path: Path) -> None:
    # The same library, but danger-to-life now requires a field the opener does not build.
    for source in LIBRARY.rglob("*.yaml"):
        target = tmp_path / source.relative_to(LIBRARY)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if source.parent.name == "danger-to-life":
            text = text.replace(
                "required: [report_id, found_in]", "required: [report_id, found_in, phone]"
            )
            text = text.replace(
                "    found_in: {type: string",
                "    phone: {type: string}\n    found_in: {type: string",
            )
        target.write_text(text, encoding="utf-8")

    async def scenario() -> None:
        async with bench(activities=resolver(tmp_path)) as b:
            h = await b.start(welfare_v2(), {"report_id": "W-22"}, opened_by="amoreno")
            await b.until(h, active("review"))
            danger = {"someone_in_danger": True}
            await b.act(h, CompleteTask(step="review", actor=RESPONDER, data=danger))
            final: IncidentState = await h.result()
            assert final.outcome == "step_failed:open_danger_to_life"
            [failed] = [e.detail for e in final.timeline if e.kind == "incident.failed"]
            assert "does not fit danger-to-life@1 (US)'s input schema" in failed
            assert "'phone' is a required property" in failed
            assert final.links == []

    run(scenario)
