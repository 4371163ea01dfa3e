"""Post-mortem reviews in a rehearsal: the `review` action (one action on the incident's
review, as ``sopflow postmortem`` sends it) and ``expect.review`` (what became of the review
when the story ended). docs/authoring.md describes both; ``sopflow.rehearsal.reviews`` plays
and compares them, and ``sopflow.language.checks.rehearsal_reviews`` lints them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sopflow.contract.reviews import MAX_FACTOR, MAX_FACTORS, MAX_TEXT, MAX_TITLE
from sopflow.language.models.common import Duration, StepId, Strict


class AddItemBody(Strict):
    """Add an action item (``sopflow postmortem item add``). Items are numbered A1, A2, ...
    in the order they are added."""

    title: str = Field(min_length=1, max_length=MAX_TITLE, description="What is to be done")
    owner: str = Field(
        min_length=1, max_length=MAX_TITLE, description="Who does it: a roster handle or a role"
    )
    due: Duration = Field(description="How long from this action until it is due")


class CloseItemBody(Strict):
    """Close an action item (``sopflow postmortem item close``)."""

    item: str = Field(pattern=r"^A[1-9][0-9]*$", description="The item: A1, A2, ...")
    note: str = Field(min_length=1, max_length=MAX_TEXT, description="What was done")


class RootCauseBody(Strict):
    """Record (or revise) the root cause (``sopflow postmortem root-cause``)."""

    factors: list[str] = Field(
        min_length=1,
        max_length=MAX_FACTORS,
        description="Contributing factors, as short codes (late-signal, no-runbook)",
    )
    step: StepId | None = Field(default=None, description="The SOP step involved")
    policy: str | None = Field(default=None, description="The disclosure policy involved")
    changes: str = Field(min_length=1, max_length=MAX_TEXT, description="What changes as a result")

    @model_validator(mode="after")
    def _short_factors(self) -> RootCauseBody:
        if any(not f.strip() or len(f) > MAX_FACTOR for f in self.factors):
            raise ValueError(f"each factor is a short code of 1 to {MAX_FACTOR} characters")
        return self


class DoneBody(Strict):
    """Mark the review done (``sopflow postmortem done``); refused while an item is open."""

    note: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)


REVIEW_ACTION_KINDS = ("add_item", "close_item", "root_cause", "done")
"""What a `review` action does (exactly one), as ``ReviewAction.kind`` names it."""


class ReviewRehearsalAction(Strict):
    """A rehearsal action on the incident's post-mortem review (which exists once its
    `postmortem` step has run), as the roster person ``as``."""

    as_: str = Field(alias="as", description="The roster person who acts")
    add_item: AddItemBody | None = None
    close_item: CloseItemBody | None = None
    root_cause: RootCauseBody | None = None
    done: DoneBody | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ReviewRehearsalAction:
        chosen = [k for k in REVIEW_ACTION_KINDS if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"a review action is exactly one of {', '.join(REVIEW_ACTION_KINDS)} "
                f"(found: {', '.join(chosen) or 'none'})"
            )
        return self

    @property
    def kind(self) -> Literal["add_item", "close_item", "root_cause", "done"]:
        """Which of the four it is."""
        if self.add_item is not None:
            return "add_item"
        if self.close_item is not None:
            return "close_item"
        return "root_cause" if self.root_cause is not None else "done"


class ReviewItemExpectation(Strict):
    """One action item, in the order added. Only the fields written are compared."""

    status: Literal["open", "closed"] = Field(description="open, or closed (with a note)")
    title: str | None = Field(default=None, description="Its title, as added")
    owner: str | None = Field(default=None, description="Its owner, as added")
    closed_by: str | None = Field(default=None, description="Who closed it (a roster handle)")


class ReviewExpectation(Strict):
    """What became of the incident's post-mortem review when the story ended. Only the
    fields written are compared."""

    status: Literal["open", "closed", "none"] = Field(
        description="open, closed (marked done), or none (no review was started)"
    )
    items: list[ReviewItemExpectation] | None = Field(
        default=None, description="Every action item, in the order added"
    )
    factors: list[str] | None = Field(
        default=None, description="The root cause's contributing factors, as recorded"
    )
    reminders: int | None = Field(
        default=None, ge=0, description="How many reminders it sent (review and items)"
    )
    escalations: int | None = Field(
        default=None, ge=0, description="How many overdue escalations it sent"
    )
