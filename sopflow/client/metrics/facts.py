"""What metrics need of one incident, reduced from its state: pure, no Temporal.

An :class:`IncidentFacts` holds timings, step ids, counts and policy codes only: no form
data, no note or vote text, no person. That is what the on-disk cache stores, so the cache
never holds user data in the clear even where payloads are encrypted in Temporal.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sopflow.contract.messages import IncidentState, StepState, TimelineEntry

# Bump when the shape changes: cached files of another format are read again from Temporal.
FACTS_FORMAT = 1

# The timeline kinds a person's Update writes (CompleteTask, Vote, Note with its claims and
# severity): the responder acting on the work. Cancelling or migrating is an administrative
# act, and the system's own entries (triage, notifications, breaches) are not a response.
RESPONDER_KINDS = frozenset(
    {
        "task.completed",
        "vote.approve",
        "vote.reject",
        "note",
        "work.claimed",
        "work.released",
        "work.assigned",
        "severity.raised",
        "severity.lowered",
    }
)
# Steps that wait on people under an SLA (the interpreter's `_await_people`): a wait's
# `due_at` is its timeout, not an SLA, so waits are not judged.
SLA_STEP_TYPES = frozenset({"task", "approval"})
SYSTEM = "system"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepFacts(_Frozen):
    """One step's latest pass (a step that loops keeps only its last pass in the state)."""

    id: str
    type: str
    status: str
    desk: str | None = None
    has_sla: bool = False
    breaches: int = 0
    escalations: int = 0  # `sla.breached` entries that paged the next role of the chain
    repages: int = 0  # `sla.repaged` entries: the spent chain's last role paged again
    chain_spent: int = 0  # `sla.breached` entries that found no role left to page


class ApprovalFacts(_Frozen):
    """One decided approval: when its step began and when the tally gave ``outcome``."""

    step: str
    outcome: str  # approved | rejected
    started_at: datetime
    decided_at: datetime
    reject_votes: int = 0


class DisclosureFacts(_Frozen):
    """One disclosure decision as the timeline records it (`disclosure.<decision>`)."""

    step: str | None
    policy: str
    decision: str
    basis: str


class IncidentFacts(_Frozen):
    """One incident as metrics see it. ``readable`` is False when only visibility knew it
    (no state could be had): then only the identity, status and outcome are known."""

    format: int = FACTS_FORMAT
    id: str
    run_id: str | None = None
    sop: str
    version: int | None = None
    region: str | None = None
    severity: str | None = None
    status: str  # running | completed | failed | cancelled | terminated
    outcome: str | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    first_action_at: datetime | None = None
    readable: bool = True
    steps: list[StepFacts] = Field(default_factory=list)
    approvals: list[ApprovalFacts] = Field(default_factory=list)
    disclosures: list[DisclosureFacts] = Field(default_factory=list)


def facts_of(
    state: IncidentState, *, run_id: str | None = None, status: str | None = None
) -> IncidentFacts:
    """The facts of one incident from its state (a closed run's result, or the `state`
    query). ``status`` overrides the state's (a run Temporal terminated ends as
    ``terminated`` whatever its last state said)."""
    timeline = state.timeline
    closing = [e.at for e in timeline if e.kind == "incident.closed"]
    final = status or state.status
    return IncidentFacts(
        id=state.incident_id,
        run_id=run_id,
        sop=state.sop,
        version=state.version,
        region=state.region,
        severity=state.severity,
        status=final,
        outcome=state.outcome,
        opened_at=state.opened_at,
        closed_at=_closed_at(final, closing, timeline),
        first_action_at=first_action(timeline),
        steps=[_step(s, timeline) for s in state.steps.values()],
        approvals=_approvals(state),
        disclosures=[d for e in timeline if (d := disclosure_of(e)) is not None],
    )


def _closed_at(
    status: str, closing: list[datetime], timeline: list[TimelineEntry]
) -> datetime | None:
    if status == "running":
        return None
    if closing:
        return closing[-1]
    # Ended by Temporal (terminated, timed out) without the workflow closing it: the last
    # thing it recorded is the best bound the state gives.
    return timeline[-1].at if timeline else None


def first_action(timeline: list[TimelineEntry]) -> datetime | None:
    """When a person first acted on the incident's work (see RESPONDER_KINDS)."""
    for entry in timeline:
        if entry.kind in RESPONDER_KINDS and entry.actor != SYSTEM:
            return entry.at
    return None


def _step(step: StepState, timeline: list[TimelineEntry]) -> StepFacts:
    mine = [e for e in timeline if e.step == step.id]
    breached = [e for e in mine if e.kind == "sla.breached"]
    spent = sum(e.detail.startswith("escalation chain spent") for e in breached)
    return StepFacts(
        id=step.id,
        type=step.type,
        status=step.status,
        desk=step.desk,
        has_sla=step.type in SLA_STEP_TYPES and (step.due_at is not None or step.breaches > 0),
        breaches=step.breaches,
        escalations=len(breached) - spent,
        repages=sum(e.kind == "sla.repaged" for e in mine),
        chain_spent=spent,
    )


def _approvals(state: IncidentState) -> list[ApprovalFacts]:
    """Every decided approval of the state: the tally's `approval.<outcome>` entry is when
    quorum (or the first rejection) was reached."""
    out: list[ApprovalFacts] = []
    for entry in state.timeline:
        if not entry.kind.startswith("approval.") or entry.step is None:
            continue
        step = state.steps.get(entry.step)
        if step is None or step.started_at is None or step.started_at > entry.at:
            continue  # an earlier pass of a looping step: its start was overwritten
        rejects = sum(v.decision == "reject" for v in step.votes)
        outcome = entry.kind.removeprefix("approval.")
        out.append(
            ApprovalFacts(
                step=step.id,
                outcome=outcome,
                started_at=step.started_at,
                decided_at=entry.at,
                reject_votes=rejects,
            )
        )
    return out


def disclosure_of(entry: TimelineEntry) -> DisclosureFacts | None:
    """The decision a `disclosure.<decision>` entry records (detail `<policy>: <basis>`;
    the basis is the legal basis, else the policy's reason, possibly empty)."""
    if not entry.kind.startswith("disclosure."):
        return None
    policy, _sep, basis = entry.detail.partition(": ")
    return DisclosureFacts(
        step=entry.step,
        policy=policy,
        decision=entry.kind.removeprefix("disclosure."),
        basis=basis.strip(),
    )
