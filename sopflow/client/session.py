"""One connected session for a command or a request: connect from the environment, hand the
caller the incident service, and turn every Temporal transport failure into one of two
errors that say what happened in a sentence (no traceback reaches a person)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

from sopflow.client.codec import CodecError
from sopflow.client.connection import address_from_env, connect, task_queue_from_env
from sopflow.client.incidents import IncidentService
from sopflow.client.signing import ActionSigner

T = TypeVar("T")


class TemporalUnavailable(Exception):
    """The Temporal frontend could not be reached (or did not answer in time)."""


class TemporalError(Exception):
    """Temporal answered, and refused the request for a reason of its own."""


async def with_service(
    action: Callable[[IncidentService], Awaitable[T]], signer: ActionSigner | None = None
) -> T:
    """Connect from the environment (``TEMPORAL_ADDRESS``, TLS, codec keys; see
    ``sopflow.client.connection``) and run ``action`` with the incident service on
    ``$SOPFLOW_TASK_QUEUE``, signing actions with ``signer``. Raises CodecError for
    misconfigured payload keys, TemporalUnavailable and TemporalError for the server; the
    service's own errors (ActionRefused, NoAnswer, StateUnavailable) pass through."""
    address = address_from_env()
    try:
        client = await connect()
    except CodecError:
        raise  # the payload keys are misconfigured, not the server
    except Exception as exc:  # the SDK raises RuntimeError for every connect failure
        raise TemporalUnavailable(f"cannot reach Temporal at {address}: {exc}") from None
    try:
        service = IncidentService(client, task_queue=task_queue_from_env(), signer=signer)
        return await action(service)
    except RPCError as exc:
        failure = temporal_failure(exc)
        assert failure is not None  # every RPCError has a meaning
        raise failure from None


class TemporalRefusedArgument(TemporalError):
    """Temporal refused an argument (e.g. a visibility query it cannot parse): the caller's
    input, not the server, is at fault."""


def temporal_failure(exc: BaseException) -> TemporalUnavailable | TemporalError | None:
    """What a Temporal transport error means, in a sentence; None for any other error.

    For callers that must not import ``temporalio`` (the CLI, the HTTP API)."""
    if not isinstance(exc, RPCError):
        return None
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return TemporalUnavailable(f"cannot reach Temporal at {address_from_env()}: {exc.message}")
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return TemporalRefusedArgument(f"Temporal refused the request: {exc.message}")
    return TemporalError(f"Temporal refused the request: {exc.message}")
