"""The plan IR: the only contract between compile time and run time.

A plan is plain, frozen, versioned data: every default filled in, every duration in seconds,
every jump resolved (``next`` is a step id, or None for "the end of this list of steps": the
end of the incident at the top level, the end of the branch inside a parallel step), and the
disclosure policies it uses embedded. The durable workflow reads nothing else, and the plan
travels in the workflow's input, so an incident's history holds the exact procedure it ran.

This module imports only pydantic, so the Temporal sandbox can load it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, assert_never

from pydantic import BaseModel, ConfigDict, Field

PLAN_FORMAT = 1

# The names of a plan's parts (Plan.part_hashes): the procedure, the region's settings, and
# one part per embedded disclosure policy, this prefix and the policy's id.
PROCEDURE_PART = "procedure"
REGION_PART = "region"
POLICY_PART_PREFIX = "policy:"
# The outcomes of a linked incident that its step's `on` does not name (they go to `next`).
OTHER_OUTCOME = "otherwise"
# A post-mortem review's defaults when the step has no `review:` (docs/postmortems.md).
REVIEW_REMIND_S = 86_400
REVIEW_ESCALATE_TO = "lead"


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retry(_Plan):
    max_attempts: int
    initial_interval_s: int
    backoff: float
    max_interval_s: int


class OnTimeout(_Plan):
    action: Literal["escalate", "fail", "goto"]
    goto: str | None = None


class StepCommon(_Plan):
    id: str
    title: str
    description: str | None = None
    when: str | None = None
    next: str | None = None
    on: dict[str, str | None] = Field(default_factory=dict)


class CheckInPlan(_Plan):
    to: str  # a role, resolved to the person on call for it at the incident's desk
    channel: str


def _unset(value: object) -> bool:
    return value is None


class HumanCommon(StepCommon):
    sla_s: int  # the SLA (a `business` clock: business seconds; `until`: between escalations)
    escalate: list[str]
    on_timeout: OnTimeout
    # The clocks and hand-offs of follow-the-sun desks. Left out of every dump when unset, so
    # plans that do not use them keep their hashes.
    sla_clock: Literal["business"] | None = Field(default=None, exclude_if=_unset)
    sla_until: str | None = Field(default=None, exclude_if=_unset)  # a CEL timestamp
    follow_the_sun: Literal[True] | None = Field(default=None, exclude_if=_unset)
    # Wellbeing: the step exposes whoever does it to graphic content; who checks in after.
    graphic: Literal[True] | None = Field(default=None, exclude_if=_unset)
    check_in: CheckInPlan | None = Field(default=None, exclude_if=_unset)


class TriageRule(_Plan):
    when: str | None
    severity: str
    labels: list[str]


class TriagePlan(StepCommon):
    type: Literal["triage"] = "triage"
    rules: list[TriageRule]
    enrich: list[str]


class TaskPlan(HumanCommon):
    type: Literal["task"] = "task"
    assignee: str
    form: dict[str, Any]


class RoleCount(_Plan):
    role: str
    count: int


class ApprovalPlan(HumanCommon):
    type: Literal["approval"] = "approval"
    approvers: list[str]  # every role whose holders may vote (with `requires`: its roles)
    quorum: int  # approvals needed (with `requires`: the sum of its counts)
    distinct: bool
    four_eyes: bool
    # Per-role quorum: so many distinct people per role. Left out of every dump when None,
    # so plans that do not use it keep their hashes (as `Plan.restricted_to`).
    requires: list[RoleCount] | None = Field(default=None, exclude_if=lambda value: value is None)


class DecisionBranch(_Plan):
    when: str | None
    goto: str | None
    # Why no rehearsal takes it (for coverage only); left out of dumps when unset.
    not_rehearsed: str | None = Field(default=None, exclude_if=_unset)


class DecisionPlan(StepCommon):
    type: Literal["decision"] = "decision"
    branches: list[DecisionBranch]


class DisclosureCheckPlan(StepCommon):
    type: Literal["disclosure_check"] = "disclosure_check"
    policy: str
    request: dict[str, str]


class DestinationPlan(_Plan):
    """A named destination of the library, resolved at compile time: the plan says where its
    messages go, and the channel the worker delivers them through."""

    name: str
    channel: str
    address: str  # an http(s) URL or an email address; never a secret


class NotifyPlan(StepCommon):
    type: Literal["notify"] = "notify"
    channel: str
    to_role: str | None
    to_expr: str | None
    message: str
    # Set for `destination: NAME` (then `channel` is the destination's and `to_*` are None);
    # left out of dumps when unset, so plans without one keep their hashes.
    destination: DestinationPlan | None = Field(default=None, exclude_if=lambda v: v is None)


class WaitPlan(StepCommon):
    type: Literal["wait"] = "wait"
    for_s: int | None
    until: str | None
    event: str | None
    timeout_s: int | None


class ParallelBranchPlan(_Plan):
    name: str
    steps: list[PlanStep]


class ParallelPlan(StepCommon):
    type: Literal["parallel"] = "parallel"
    join: Literal["all", "any"]
    branches: list[ParallelBranchPlan]


class ReviewPlan(_Plan):
    """How the review a post-mortem step opens is followed up (``review:``): who owns it,
    when it is due, how long before a due date reminders go out, who hears when it is late."""

    owner: str
    due_s: int
    remind_s: int
    escalate_to: str


class PostmortemPlan(StepCommon):
    type: Literal["postmortem"] = "postmortem"
    owner: str
    due_s: int
    template: str
    # Filled only when the SOP writes `review:`; left out of dumps when unset, so plans that
    # predate it keep their hashes (the workflow then uses `review_settings`' defaults).
    review: ReviewPlan | None = Field(default=None, exclude_if=_unset)

    def review_settings(self) -> ReviewPlan:
        """The review's settings: the SOP's, else the step's owner and due time, reminders a
        day before, escalation to the lead role."""
        if self.review is not None:
            return self.review
        return ReviewPlan(
            owner=self.owner,
            due_s=self.due_s,
            remind_s=REVIEW_REMIND_S,
            escalate_to=REVIEW_ESCALATE_TO,
        )


class OpenIncidentPlan(StepCommon):
    """Open an incident of ``sop`` (at ``version``, or the latest not retired when the step
    runs) in ``region`` with ``input`` (field -> CEL); with ``wait``, its outcome routes."""

    type: Literal["open_incident"] = "open_incident"
    sop: str
    version: int | None
    region: str | None  # None: this incident's region
    input: dict[str, str]
    wait: bool


class EndPlan(StepCommon):
    type: Literal["end"] = "end"
    outcome: str


PlanStep = Annotated[
    TriagePlan
    | TaskPlan
    | ApprovalPlan
    | DecisionPlan
    | DisclosureCheckPlan
    | NotifyPlan
    | WaitPlan
    | ParallelPlan
    | PostmortemPlan
    | OpenIncidentPlan
    | EndPlan,
    Field(discriminator="type"),
]
ParallelBranchPlan.model_rebuild()


def possible_outcomes(step: PlanStep) -> tuple[str, ...]:
    """The outcomes a step can produce, which its ``on`` map may route."""
    match step:
        case ApprovalPlan():
            return ("approved", "rejected")
        case DisclosureCheckPlan():
            return ("allowed", "needs_approval", "denied")
        case WaitPlan():
            if step.event is None:
                return ()
            return ("received", "timeout") if step.timeout_s is not None else ("received",)
        case OpenIncidentPlan():
            # Any outcome of the linked incident may come back; those `on` leaves out go on
            # to `next`. Without `wait` the step has no outcome to route.
            return (*step.on, OTHER_OUTCOME) if step.wait else ()
        case (
            TriagePlan()
            | TaskPlan()
            | DecisionPlan()
            | NotifyPlan()
            | ParallelPlan()
            | PostmortemPlan()
            | EndPlan()
        ):
            return ()
        case _:
            assert_never(step)


class PolicyRule(_Plan):
    when: str | None
    decision: Literal["allowed", "needs_approval", "denied"]
    legal_basis: str | None
    reason: str | None
    allow: list[str]


class Policy(_Plan):
    id: str
    jurisdiction: str
    title: str
    rules: list[PolicyRule]


class SopInfo(_Plan):
    id: str
    version: int
    title: str
    owner: str
    description: str
    base_region: str


class RegionInfo(_Plan):
    code: str
    timezone: str | None
    team: str | None
    data_region: str | None


class Defaults(_Plan):
    sla_s: int | None
    retry: Retry


class UpdateCadencePlan(_Plan):
    """Stakeholder updates at one severity: every ``every_s`` the ``asked`` role is asked
    for the text, which goes to ``destination`` (or ``to_role`` on ``channel``); one not
    posted within ``escalate_after_s`` is missed and pages ``escalate`` (the n-th missed in
    a row pages its n-th role, the last one again after that). ``follow_the_sun``: each ask
    goes to the desk on shift for ``asked``, which posts it and whose escalations it pages."""

    every_s: int
    asked: str
    escalate_after_s: int
    escalate: list[str]
    template: str
    channel: str
    to_role: str | None
    destination: DestinationPlan | None = Field(default=None, exclude_if=lambda v: v is None)
    # Left out of dumps when False, so plans without it keep their hashes.
    follow_the_sun: bool = Field(default=False, exclude_if=lambda v: not v)


class MigrationMap(_Plan):
    """Which steps of incidents running ``version`` may move to which steps of this plan."""

    version: int
    steps: dict[str, str]


class Plan(_Plan):
    """A compiled SOP for one region. ``plan_hash`` covers every other field."""

    format: int = PLAN_FORMAT
    sop: SopInfo
    region: RegionInfo
    input_schema: dict[str, Any]
    roles: dict[str, str]
    defaults: Defaults
    steps: list[PlanStep]
    policies: dict[str, Policy]
    # Need-to-know: the roles whose holders may see the incidents (sorted, each once); None
    # for everyone who holds a role. A compatible addition (a field with a default): when
    # None it is left out of every dump, so the canonical form, the plan hash and the part
    # hashes of a plan that does not use it are what they were before it existed, and a
    # worker that predates it still decodes such a plan.
    restricted_to: list[str] | None = Field(default=None, exclude_if=lambda value: value is None)
    # Roles that act from any region's desk (sorted); every other role acts only on
    # incidents of its holder's region. Left out of dumps when None, as `restricted_to`.
    global_roles: list[str] | None = Field(default=None, exclude_if=lambda value: value is None)
    # Duplicates: the CEL expression over `input` that names the case. Left out when None.
    correlation: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # Events handled whatever step is active: event name -> the top-level step to go on from.
    on_event: dict[str, str] | None = Field(default=None, exclude_if=lambda value: value is None)
    # Incidents of an older version may move to this plan at these steps. Left out when None.
    migrates_from: MigrationMap | None = Field(default=None, exclude_if=lambda value: value is None)
    # Stakeholder updates by severity (SEV0..SEV4). Left out when None, so plans without
    # them keep their hashes (and the interpreter issues no command for them).
    updates: dict[str, UpdateCadencePlan] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    plan_hash: str = ""

    def canonical_json(self) -> str:
        """Sorted keys, no spaces, UTF-8: identical bytes on every machine and run."""
        body = self.model_dump(mode="json", exclude={"plan_hash"})
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def part_hashes(self) -> dict[str, str]:
        """Hashes of the parts a plan is built from: the procedure itself, each embedded
        policy and the region's settings, so a changed plan can say what changed."""
        body = self.model_dump(mode="json", exclude={"plan_hash"})
        parts = {
            PROCEDURE_PART: {k: v for k, v in body.items() if k not in ("policies", "region")},
            REGION_PART: body["region"],
            **{f"{POLICY_PART_PREFIX}{pid}": policy for pid, policy in body["policies"].items()},
        }
        return {
            name: hashlib.sha256(
                json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            for name, value in sorted(parts.items())
        }

    def with_hash(self) -> Plan:
        return self.model_copy(update={"plan_hash": self.compute_hash()})

    def steps_by_id(self) -> dict[str, PlanStep]:
        """Every step by id, depth first, the steps of parallel branches included."""
        found: dict[str, PlanStep] = {}

        def walk(steps: list[PlanStep]) -> None:
            for step in steps:
                found[step.id] = step
                if isinstance(step, ParallelPlan):
                    for branch in step.branches:
                        walk(branch.steps)

        walk(self.steps)
        return found
