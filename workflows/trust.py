"""Signed actions at the worker: every responder action is verified before any validator.

A worker is given a verifier (``sopflow.client.signing.KeyRing.verifier``: the public keys it
trusts) through :func:`verification_interceptor`. The interceptor runs before the workflow's
own update validators; it refuses an action whose signature is missing, made by an unknown
key, does not match the action, is too old or from the future, or is bound to another update
(a replay), and the update is rejected with nothing written to the history.

Fail closed: the workflow's validators call :func:`require_verified`, which refuses any
action the interceptor did not pass, so a worker started without its keys accepts nothing
rather than everything. Validators do not run on replay, so none of this touches
determinism: histories recorded before signing replay unchanged.

No crypto here (the sandbox stays clean): the verifier is passed in by the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from sopflow.contract.assertions import Signable, SignatureRefused
from sopflow.contract.names import REFUSED_ERROR_TYPE

UNVERIFIED = "unverified"

# The update id the interceptor verified, for the validator that runs right after it in the
# same update task (each update runs in its own task, so its own context).
_verified_update: ContextVar[str | None] = ContextVar("sopflow_verified_update", default=None)


ActionVerifier = Callable[[Signable, str, str, datetime], object]
"""Checks one action's signature (action, incident id, update id, the workflow's time);
raises SignatureRefused saying why it fails."""


def refusal(reason: str, cause: str) -> ApplicationError:
    """The error a refused update carries back to the caller: its type tells it from
    Temporal's own failures, its first detail is the cause (the API's status code)."""
    return ApplicationError(reason, cause, type=REFUSED_ERROR_TYPE, non_retryable=True)


# How many accepted request ids an incident remembers: far more than can arrive within a
# signature's lifetime (five minutes) on one incident.
REMEMBERED_REQUESTS = 256


def remember(recent: list[str], action: Signable) -> None:
    """Record an accepted action's request id (in the update handler, so only accepted
    actions count), keeping the latest ``REMEMBERED_REQUESTS``."""
    if action.signature is not None:
        recent.append(action.signature.request_id)
        del recent[:-REMEMBERED_REQUESTS]


def require_fresh(recent: list[str], action: Signable) -> None:
    """Refuse an action whose request was already applied to this incident (in an earlier
    run: within one run Temporal's update ids already make a repeat a no-op)."""
    if action.signature is not None and action.signature.request_id in recent:
        raise refusal(
            f"request {action.signature.request_id!r} was already applied to this incident",
            "conflict",
        )


def require_verified() -> None:
    """Refuse the current update unless the verification interceptor passed it."""
    info = workflow.current_update_info()
    if info is None or _verified_update.get() != info.id:
        raise refusal(
            "this worker verifies no action signatures (it was started without trusted "
            "keys), so it accepts no action",
            UNVERIFIED,
        )


def verification_interceptor(verify: ActionVerifier) -> Interceptor:
    """A worker interceptor that verifies every action's signature with ``verify``."""

    class _Inbound(WorkflowInboundInterceptor):
        def handle_update_validator(self, input: HandleUpdateInput) -> None:
            [action] = input.args
            # Incidents' actions and post-mortem reviews' (sopflow.contract.reviews).
            if not isinstance(action, Signable):
                raise refusal(f"{input.update!r} is not a responder action", UNVERIFIED)
            try:
                # The crypto library's native code imports its exception types lazily; in
                # the sandbox that import would load a second copy of the native module,
                # which aborts the process. Pass its imports through to the host's.
                with workflow.unsafe.imports_passed_through():
                    verify(action, workflow.info().workflow_id, input.id, workflow.now())
            except SignatureRefused as exc:
                raise refusal(f"signature refused: {exc}", UNVERIFIED) from None
            token = _verified_update.set(input.id)
            try:
                super().handle_update_validator(input)
            finally:
                _verified_update.reset(token)

    class _Verification(Interceptor):
        def workflow_interceptor_class(
            self, input: WorkflowInterceptorClassInput
        ) -> type[WorkflowInboundInterceptor]:
            return _Inbound

    return _Verification()
