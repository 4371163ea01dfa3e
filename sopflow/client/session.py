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
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise TemporalUnavailable(
                f"cannot reach Temporal at {address}: {exc.message}"
            ) from None
        raise TemporalError(f"Temporal refused the request: {exc.message}") from None
