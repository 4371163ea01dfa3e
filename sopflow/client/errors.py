"""The errors of the incident service: every way an action or a lookup can be turned down is
one ``ActionRefused`` with a ``kind`` (the HTTP API maps each kind to its status code), and a
request nobody answered in time is ``NoAnswer``."""

from __future__ import annotations

from enum import StrEnum

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, FailureError

from sopflow.contract.names import REFUSED_ERROR_TYPE


class Refusal(StrEnum):
    """Why an action was turned down: one stable cause per way it can fail."""

    NOT_FOUND = "not_found"  # no workflow with that id
    NOT_AN_INCIDENT = "not_an_incident"  # a workflow, but not a sopflow incident
    CLOSED = "closed"  # the incident has ended
    REFUSED = "refused"  # the workflow said no: the incident's state does not allow it now
    FORBIDDEN = "forbidden"  # the person does not hold the role the action needs
    INVALID = "invalid"  # the form data fails the step's schema
    UNVERIFIED = "unverified"  # the worker refused the action's signature (or it had none)
    EXISTS = "exists"  # a start with an incident id already used (even by a closed one)

    @classmethod
    def of_cause(cls, cause: str | None) -> Refusal:
        """The refusal for a cause the workflow gives (an unknown one is REFUSED)."""
        known = {cls.FORBIDDEN, cls.INVALID, cls.UNVERIFIED}
        return cls(cause) if cause in known else cls.REFUSED


class ActionRefused(Exception):
    """An action or lookup the service turned down; ``str()`` is the reason for people."""

    def __init__(self, reason: str, kind: Refusal) -> None:
        super().__init__(reason)
        self.reason, self.kind = reason, kind


class NoAnswer(Exception):
    """The incident did not answer in time (no worker running?). Retrying with the same
    request id is safe: Temporal applies an update id at most once."""


def refused_by_sopflow(exc: WorkflowUpdateFailedError) -> bool:
    """The incident workflow's validator refused the action (rather than Temporal failing an
    update the workflow has no handler for)."""
    return isinstance(exc.cause, ApplicationError) and exc.cause.type == REFUSED_ERROR_TYPE


def _reason(exc: WorkflowUpdateFailedError) -> str:
    cause = exc.cause
    return str(cause.message if isinstance(cause, ApplicationError | FailureError) else exc)


def refusal_of(exc: WorkflowUpdateFailedError) -> ActionRefused:
    """The refusal a failed update means: the workflow's reason, and the cause the first
    detail of its error names."""
    details = exc.cause.details if isinstance(exc.cause, ApplicationError) else ()
    return ActionRefused(_reason(exc), Refusal.of_cause(str(details[0]) if details else None))
