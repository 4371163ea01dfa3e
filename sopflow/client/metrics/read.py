"""Reading the facts of a window's incidents from Temporal: the only source, no second store.

Visibility lists the runs that started in the window; each incident's state is then read
the way ``IncidentService.state`` reads it (``connection.incident_state``): a completed run's
result, which is its final state and needs no worker, else the ``state`` query. Raw history
events are never parsed: the final state holds every figure metrics need. Reads run
concurrently, at most ``concurrency`` at once; closed runs' facts are cached on disk by run
id (``FactsCache``). The post-mortem reviews of those incidents are read the same way, for
the repeat causes (``read_reviews``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from sopflow.client.connection import StateUnavailable, incident_state, incident_status
from sopflow.client.metrics.cache import FactsCache
from sopflow.client.metrics.compute import DIMENSIONS, Dimension, Metrics, compute, in_window
from sopflow.client.metrics.facts import IncidentFacts, facts_of
from sopflow.client.metrics.read_reviews import list_reviews, read_reviews
from sopflow.client.metrics.window import Window, runs_query
from sopflow.client.visibility import incidents_only
from sopflow.contract import search
from sopflow.contract.messages import IncidentState

DEFAULT_CONCURRENCY = 16
Progress = Callable[[int, int], None]
"""Told ``(done, total)`` after each incident is read (and ``(0, total)`` first)."""


@dataclass(frozen=True, slots=True)
class Collected:
    """A window's metrics and the facts they were computed from (the incidents opened in
    the window, in the order their runs started): the charts need the facts themselves."""

    metrics: Metrics
    facts: list[IncidentFacts]


async def collect(
    client: Client,
    window: Window,
    by: Sequence[Dimension] = DIMENSIONS,
    *,
    state_dir: Path | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> Metrics:
    """The metrics of the incidents opened in ``window``, read from Temporal (closed runs'
    facts cached under ``state_dir``, when given)."""
    found = await collect_facts(
        client, window, by, state_dir=state_dir, concurrency=concurrency, progress=progress
    )
    return found.metrics


async def collect_facts(
    client: Client,
    window: Window,
    by: Sequence[Dimension] = DIMENSIONS,
    *,
    roles: Iterable[str] | None = None,
    state_dir: Path | None = None,
    cache: FactsCache | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> Collected:
    """The facts of the incidents opened in ``window`` and their metrics, read from
    Temporal. With ``roles``, only the incidents a person holding them may see are listed
    (need-to-know), so no other is ever read or counted; without, every incident (an
    operator's view). Closed runs' facts come from and go to ``cache``, else a cache under
    ``state_dir`` when given."""
    runs = await list_runs(client, window, roles=roles, concurrency=concurrency)
    cache = cache or FactsCache(state_dir)
    read = await read_facts(client, runs, cache, concurrency, progress)
    chosen = [f for f in read if in_window(f.opened_at, window.since, window.until)]
    listed = await list_reviews(client, window, {f.id for f in chosen})
    reviews = await read_reviews(client, listed, cache, concurrency)
    found = compute(chosen, by, since=window.since, until=window.until, reviews=reviews.facts)
    found = found.model_copy(update={"reviews_unreadable": reviews.unreadable})
    return Collected(found, chosen)


async def list_runs(
    client: Client,
    window: Window,
    *,
    roles: Iterable[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[WorkflowExecution]:
    """The latest run of every incident with a run that started in ``window`` (with
    ``roles``, of every such incident a person holding them may see).

    Runs that continued as new are listed too (an incident's first run is the one that
    started when it was opened) and replaced by the incident's latest run, which carries
    its whole state."""
    latest: dict[str, WorkflowExecution] = {}
    continued: set[str] = set()
    async for wf in client.list_workflows(incidents_only(runs_query(window), roles)):
        if wf.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
            continued.add(wf.id)
        else:
            latest.setdefault(wf.id, wf)
    gate = asyncio.Semaphore(concurrency)

    async def describe(incident_id: str) -> WorkflowExecution | None:
        async with gate:
            try:
                return await client.get_workflow_handle(incident_id).describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None  # deleted by retention since it was listed
                raise

    found = await asyncio.gather(*(describe(i) for i in sorted(continued - latest.keys())))
    latest.update((wf.id, wf) for wf in found if wf is not None)
    return sorted(latest.values(), key=lambda wf: (wf.start_time, wf.id))


async def read_facts(
    client: Client,
    runs: Iterable[WorkflowExecution],
    cache: FactsCache | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> list[IncidentFacts]:
    """The facts of each run, in order: at most ``concurrency`` reads at once."""
    listed = list(runs)
    cache = cache or FactsCache(None)
    gate = asyncio.Semaphore(max(1, concurrency))
    done = 0
    if progress is not None:
        progress(0, len(listed))

    async def one(wf: WorkflowExecution) -> IncidentFacts:
        nonlocal done
        async with gate:
            facts = await facts_of_run(client, wf, cache)
        done += 1
        if progress is not None:
            progress(done, len(listed))
        return facts

    return list(await asyncio.gather(*(one(wf) for wf in listed)))


async def facts_of_run(client: Client, wf: WorkflowExecution, cache: FactsCache) -> IncidentFacts:
    """One run's facts: from the cache for a closed run read before, else from its state;
    from visibility alone when no state can be had (no worker answered the query)."""
    closed = wf.status not in (None, WorkflowExecutionStatus.RUNNING)
    if closed and (cached := cache.get(wf.run_id)) is not None:
        return cached
    handle: WorkflowHandle[Any, IncidentState] = client.get_workflow_handle(
        wf.id, run_id=wf.run_id, result_type=IncidentState
    )
    try:
        state = await incident_state(handle, wf.status)
    except StateUnavailable:
        return visibility_facts(wf)
    facts = facts_of(state, run_id=wf.run_id, status=incident_status(wf.status, state, None))
    if closed and wf.status != WorkflowExecutionStatus.COMPLETED and wf.close_time:
        # Temporal ended it (terminated, timed out): its close time is Temporal's.
        facts = facts.model_copy(update={"closed_at": wf.close_time})
    if closed:
        cache.put(facts)
    return facts


def visibility_facts(wf: WorkflowExecution) -> IncidentFacts:
    """What visibility alone knows of a run: counted by outcome, never timed."""
    attrs = wf.typed_search_attributes
    outcome = attrs.get(search.OUTCOME)
    return IncidentFacts(
        id=wf.id,
        run_id=wf.run_id,
        sop=attrs.get(search.SOP_ID) or wf.workflow_type,
        version=attrs.get(search.SOP_VERSION),
        region=attrs.get(search.REGION),
        severity=attrs.get(search.SEVERITY),
        status=incident_status(wf.status, None, outcome),
        outcome=outcome,
        opened_at=wf.start_time,
        closed_at=wf.close_time,
        readable=False,
    )
