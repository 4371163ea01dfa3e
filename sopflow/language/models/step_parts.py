"""The parts of steps that are not steps: outcome maps, SLA clocks, rules and branches, and
the names every step module shares (severities, the jump target ``end``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sopflow.language.models.common import Duration, Expr, RoleName, StepId, Strict

Severity = Literal["SEV0", "SEV1", "SEV2", "SEV3", "SEV4"]


# The jump target `end` (in `next`, `on`, `goto`): the end of the list of steps the jump is in,
# which finishes the incident at the top level and the branch inside a parallel step.
END = "end"


class GotoTimeout(Strict):
    goto: StepId


OnTimeout = Literal["escalate", "fail"] | GotoTimeout


class SlaClock(Strict):
    """An SLA that is not a plain wall-clock duration: so much business time of the desk
    that holds the step (paused outside its business hours and on its holidays), or an
    instant from the incident (e.g. a legal deadline in the request)."""

    business: Duration | None = Field(
        default=None,
        description="Business time of the owning desk (its Rota business hours or shifts)",
    )
    until: Expr | None = Field(
        default=None,
        description="A CEL timestamp: the step is due then (e.g. `input.response_due`)",
    )
    every: Duration | None = Field(
        default=None,
        description="With `until`: the time between escalations once it has passed (1h)",
    )

    @model_validator(mode="after")
    def _one_clock(self) -> SlaClock:
        if (self.business is None) == (self.until is None):
            raise ValueError(
                "an `sla` clock is exactly one of `business` (business time of the desk) or "
                "`until` (a timestamp from the incident); a plain duration runs 24/7"
            )
        if self.every is not None and self.until is None:
            raise ValueError("`every` goes with `until`: a `business` SLA repeats itself")
        return self


class CheckIn(Strict):
    """After a graphic step: ask the person on call for ``to`` to check in with whoever did
    it, over ``channel``."""

    to: RoleName
    channel: str = Field(default="email", min_length=1)


class TriageRule(Strict):
    when: Expr | None = None
    severity: Severity
    labels: list[str] = Field(default_factory=list)


class ApprovalOn(Strict):
    approved: StepId | None = None
    rejected: StepId | None = None


class Requirement(Strict):
    """``count`` distinct people holding ``role`` must approve (per-role quorum)."""

    role: RoleName
    count: int = Field(default=1, ge=1)


class Branch(Strict):
    when: Expr | None = None
    goto: StepId
    not_rehearsed: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "Why no rehearsal can take this branch (e.g. only incidents migrated from an "
            "earlier version reach it): `rehearse --coverage` lists it with this reason "
            "instead of as a gap"
        ),
    )


class DisclosureOn(Strict):
    allowed: StepId | None = None
    needs_approval: StepId | None = None
    denied: StepId | None = None


class WaitOn(Strict):
    received: StepId | None = None
    timeout: StepId | None = None
