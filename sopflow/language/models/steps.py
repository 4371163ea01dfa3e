"""Step models: one class per step type of the SOP language v1.

Fields keep the names authors write (``next``, ``for``, ``on``); Python-side names that clash
with keywords carry a trailing underscore and an alias.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from sopflow.language.models.common import (
    Duration,
    Expr,
    JsonSchemaDoc,
    RegionCode,
    RoleName,
    SopId,
    StepId,
    Strict,
)
from sopflow.language.models.destinations import DestinationName
from sopflow.language.models.step_parts import (
    ApprovalOn,
    Branch,
    CheckIn,
    DisclosureOn,
    OnTimeout,
    Requirement,
    SlaClock,
    TriageRule,
    WaitOn,
)


class StepBase(Strict):
    """Fields every step has."""

    # The outcomes this step type can produce, for `on`; empty when it has no `on`.
    OUTCOMES: ClassVar[tuple[str, ...]] = ()
    # Outcomes that say no: the SOP must map them (safety steps fail closed).
    MUST_MAP: ClassVar[tuple[str, ...]] = ()
    HUMAN: ClassVar[bool] = False

    id: StepId
    title: str | None = None
    description: str | None = None
    when: Expr | None = None
    next_: StepId | None = Field(default=None, alias="next")

    def outcome_map(self) -> dict[str, str]:
        """The step's `on` map, or empty for step types without one."""
        return {}

    def output_fields(self) -> list[str] | None:
        """The fields of ``steps.<id>.output`` for this step, or None when they are open
        (e.g. an event's data). The interpreter produces exactly these."""
        return None

    def possible_outcomes(self) -> tuple[str, ...]:
        """The outcomes this step can actually produce (``on`` keys that may fire)."""
        return self.OUTCOMES

    def type_name(self) -> str:
        """The step's `type` as written (each subclass declares it as a literal)."""
        return str(getattr(self, "type", ""))

    def role_fields(self) -> list[tuple[str, list[str]]]:
        """(field name, roles) pairs naming roles that the SOP must declare."""
        return []


class HumanStep(StepBase):
    """A step that waits for people, with an SLA and an escalation chain."""

    HUMAN: ClassVar[bool] = True

    sla: Duration | SlaClock | None = None
    escalate: list[RoleName] = Field(default_factory=list)
    on_timeout: OnTimeout = "escalate"
    follow_the_sun: bool = Field(
        default=False,
        description=(
            "When the holding desk's shift ends while the step is open, it moves to the next "
            "desk on shift for its roles (the Rota says who), with a hand-off note"
        ),
    )
    graphic: bool = Field(
        default=False,
        description=(
            "Doing this step exposes the person to graphic content: it counts in their "
            "exposure for the shift (`sopflow wellbeing`)"
        ),
    )
    check_in: CheckIn | None = Field(
        default=None, description="With `graphic`: who checks in with the person afterwards"
    )

    def _check_in(self) -> list[tuple[str, list[str]]]:
        return [("check_in", [self.check_in.to])] if self.check_in is not None else []


class TriageStep(StepBase):
    type: Literal["triage"]
    rules: list[TriageRule] = Field(min_length=1)
    enrich: list[str] = Field(default_factory=list)

    def output_fields(self) -> list[str] | None:
        return ["severity", "labels", "enrichment"]


class TaskStep(HumanStep):
    type: Literal["task"]
    assignee: RoleName
    form: JsonSchemaDoc = Field(default_factory=lambda: {"type": "object"})

    def output_fields(self) -> list[str] | None:
        properties = self.form.get("properties")
        return sorted(properties) if isinstance(properties, dict) else None

    def role_fields(self) -> list[tuple[str, list[str]]]:
        return [("assignee", [self.assignee]), ("escalate", list(self.escalate)), *self._check_in()]


class ApprovalStep(HumanStep):
    type: Literal["approval"]
    OUTCOMES: ClassVar[tuple[str, ...]] = ("approved", "rejected")
    MUST_MAP: ClassVar[tuple[str, ...]] = ("rejected",)

    # Either any `quorum` of people holding one of `approvers`, or every requirement of
    # `requires` met by distinct people (e.g. counsel AND a lead).
    approvers: list[RoleName] | None = Field(default=None, min_length=1)
    requires: list[Requirement] | None = Field(default=None, min_length=1)
    quorum: int | None = None
    distinct: bool = True
    four_eyes: bool = True
    on: ApprovalOn = Field(default_factory=ApprovalOn)

    @model_validator(mode="after")
    def _one_way_to_approve(self) -> ApprovalStep:
        if (self.approvers is None) == (self.requires is None):
            raise ValueError(
                "an approval needs exactly one of `approvers` (any of these roles, `quorum` "
                "votes) or `requires` (so many people per role)"
            )
        if self.requires is not None:
            if self.quorum is not None:
                raise ValueError("`quorum` comes from `requires` (the sum of its counts): drop it")
            if not self.distinct:
                raise ValueError(
                    "`requires` counts distinct people: `distinct: false` cannot apply"
                )
            roles = [r.role for r in self.requires]
            if len(set(roles)) != len(roles):
                raise ValueError("each role appears once in `requires` (raise its `count`)")
        return self

    def approver_roles(self) -> list[str]:
        """Every role whose holders may vote, in the order written."""
        if self.requires is not None:
            return [r.role for r in self.requires]
        return list(self.approvers or [])

    def needed_votes(self) -> int:
        """Approvals needed: ``quorum`` (default 1), or the sum of ``requires``' counts."""
        if self.requires is not None:
            return sum(r.count for r in self.requires)
        return 1 if self.quorum is None else self.quorum

    def outcome_map(self) -> dict[str, str]:
        return _mapped(self.on)

    def output_fields(self) -> list[str] | None:
        return ["outcome", "votes"]

    def role_fields(self) -> list[tuple[str, list[str]]]:
        field_name = "requires" if self.requires is not None else "approvers"
        return [
            (field_name, self.approver_roles()),
            ("escalate", list(self.escalate)),
            *self._check_in(),
        ]


def _no_next(step: StepBase, why: str) -> None:
    if step.next_ is not None:
        article = "an" if step.type_name()[:1] in "aeiou" else "a"
        raise ValueError(f"{article} {step.type_name()} step has no `next`: {why}")


class DecisionStep(StepBase):
    type: Literal["decision"]
    branches: list[Branch] = Field(min_length=1)

    @model_validator(mode="after")
    def _branches_decide(self) -> DecisionStep:
        _no_next(self, "its branches say where to go")
        return self

    def output_fields(self) -> list[str] | None:
        return ["goto"]


class DisclosureCheckStep(StepBase):
    type: Literal["disclosure_check"]
    OUTCOMES: ClassVar[tuple[str, ...]] = ("allowed", "needs_approval", "denied")
    MUST_MAP: ClassVar[tuple[str, ...]] = ("denied",)

    policy: str
    request: dict[str, Expr] = Field(default_factory=dict)
    on: DisclosureOn = Field(default_factory=DisclosureOn)

    def outcome_map(self) -> dict[str, str]:
        return _mapped(self.on)

    def output_fields(self) -> list[str] | None:
        return ["decision", "allow", "legal_basis", "reason", "policy"]


class NotifyStep(StepBase):
    """Sends ``message`` over ``channel`` to ``to``, or to a named ``destination`` of the
    library (its channel and address): exactly one of the two forms."""

    type: Literal["notify"]
    channel: str | None = Field(default=None, min_length=1, description="With `to`")
    to: str | None = Field(
        default=None, min_length=1, description="A declared role, or a CEL expression"
    )
    destination: DestinationName | None = Field(
        default=None, description="A named destination (Destinations)"
    )
    message: str

    @model_validator(mode="after")
    def _one_form(self) -> NotifyStep:
        written = [f"`{n}`" for n in ("channel", "to") if getattr(self, n) is not None]
        if self.destination is not None and written:
            raise ValueError(
                f"a notify step with a `destination` takes no {' or '.join(written)}: the "
                "destination names the channel and the address"
            )
        if self.destination is None and len(written) < 2:
            raise ValueError("a notify step needs `channel` and `to`, or a `destination`")
        return self


class WaitStep(StepBase):
    type: Literal["wait"]
    OUTCOMES: ClassVar[tuple[str, ...]] = ("received", "timeout")

    for_: Duration | None = Field(default=None, alias="for")
    until: Expr | None = None
    event: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    timeout: Duration | None = None
    on: WaitOn = Field(default_factory=WaitOn)

    @model_validator(mode="after")
    def _one_kind(self) -> WaitStep:
        chosen = [n for n in ("for", "until", "event") if getattr(self, _attr(n)) is not None]
        if len(chosen) != 1:
            found = ", ".join(chosen) or "none"
            raise ValueError(f"a wait needs exactly one of for, until, event (found: {found})")
        if self.on.timeout is not None and self.timeout is None:
            raise ValueError("`on.timeout` can never happen: this wait has no `timeout`")
        if self.on.received is not None and self.event is None:
            raise ValueError("`on.received` is for event waits; this wait waits for time")
        return self

    def possible_outcomes(self) -> tuple[str, ...]:
        if self.event is None:
            return ()
        return ("received", "timeout") if self.timeout is not None else ("received",)

    def outcome_map(self) -> dict[str, str]:
        return _mapped(self.on)


def _mapped(on: Strict) -> dict[str, str]:
    # Read the fields directly: model_dump is the slow path, and flow checks call this often.
    return {k: v for k in type(on).model_fields if (v := getattr(on, k)) is not None}


def _attr(name: str) -> str:
    return "for_" if name == "for" else name


class ParallelBranch(Strict):
    name: str | None = None
    steps: list[Step] = Field(min_length=1)


class ParallelStep(StepBase):
    type: Literal["parallel"]
    branches: list[ParallelBranch] = Field(min_length=1)
    join: Literal["all", "any"] = "all"


class PostmortemReview(Strict):
    """How the review the step opens is followed up (docs/postmortems.md)."""

    owner: RoleName | None = Field(
        default=None, description="Who owns the review (default: the step's owner)"
    )
    due: Duration | None = Field(
        default=None, description="Time until the review is due (default: the step's due)"
    )
    remind: Duration | None = Field(
        default=None, description="How long before a due date owners are reminded (default 1d)"
    )
    escalate_to: RoleName | None = Field(
        default=None, description="Who hears of an overdue review or item (default: lead)"
    )


class PostmortemStep(StepBase):
    type: Literal["postmortem"]
    owner: RoleName
    due: Duration
    template: str = "default"
    review: PostmortemReview | None = None

    def output_fields(self) -> list[str] | None:
        return ["document", "owner", "due_at", "review"]

    def role_fields(self) -> list[tuple[str, list[str]]]:
        review = self.review or PostmortemReview()
        named = [("review.owner", review.owner), ("review.escalate_to", review.escalate_to)]
        return [("owner", [self.owner]), *((f, [r]) for f, r in named if r is not None)]


# What a linked incident that did not reach an end step of its own finishes as, for `on`.
LINK_OUTCOMES = ("completed", "failed", "cancelled")


class OpenIncidentStep(StepBase):
    """Opens an incident of another SOP (or of this one, in another region) with input built
    from this incident, linked both ways; with `wait`, goes on when that one closes, routed
    by its outcome."""

    type: Literal["open_incident"]

    sop: SopId = Field(description="The SOP of the incident to open")
    version: int | None = Field(
        default=None, ge=1, description="Its version (default: the latest not retired, then)"
    )
    region: RegionCode | None = Field(
        default=None, description="The desk that runs it (default: this incident's region)"
    )
    input: dict[str, Expr] = Field(
        default_factory=dict, description="Its input, field by field: CEL over this incident"
    )
    wait: bool = Field(
        default=False,
        description="Wait for it to close; `on` routes by its outcome (an end step's outcome, "
        "or completed, failed, cancelled)",
    )
    on: dict[str, StepId] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _routes_need_wait(self) -> OpenIncidentStep:
        if self.on and not self.wait:
            raise ValueError(
                "`on` routes by the linked incident's outcome, which only a step with "
                "`wait: true` learns"
            )
        return self

    def outcome_map(self) -> dict[str, str]:
        return dict(self.on)

    def possible_outcomes(self) -> tuple[str, ...]:
        # Any outcome of the other SOP may come back; those `on` leaves out go to `next`.
        return (*self.on, "(any other outcome)") if self.wait else ()

    def output_fields(self) -> list[str] | None:
        return ["incident", "sop", "version", "region", "status", "outcome"]


class EndStep(StepBase):
    """Finishes the incident with ``outcome``, also from inside a parallel branch."""

    type: Literal["end"]
    outcome: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")

    @model_validator(mode="after")
    def _final(self) -> EndStep:
        _no_next(self, "it finishes the incident")
        return self


Step = Annotated[
    TriageStep
    | TaskStep
    | ApprovalStep
    | DecisionStep
    | DisclosureCheckStep
    | NotifyStep
    | WaitStep
    | ParallelStep
    | PostmortemStep
    | OpenIncidentStep
    | EndStep,
    Field(discriminator="type"),
]

STEP_MODELS: dict[str, type[StepBase]] = {
    "triage": TriageStep,
    "task": TaskStep,
    "approval": ApprovalStep,
    "decision": DecisionStep,
    "disclosure_check": DisclosureCheckStep,
    "notify": NotifyStep,
    "wait": WaitStep,
    "parallel": ParallelStep,
    "postmortem": PostmortemStep,
    "open_incident": OpenIncidentStep,
    "end": EndStep,
}

ParallelBranch.model_rebuild()


def step_fields(step_type: str) -> list[str]:
    """The field names an author may write on a step of ``step_type``."""
    model = STEP_MODELS[step_type]
    return [f.alias or name for name, f in model.model_fields.items()]
