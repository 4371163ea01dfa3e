"""The review service: read and act on incidents' post-mortem reviews.

A review is a workflow of its own (``<incident id>/postmortem``, ``workflows/review.py``)
that outlives its incident. Its actions are signed as an incident's are (the claims name the
review's workflow id) and sent as one Update whose id comes from the request id, so a
retried request applies at most once; every refusal is an :class:`ActionRefused`, as the
incident service's. Who may *see* a review is the incident's need-to-know: the callers (API,
CLI) check the incident first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from sopflow.client.actions import new_request_id, update_id
from sopflow.client.connection import QUERY_TIMEOUT, StateUnavailable
from sopflow.client.errors import ActionRefused, NoAnswer, Refusal, refusal_of, refused_by_sopflow
from sopflow.client.incidents import IncidentService, wall_clock
from sopflow.client.signing import ActionSigner
from sopflow.contract.messages import ActionResult
from sopflow.contract.names import QUERY_STATE, UPDATE_REVIEW, WORKFLOW_REVIEW, review_id
from sopflow.contract.reviews import ReviewAction, ReviewState

# Visibility's clause for every review (metrics read them all).
REVIEWS_QUERY = f"WorkflowType = '{WORKFLOW_REVIEW}'"


@dataclass
class ReviewService:
    """Read and act on post-mortem reviews on one Temporal namespace."""

    client: Client
    signer: ActionSigner | None = None
    clock: Callable[[], Awaitable[datetime]] = wall_clock
    action_timeout_s: float = 30.0

    @classmethod
    def of(cls, incidents: IncidentService) -> ReviewService:
        """A review service with the incident service's connection, signer and clock."""
        return cls(incidents.client, incidents.signer, incidents.clock, incidents.action_timeout_s)

    def handle(self, incident_id: str) -> WorkflowHandle[Any, ReviewState]:
        """A handle on the incident's review (whether or not it has one)."""
        return self.client.get_workflow_handle(review_id(incident_id), result_type=ReviewState)

    async def _status(self, incident_id: str) -> WorkflowExecutionStatus | None:
        try:
            description = await self.handle(incident_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ActionRefused(
                    f"incident {incident_id} has no post-mortem review", Refusal.NOT_FOUND
                ) from None
            raise
        return description.status

    async def state(self, incident_id: str) -> ReviewState:
        """The whole review: a done review's result, else the ``state`` query. ActionRefused
        (NOT_FOUND) when the incident has none; StateUnavailable when no worker answers."""
        status = await self._status(incident_id)
        handle = self.handle(incident_id)
        if status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        try:
            state: ReviewState = await handle.query(
                QUERY_STATE, result_type=ReviewState, rpc_timeout=QUERY_TIMEOUT
            )
        except (RPCError, WorkflowQueryFailedError) as exc:
            if isinstance(exc, RPCError) and exc.status == RPCStatusCode.UNAVAILABLE:
                raise
            raise StateUnavailable(f"no worker answered the state query ({exc})") from exc
        return state

    async def act(
        self, incident_id: str, action: ReviewAction, *, request_id: str | None = None
    ) -> ActionResult:
        """Apply one action to the incident's review. Raises ActionRefused (no review, done
        already, or the review's validator said no, with its reason) or NoAnswer."""
        rid = request_id or new_request_id()
        update = update_id(action, rid)
        target = review_id(incident_id)
        if self.signer is not None:
            action = self.signer.sign(action, target, rid, await self.clock())
        handle = self.handle(incident_id)
        try:
            call = handle.execute_update(UPDATE_REVIEW, action, id=update, result_type=ActionResult)
            return await asyncio.wait_for(call, self.action_timeout_s)
        except WorkflowUpdateFailedError as exc:
            if not refused_by_sopflow(exc):
                raise ActionRefused(str(exc.cause or exc), Refusal.REFUSED) from None
            raise refusal_of(exc) from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise NoAnswer(
                f"the review of {incident_id} did not answer in {self.action_timeout_s:.0f}s "
                "(is a worker running?)"
            ) from None
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            if await self._status(incident_id) != WorkflowExecutionStatus.RUNNING:
                reason = f"the post-mortem review of {incident_id} is done"
                raise ActionRefused(reason, Refusal.CLOSED) from None
            raise

    async def all(self, query: str = "") -> list[ReviewState]:
        """Every review visibility lists (narrowed by ``query``), newest first, each read
        whole; those no worker can answer for are left out (metrics count what they read)."""
        scoped = f"{REVIEWS_QUERY} AND ({query})" if query.strip() else REVIEWS_QUERY
        found: list[ReviewState] = []
        async for wf in self.client.list_workflows(scoped):
            incident = wf.id.removesuffix("/postmortem")
            try:
                found.append(await self.state(incident))
            except (ActionRefused, StateUnavailable):
                continue
        return found
