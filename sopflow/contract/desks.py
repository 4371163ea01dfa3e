"""What the workflow asks of the Rota while an incident runs, and the answers.

Desk calendars and who is on call change on their own schedule (a new holiday, next week's
rota), so they are never part of a plan: the interpreter asks an activity, which reads the
Rota as it is at that moment, and the answer is recorded in the history. A replay reads the
same answers, so due times and hand-offs are the same instants every time.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeskTurnRequest(_Model):
    """Which desk holds a follow-the-sun step at ``at``, given that ``holder`` holds it now."""

    incident_id: str
    step: str
    roles: list[str] = Field(min_length=1)
    every: bool  # a desk covers when someone is on call for every role (else: for any)
    holder: str
    at: datetime


class DeskTurn(_Model):
    """The desk that holds the step from ``at``, until when, and who is on call there."""

    desk: str
    until: datetime | None  # None: no change within the Rota's horizon
    people: list[str]
    reason: str
    rota: str  # a digest of the Rota document read


class BusinessDueRequest(_Model):
    """When ``seconds`` of ``desk``'s business time, counted from ``start``, have passed."""

    incident_id: str
    step: str
    desk: str
    start: datetime
    seconds: int = Field(ge=0)


class BusinessDue(_Model):
    due: datetime
    paused: list[str]  # why the clock stopped on the way (holidays, off hours)
    rota: str
