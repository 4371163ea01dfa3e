"""The conductor's rules, tested without any server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sopflow.contract.messages import Actor, IncidentState, StepState, VoteRecord
from sopflow.contract.plan import ApprovalPlan, DecisionPlan, TaskPlan
from tests.harness import compile_text
from workflows import conductor
from workflows.form_check import form_errors

pytestmark = pytest.mark.unit

SOP = """\
apiVersion: sopflow/v1
kind: SOP
id: unit
version: 1
title: Unit
owner: tests
region: US
roles:
  responder: {description: R}
  lead: {description: L}
defaults:
  sla: 30m
steps:
  - id: triage
    type: triage
    rules:
      - when: input.urgent && input.reach > 1000
        severity: SEV0
        labels: [viral]
      - when: input.urgent
        severity: SEV1
      - severity: SEV3
  - id: work
    type: task
    assignee: responder
    form:
      type: object
      required: [ok]
      properties: {ok: {type: boolean}, note: {type: string, minLength: 3}}
  - id: route
    type: decision
    branches:
      - when: steps.work.output.ok
        goto: approve
      - goto: done
  - id: approve
    type: approval
    approvers: [lead]
    quorum: 2
    on: {rejected: done}
  - id: done
    type: end
    outcome: resolved
"""
PLAN = compile_text(SOP)
STEPS = {s.id: s for s in PLAN.steps}
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def state(**steps: str) -> IncidentState:
    s = IncidentState(
        incident_id="i",
        sop="unit",
        version=1,
        region="US",
        plan_hash="h",
        opened_by="olga",
        opened_at=NOW,
        steps={sid: StepState(id=sid, type=st.type) for sid, st in STEPS.items()},
    )
    for sid, status in steps.items():
        s.steps[sid].status = status  # type: ignore[assignment]
    return s


def variables(data: dict[str, Any], st: IncidentState | None = None) -> dict[str, Any]:
    return conductor.context(st or state(), data, NOW)


@pytest.mark.parametrize(
    ("data", "severity"),
    [
        ({"urgent": True, "reach": 5000}, "SEV0"),
        ({"urgent": True, "reach": 1}, "SEV1"),
        ({"urgent": False, "reach": 0}, "SEV3"),
    ],
)
def test_triage_first_match_wins(data: dict[str, Any], severity: str) -> None:
    step = STEPS["triage"]
    assert conductor.triage(step, variables(data))[0] == severity  # type: ignore[arg-type]


def test_missing_field_is_an_expression_failure_naming_the_step() -> None:
    with pytest.raises(conductor.ExpressionFailed, match="step triage"):
        conductor.triage(STEPS["triage"], variables({}))  # type: ignore[arg-type]


def test_decision_and_routing() -> None:
    st = state(work="done")
    st.steps["work"].output = {"ok": True}
    route = STEPS["route"]
    assert isinstance(route, DecisionPlan)
    assert conductor.decide(route, variables({}, st)) == "approve"
    st.steps["work"].output = {"ok": False}
    assert conductor.decide(route, variables({}, st)) == "done"
    approve = STEPS["approve"]
    assert conductor.route(approve, "rejected") == "done"
    assert conductor.route(approve, "approved") == "done"  # unmapped: next
    assert conductor.route(STEPS["work"], None) == "route"


def test_completion_checks_role_activity_and_form() -> None:
    work = STEPS["work"]
    assert isinstance(work, TaskPlan)
    alice = Actor(id="alice", roles=["responder"])
    with pytest.raises(conductor.ActionRefused, match="pending, not active"):
        conductor.check_completion(state(), work, alice, {"ok": True})
    st = state(work="active")
    with pytest.raises(conductor.ActionRefused, match="does not hold role"):
        conductor.check_completion(st, work, Actor(id="bob", roles=["lead"]), {"ok": True})
    with pytest.raises(conductor.ActionRefused, match="note: must have at least 3"):
        conductor.check_completion(st, work, alice, {"ok": True, "note": "x"})
    conductor.check_completion(st, work, alice, {"ok": True, "note": "fine"})


def test_a_second_completion_or_vote_with_the_deciding_one_is_refused() -> None:
    """Two actions can reach the workflow in one task: the step is still active when the
    second is validated, but the first has already answered it (found by the soak's races)."""
    work, approve = STEPS["work"], STEPS["approve"]
    assert isinstance(work, TaskPlan) and isinstance(approve, ApprovalPlan)
    st = state(work="active", approve="active")
    st.steps["work"].submitted_by = "alice"
    with pytest.raises(conductor.ActionRefused, match="just completed by alice"):
        conductor.check_completion(st, work, Actor(id="ann", roles=["responder"]), {"ok": True})
    for voter in ("bob", "cy"):
        st.steps["approve"].votes.append(
            VoteRecord(actor=voter, decision="approve", reason="r", at=NOW)
        )
    with pytest.raises(conductor.ActionRefused, match="already decided: approved"):
        conductor.check_vote(st, approve, Actor(id="di", roles=["lead"]), "reject")
    st.steps["approve"].votes = [VoteRecord(actor="bob", decision="reject", reason="r", at=NOW)]
    with pytest.raises(conductor.ActionRefused, match="already decided: rejected"):
        conductor.check_vote(st, approve, Actor(id="cy", roles=["lead"]))


def test_no_action_while_the_rota_is_asked_which_desk_holds_the_step() -> None:
    """As a follow-the-sun step opens, it sits with the incident's desk until the Rota
    answers; an off-shift responder of that desk must not slip in meanwhile (found by a CI
    run at 07:26 UTC, when the answer was the UK desk)."""
    work, approve = STEPS["work"], STEPS["approve"]
    assert isinstance(work, TaskPlan) and isinstance(approve, ApprovalPlan)
    st = state(work="active", approve="active")
    st.steps["work"].routing = st.steps["approve"].routing = True
    alice, bob = Actor(id="alice", roles=["responder"]), Actor(id="bob", roles=["lead"])
    with pytest.raises(conductor.ActionRefused, match="being given to the desk on shift"):
        conductor.check_completion(st, work, alice, {"ok": True, "note": "fine"})
    with pytest.raises(conductor.ActionRefused, match="being given to the desk on shift"):
        conductor.check_vote(st, approve, bob)
    st.steps["work"].routing = False
    conductor.check_completion(st, work, alice, {"ok": True, "note": "fine"})


def test_a_desk_override_decides_who_acts_in_place_of_the_incidents_desk() -> None:
    """A stakeholder update asked of the desk on shift: that desk's people act with their
    roles, the incident's own desk only with roles given on that desk (or global ones)."""
    st = state()
    uk = Actor(id="tbrennan", roles=["lead"], region="UK")
    us = Actor(id="dokafor", roles=["lead"], region="US")
    both = Actor(id="okhan", roles=["lead"], region="US", desks={"UK": ["lead"]})
    assert conductor.on_desk(st, uk, None, None).roles == []
    assert conductor.on_desk(st, uk, None, None, desk="UK").roles == ["lead"]
    assert conductor.check_desk(st, uk, ["lead"], None, desk="UK", what="this update") == uk
    assert conductor.check_desk(st, both, ["lead"], None, desk="UK").roles == ["lead"]
    with pytest.raises(conductor.ActionRefused) as refused:
        conductor.check_desk(st, us, ["lead"], None, desk="UK", what="this update")
    reason = "dokafor works on the US desk; this update is asked of the UK desk"
    assert str(refused.value) == reason and refused.value.cause == "forbidden"
    assert conductor.check_desk(st, us, ["lead"], ["lead"], desk="UK").roles == ["lead"]
    # Without the override, the incident's desk as before.
    assert conductor.check_desk(st, us, ["lead"], None) == us


def test_votes_distinct_four_eyes_and_tally() -> None:
    approve = STEPS["approve"]
    assert isinstance(approve, ApprovalPlan)
    st = state(approve="active")
    st.steps["work"].submitted_by = "lena"
    with pytest.raises(conductor.ActionRefused, match="four eyes"):
        conductor.check_vote(st, approve, Actor(id="olga", roles=["lead"]))  # opened it
    with pytest.raises(conductor.ActionRefused, match="four eyes"):
        conductor.check_vote(st, approve, Actor(id="lena", roles=["lead"]))  # did the work
    conductor.check_vote(st, approve, Actor(id="bob", roles=["lead"]))
    st.steps["approve"].votes.append(
        VoteRecord(actor="bob", decision="approve", reason="r", at=NOW)
    )
    with pytest.raises(conductor.ActionRefused, match="already voted"):
        conductor.check_vote(st, approve, Actor(id="bob", roles=["lead"]))
    assert conductor.tally(approve, st) is None  # quorum 2
    st.steps["approve"].votes.append(VoteRecord(actor="cy", decision="approve", reason="r", at=NOW))
    assert conductor.tally(approve, st) == "approved"
    st.steps["approve"].votes.append(VoteRecord(actor="di", decision="reject", reason="r", at=NOW))
    assert conductor.tally(approve, st) == "rejected"


def test_pending_roles_are_sorted_and_unique() -> None:
    st = state(work="active", approve="active")
    assert conductor.pending_roles(STEPS, st) == ["lead", "responder"]


def test_cancel_needs_the_lead_role() -> None:
    with pytest.raises(conductor.ActionRefused, match="only the 'lead'"):
        conductor.check_cancel(state(), Actor(id="a", roles=["responder"]))
    conductor.check_cancel(state(), Actor(id="b", roles=["lead"]))


@pytest.mark.parametrize(
    ("schema", "value", "problem"),
    [
        ({"type": "object", "required": ["a"]}, {}, "a: is required"),
        ({"type": "array", "items": {"enum": ["x"]}, "minItems": 1}, ["y"], "[0]: must be one of"),
        ({"type": "string", "format": "date-time"}, "yesterday", "valid date-time"),
        ({"type": "string", "format": "email"}, "a@b.org", None),
        ({"type": "integer", "minimum": 1}, 0, "at least 1"),
        ({"type": "integer"}, True, "must be integer"),
        (
            {"type": "object", "additionalProperties": False, "properties": {}},
            {"x": 1},
            "x: is not",
        ),
        ({"type": ["string", "null"]}, None, None),
        ({"type": "array", "uniqueItems": True}, [1, 1], "unique"),
    ],
)
def test_form_errors(schema: dict[str, Any], value: Any, problem: str | None) -> None:
    errors = form_errors(schema, value)
    if problem is None:
        assert errors == []
    else:
        assert any(problem in e for e in errors), errors
