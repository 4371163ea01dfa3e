"""Rehearsal documents: a scripted run of one SOP, its actions and what it must show
(parsed and linted with the library; run by ``sopflow.rehearsal``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from sopflow.language.models.common import (
    DocBase,
    Duration,
    RegionCode,
    StepId,
    Strict,
)
from sopflow.language.models.reviews_rehearsal import ReviewExpectation, ReviewRehearsalAction
from sopflow.language.models.updates import PostUpdateAction, UpdateExpectation


class CompleteAction(Strict):
    step: StepId
    as_: str = Field(alias="as")
    data: dict[str, Any] = Field(default_factory=dict)


class VoteAction(Strict):
    step: StepId
    as_: str = Field(alias="as")
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=1)


class SignalAction(Strict):
    event: str
    data: dict[str, Any] = Field(default_factory=dict)


class NoteAction(Strict):
    as_: str = Field(alias="as")
    text: str
    step: StepId | None = None
    # A lead sets the incident's severity (the text says why).
    severity: Literal["SEV0", "SEV1", "SEV2", "SEV3", "SEV4"] | None = None


class CancelAction(Strict):
    as_: str = Field(alias="as")
    reason: str = Field(min_length=1)


class RehearsalAction(Strict):
    after: Duration | None = None
    incident: StepId | None = Field(
        default=None,
        description="Act on the incident that this `open_incident` step opened, not this one",
    )
    complete: CompleteAction | None = None
    vote: VoteAction | None = None
    signal: SignalAction | None = None
    note: NoteAction | None = None
    cancel: CancelAction | None = None
    post_update: PostUpdateAction | None = None
    review: ReviewRehearsalAction | None = Field(
        default=None, description="Act on the incident's post-mortem review (once it has one)"
    )

    @model_validator(mode="after")
    def _one_action(self) -> RehearsalAction:
        # An entry with only `after` lets time pass with nobody acting (e.g. to see an SLA
        # chain run out at the end of a story).
        chosen = [n for n in ACTION_KINDS if getattr(self, n)]
        if len(chosen) > 1 or (not chosen and self.after is None):
            raise ValueError(
                f"an action is exactly one of {', '.join(ACTION_KINDS)}, or only "
                f"`after` to let time pass (found: {', '.join(chosen) or 'none'})"
            )
        return self

    @property
    def acts(self) -> bool:
        """False for an entry that only lets time pass."""
        return any(getattr(self, n) for n in ACTION_KINDS)


ACTION_KINDS = ("complete", "vote", "signal", "note", "cancel", "post_update", "review")
"""The actions a rehearsal entry may take (exactly one, or none with only `after`)."""


HANDOFF_PATTERN = r"^[a-z][a-z0-9_-]{0,62}: [A-Za-z][A-Za-z0-9_-]* -> [A-Za-z][A-Za-z0-9_-]*$"


def _check_instant(text: str) -> str:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError(
            "instant", f"{text!r} is not an instant: write 2030-01-18T15:00:00-05:00"
        ) from None
    if at.tzinfo is None:
        raise PydanticCustomError(
            "instant", f"{text!r} has no UTC offset: add one (Z, -05:00, +10:00)"
        )
    return text


Instant = Annotated[
    str,
    AfterValidator(_check_instant),
    Field(json_schema_extra={"format": "date-time", "examples": ["2030-01-18T15:00:00-05:00"]}),
]
"""An instant with its UTC offset, kept as written (ISO 8601)."""


class LinkedExpectation(Strict):
    """What the incident an `open_incident` step opened did."""

    path: list[StepId] | None = None
    outcome: str | None = None


class Expectation(Strict):
    path: list[StepId] | None = None
    outcome: str | None = None
    breached: list[StepId] | None = None
    rejected_actions: int | None = Field(default=None, ge=0)
    # Follow the sun: every hand-off, in order, as `step: FROM -> TO`.
    handoffs: list[Annotated[str, Field(pattern=HANDOFF_PATTERN)]] | None = None
    # When a step's SLA first ran out, as an instant with its offset.
    breached_at: dict[StepId, Instant] | None = None
    # Linked incidents, by the `open_incident` step that opened each.
    linked: dict[StepId, LinkedExpectation] | None = None
    # How the incident opened: started, refused (a retired version, or a duplicate with
    # `if_duplicate: refuse`), or attached to the open incident it duplicates.
    start: Literal["started", "refused", "attached"] | None = None
    # How many open incidents it was found to duplicate.
    duplicates: int | None = Field(default=None, ge=0)
    # Stakeholder updates, one per update asked, in order (`updates:` of the SOP).
    updates: list[UpdateExpectation] | None = None
    # The post-mortem review the incident started (`review` actions act on it).
    review: ReviewExpectation | None = None


class EarlierIncident(Strict):
    """An incident of the same SOP opened before the rehearsal's, and still open."""

    input: dict[str, Any] = Field(default_factory=dict)
    opened_by: str | None = None


class RehearsalDoc(DocBase):
    kind: Literal["Rehearsal"]
    sop: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}(@[1-9][0-9]*)?$")]
    region: RegionCode | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    # Who opens the incident (a roster person, so four eyes can refuse them); default: nobody
    # on the roster.
    opened_by: str | None = None
    actions: list[RehearsalAction] = Field(default_factory=list)
    expect: Expectation
    description: str = ""
    # The instant the incident opens (in the future: the test server's clock only moves
    # forward). Without it, now: only a story that depends on the calendar needs one.
    starts_at: Instant | None = None
    # Incidents of the same SOP and region opened before this one and still open; with the
    # same `correlation` value, this one is their duplicate.
    earlier: list[EarlierIncident] = Field(default_factory=list)
    # What the opener chooses when it is a duplicate, as `sopflow incident start
    # --if-duplicate` does.
    if_duplicate: Literal["refuse", "start", "attach"] = "refuse"
