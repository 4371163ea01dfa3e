"""Replaying recorded incidents against today's interpreter.

Every file in tests/histories/ is a real incident run on the time-skipping server by
tests/record_histories.py. Replaying it feeds the recorded events back through the current
``IncidentWorkflow``: if the code would now issue a different command sequence for the same
history (an extra activity, a timer that moved, a step taken in another order), the replay
fails with a ``NondeterminismError``, and so would every such incident still running in
production when the new worker picks it up. See docs/versioning.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowReplayResult
from temporalio.workflow import NondeterminismError

from sopflow.compile.lint import lint_library
from sopflow.contract.messages import IncidentInput, IncidentState
from sopflow.contract.plan import TaskPlan
from workflows.incident import IncidentWorkflow
from workflows.runner import Goto, StepRunner
from workflows.sandbox import workflow_runner

pytestmark = pytest.mark.unit

HISTORIES = Path(__file__).resolve().parent / "histories"
LIBRARY = Path(__file__).resolve().parent.parent / "sop_definitions"
# Recorded by the current interpreter: what the coverage checks read.
CURRENT = sorted(HISTORIES.glob("*.json"))
# Plus those recorded by older builds, kept in a folder named for the patch that followed
# them: incidents started then may still be running, so they must replay too.
FILES = sorted(HISTORIES.rglob("*.json"))
RECORD = "run `.venv/bin/python tests/record_histories.py` (see docs/versioning.md)"


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


def replay(path: Path, workflow_class: type = IncidentWorkflow) -> WorkflowReplayResult:
    replayer = Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)
    return asyncio.run(replayer.replay_workflow(load(path), raise_on_replay_failure=False))


@pytest.mark.parametrize(
    "path", FILES, ids=[str(p.relative_to(HISTORIES).with_suffix("")) for p in FILES]
)
def test_recorded_incident_replays(path: Path) -> None:
    result = replay(path)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


@pytest.mark.parametrize(
    "path", FILES, ids=[str(p.relative_to(HISTORIES).with_suffix("")) for p in FILES]
)
def test_recorded_incident_replays_as_the_worker_runs_it(path: Path) -> None:
    """The same, with worker.py's sandbox settings (the interpreter's package passed
    through, workflows/sandbox.py): the commands do not depend on how the module is loaded."""
    replayer = Replayer(
        workflows=[IncidentWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    result = asyncio.run(replayer.replay_workflow(load(path), raise_on_replay_failure=False))
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


# --- What the histories cover


def _payload(payloads: Any, kind: type) -> Any:
    [value] = pydantic_data_converter.payload_converter.from_payloads(payloads, [kind])
    return value


@cache
def recorded() -> dict[str, tuple[IncidentInput, IncidentState | None]]:
    """Each history's input and, for a run that completed, the incident's final state."""
    out = {}
    for path in CURRENT:
        events = load(path).events
        started = events[0].workflow_execution_started_event_attributes
        final = None
        if events[-1].HasField("workflow_execution_completed_event_attributes"):
            result = events[-1].workflow_execution_completed_event_attributes.result
            final = _payload(result.payloads, IncidentState)
        out[path.stem] = (_payload(started.input.payloads, IncidentInput), final)
    return out


def test_every_shipped_sop_version_has_histories_for_its_base_and_a_variant() -> None:
    shipped = lint_library(LIBRARY).plans
    covered = {
        (i.plan.sop.id, i.plan.sop.version, i.plan.region.code) for i, _ in recorded().values()
    }
    for (sop, version, region), plan in sorted(shipped.items()):
        base = plan.sop.base_region
        mine = {r for s, v, r in covered if (s, v) == (sop, version)}
        assert base in mine, f"no history of {sop}@{version} in {base}: {RECORD}"
        if region != base:
            assert mine - {base}, f"no history of a variant of {sop}@{version}: {RECORD}"


def test_histories_exercise_every_step_type_and_the_risky_paths() -> None:
    finals = [f for _, f in recorded().values() if f is not None]
    ran = {s.type for f in finals for s in f.steps.values() if s.status in ("done", "failed")}
    step_types = {"triage", "task", "approval", "decision", "disclosure_check", "notify"}
    step_types |= {"wait", "parallel", "postmortem", "end"}
    assert step_types <= ran, f"no history runs {sorted(step_types - ran)}: {RECORD}"
    assert any(s.escalated_to for f in finals for s in f.steps.values()), "no SLA escalation"
    assert any(f.runs > 1 for f in finals), "no incident that continued as new"
    assert any(f.status == "cancelled" for f in finals), "no cancelled incident"
    assert any(len(s.votes) > 1 for f in finals for s in f.steps.values()), "no quorum of two"


# --- The replayer catches an interpreter change, and `workflow.patched` makes one safe


class _AnnouncingRunner(StepRunner):
    """A plausible interpreter change: tell the assignee on the log channel when a task
    opens. It adds an activity before the task's SLA timer."""

    patch_id: str | None = None

    async def _task(self, step: TaskPlan) -> str | Goto | None:
        if self.patch_id is None or workflow.patched(self.patch_id):
            await self._send(step.id, "log", step.assignee, True, f"'{step.title}' is open")
        return await super()._task(step)


# Unsandboxed: the sandbox would re-import this test module (file globbing and all) to run
# them; the command sequence they issue is the same either way.
@workflow.defn(dynamic=True, sandboxed=False)
class UnpatchedChange(IncidentWorkflow):
    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> IncidentState:
        self.runner = _AnnouncingRunner(self.inp, self.steps, self.state, self._is_cancelled)
        return await super().run(args)


@workflow.defn(dynamic=True, sandboxed=False)
class PatchedChange(IncidentWorkflow):
    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> IncidentState:
        runner = _AnnouncingRunner(self.inp, self.steps, self.state, self._is_cancelled)
        runner.patch_id = "announce-task-opened"
        self.runner = runner
        return await super().run(args)


SAMPLE = HISTORIES / "emergency-disclosure-v2-US.json"


def test_replay_catches_an_unpatched_interpreter_change() -> None:
    failure = replay(SAMPLE, UnpatchedChange).replay_failure
    assert isinstance(failure, NondeterminismError), repr(failure)
    assert "nondetermin" in str(failure).lower()


def test_the_same_change_behind_workflow_patched_replays_old_histories() -> None:
    assert replay(SAMPLE, PatchedChange).replay_failure is None


def test_current_histories_keep_due_times_in_visibility() -> None:
    """Recorded after the patch "visible-due-times": each history takes its new path (the
    marker, and ``StepsDue`` with ``ChangedAt`` in the upserts), so replay covers it."""
    for path in CURRENT:
        events = load(path).events
        markers = [
            e.marker_recorded_event_attributes
            for e in events
            if e.HasField("marker_recorded_event_attributes")
        ]
        assert any("visible-due-times" in str(m.details) for m in markers), path.name
        upserts = [
            e.upsert_workflow_search_attributes_event_attributes.search_attributes
            for e in events
            if e.HasField("upsert_workflow_search_attributes_event_attributes")
        ]
        upserted = {key for attributes in upserts for key in attributes.indexed_fields}
        assert {"StepsDue", "ChangedAt"} <= upserted, path.name
