"""Which payload type each activity's request and result, and each update's request, carry:
what the audit report decodes them as. An activity or update not named here is listed by
name only."""

from __future__ import annotations

from typing import Any

from sopflow.contract.desks import BusinessDue, BusinessDueRequest, DeskTurn, DeskTurnRequest
from sopflow.contract.links import LinkedPlan, LinkedPlanRequest
from sopflow.contract.messages import (
    Cancel,
    CompleteTask,
    DisclosureRequest,
    DisclosureResult,
    EnrichRequest,
    EnrichResult,
    Migrate,
    Note,
    NotifyRequest,
    NotifyResult,
    PostmortemRequest,
    PostmortemResult,
    PostUpdate,
    Vote,
)
from sopflow.contract.names import (
    ACT_BUSINESS_DUE,
    ACT_DESK_TURN,
    ACT_DISCLOSURE,
    ACT_ENRICH,
    ACT_LINKED_PLAN,
    ACT_NOTIFY,
    ACT_POSTMORTEM,
    UPDATE_CANCEL,
    UPDATE_COMPLETE,
    UPDATE_MIGRATE,
    UPDATE_NOTE,
    UPDATE_POST,
    UPDATE_VOTE,
)

REQUESTS: dict[str, type[Any]] = {
    ACT_DESK_TURN: DeskTurnRequest,
    ACT_BUSINESS_DUE: BusinessDueRequest,
    ACT_NOTIFY: NotifyRequest,
    ACT_DISCLOSURE: DisclosureRequest,
    ACT_ENRICH: EnrichRequest,
    ACT_POSTMORTEM: PostmortemRequest,
    ACT_LINKED_PLAN: LinkedPlanRequest,
}
RESULTS: dict[str, type[Any]] = {
    ACT_DESK_TURN: DeskTurn,
    ACT_BUSINESS_DUE: BusinessDue,
    ACT_NOTIFY: NotifyResult,
    ACT_DISCLOSURE: DisclosureResult,
    ACT_ENRICH: EnrichResult,
    ACT_POSTMORTEM: PostmortemResult,
    ACT_LINKED_PLAN: LinkedPlan,
}
UPDATES: dict[str, type[Any]] = {
    UPDATE_COMPLETE: CompleteTask,
    UPDATE_VOTE: Vote,
    UPDATE_NOTE: Note,
    UPDATE_CANCEL: Cancel,
    UPDATE_MIGRATE: Migrate,
    UPDATE_POST: PostUpdate,
}
