"""Reading the post-mortem reviews of a window's incidents from Temporal, for the repeat
causes of ``sopflow metrics``.

Visibility lists the reviews (``WorkflowType = 'sopflow.postmortem_review'``) that started
since the window did (a review starts after its incident opens); those of the window's
incidents are kept, so need-to-know follows the incidents'. Each review's state is read as
an incident's is: a completed run's result (no worker needed), else the ``state`` query;
closed reviews' facts are cached by run id (``FactsCache``). A review no worker answers for
is left out, and counted as such.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from sopflow.client.connection import QUERY_TIMEOUT
from sopflow.client.metrics.cache import FactsCache
from sopflow.client.metrics.causes import ReviewFacts, review_facts
from sopflow.client.metrics.window import Window, stamp
from sopflow.client.reviews import REVIEWS_QUERY
from sopflow.contract.names import QUERY_STATE
from sopflow.contract.reviews import ReviewState

_SUFFIX = "/postmortem"


@dataclass(frozen=True, slots=True)
class ReadReviews:
    """The reviews read, and how many listed could not be (no worker answered)."""

    facts: list[ReviewFacts]
    unreadable: int = 0


async def list_reviews(
    client: Client, window: Window, incidents: Collection[str]
) -> list[WorkflowExecution]:
    """The reviews of ``incidents`` (their ids) that started since the window did."""
    query = f"{REVIEWS_QUERY} AND StartTime >= '{stamp(window.since)}'"
    found: dict[str, WorkflowExecution] = {}
    async for wf in client.list_workflows(query):
        if wf.id.removesuffix(_SUFFIX) in incidents:
            found.setdefault(wf.id, wf)  # newest first: a review runs once
    return sorted(found.values(), key=lambda wf: (wf.start_time, wf.id))


async def read_reviews(
    client: Client,
    runs: Iterable[WorkflowExecution],
    cache: FactsCache | None = None,
    concurrency: int = 16,
) -> ReadReviews:
    """The facts of each review run, in order, at most ``concurrency`` reads at once."""
    cache = cache or FactsCache(None)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(wf: WorkflowExecution) -> ReviewFacts | None:
        async with gate:
            return await review_facts_of_run(client, wf, cache)

    read = await asyncio.gather(*(one(wf) for wf in runs))
    facts = [f for f in read if f is not None]
    return ReadReviews(facts, len(read) - len(facts))


async def review_facts_of_run(
    client: Client, wf: WorkflowExecution, cache: FactsCache
) -> ReviewFacts | None:
    """One review's facts: cached for a closed run read before, else from its result or
    the ``state`` query; None when no worker answers."""
    closed = wf.status not in (None, WorkflowExecutionStatus.RUNNING)
    if closed and (cached := cache.get_review(wf.run_id)) is not None:
        return cached
    handle: WorkflowHandle[Any, ReviewState] = client.get_workflow_handle(
        wf.id, run_id=wf.run_id, result_type=ReviewState
    )
    if wf.status == WorkflowExecutionStatus.COMPLETED:
        state = await handle.result()
    else:
        try:
            state = await handle.query(
                QUERY_STATE, result_type=ReviewState, rpc_timeout=QUERY_TIMEOUT
            )
        except (RPCError, WorkflowQueryFailedError) as exc:
            if isinstance(exc, RPCError) and exc.status == RPCStatusCode.UNAVAILABLE:
                raise  # the server, not the worker, is out of reach
            return None
    facts = review_facts(state, wf.run_id)
    if closed:
        cache.put_review(facts)
    return facts
