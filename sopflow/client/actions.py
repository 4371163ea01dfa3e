"""The actions the incident service sends, and the update ids that make a retried request
apply at most once."""

from __future__ import annotations

import uuid
from typing import assert_never

from sopflow.contract.messages import (
    Cancel,
    CompleteTask,
    ExternalEvent,
    Migrate,
    Note,
    PostUpdate,
    Vote,
)
from sopflow.contract.names import (
    SIGNAL_EVENT,
    UPDATE_CANCEL,
    UPDATE_COMPLETE,
    UPDATE_MIGRATE,
    UPDATE_NOTE,
    UPDATE_POST,
    UPDATE_REVIEW,
    UPDATE_VOTE,
)
from sopflow.contract.reviews import ReviewAction

Action = CompleteTask | Vote | Note | Cancel | Migrate | PostUpdate | ExternalEvent
"""What a person (or, for ``ExternalEvent``, an outside system) can do to an incident."""


def new_request_id() -> str:
    """A fresh request id (a UUID): pass it again to retry the same action safely."""
    return str(uuid.uuid4())


def update_id(action: Action | ReviewAction, request_id: str) -> str:
    """The Temporal update id of one request: the same request id gives the same update id,
    so Temporal applies a retried request at most once."""
    name, step = _update_key(action)
    return f"{name}:{step or '-'}:{request_id}"


def _update_key(action: Action | ReviewAction) -> tuple[str, str | None]:
    match action:
        case CompleteTask():
            return UPDATE_COMPLETE, action.step
        case Vote():
            return UPDATE_VOTE, action.step
        case Note():
            return UPDATE_NOTE, action.step
        case Cancel():
            return UPDATE_CANCEL, None
        case Migrate():
            return UPDATE_MIGRATE, None
        case PostUpdate():
            return UPDATE_POST, None
        case ExternalEvent():
            return SIGNAL_EVENT, None
        case ReviewAction():  # a post-mortem review's (sopflow.client.reviews)
            return UPDATE_REVIEW, action.kind
        case _:
            assert_never(action)
