"""Every open task across running incidents, kept in memory and brought up to date from what
changed: what an inbox reads on every load.

Listing every running incident on every load costs seconds at a few thousand incidents (the
visibility query, and decoding every incident's search attributes). The index lists them
once, then asks visibility only for the incidents that changed since its last look
(``ChangedAt``, a close, a start; and running ones that keep no ``ChangedAt``), at most once
a second and only when someone reads. Incidents this process acted on are read again at
once with ``describe`` (no visibility lag), so a person's own action shows on their next
page. After a long quiet spell it lists everything again, since the window of changes it
can ask for is bounded.

A person's queue is then a filter in memory: their roles, and need-to-know (``Audience``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowExecution, WorkflowExecutionStatus

from sopflow.client.views import OpenTask, by_due_time, restricted_to
from sopflow.client.visibility import admits
from sopflow.contract import search
from sopflow.contract.messages import Actor

MAX_AGE_S = 1.0  # a read older than this looks again
MARGIN = timedelta(seconds=10)  # visibility's lag and clocks' skew, covered twice over
# What changed since the last look is asked for however long ago that was; everything is
# listed again now and then all the same (an incident deleted by retention leaves no trace).
RELIST_AFTER = timedelta(minutes=10)
RUNNING = "ExecutionStatus = 'Running' AND SopId IS NOT NULL"

Lister = Callable[[str], AsyncIterator[WorkflowExecution]]
TasksOf = Callable[[WorkflowExecution], Awaitable[list[OpenTask]]]
Describe = Callable[[str], Awaitable[WorkflowExecution | None]]


def changed_query(since: datetime) -> str:
    """Incidents started, changed or closed since ``since``, and the running ones that keep
    no ``ChangedAt`` (started before it existed, or not yet waiting on anyone)."""
    at = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"SopId IS NOT NULL AND (ChangedAt > '{at}' OR CloseTime > '{at}' OR StartTime > "
        f"'{at}' OR (ExecutionStatus = 'Running' AND ChangedAt IS NULL))"
    )


@dataclass(frozen=True, slots=True)
class Listed:
    """One running incident's open tasks (each with every role that may act on it), and who
    may see it (None: everyone who holds a role)."""

    tasks: tuple[OpenTask, ...]
    restricted_to: tuple[str, ...] | None


class OpenTaskIndex:
    """The open tasks of every running incident, by incident id (see the module's doc)."""

    def __init__(self, lister: Lister, tasks_of: TasksOf, describe: Describe) -> None:
        self._list, self._tasks_of, self._describe = lister, tasks_of, describe
        self._entries: dict[str, Listed] = {}
        self._ordered: list[tuple[OpenTask, tuple[str, ...] | None]] | None = None
        self._synced_at: datetime | None = None  # wall clock when the last look began
        self._looked = float("-inf")  # monotonic, same moment
        self._dirty: set[str] = set()
        self._lock = asyncio.Lock()

    def changed(self, incident_id: str) -> None:
        """This process changed the incident (an action, a start): read it again next time."""
        self._dirty.add(incident_id)

    async def tasks_for(self, actor: Actor) -> list[OpenTask]:
        """The open tasks ``actor``'s roles may act on, in incidents they may see, soonest due
        first; each task's ``roles`` are the ones of theirs that may act."""
        await self._fresh()
        held = set(actor.every_role())
        mine = []
        for task, restricted in self._ordered or []:
            if held.isdisjoint(task.roles) or not admits(restricted, held):
                continue
            if held.issuperset(task.roles):
                mine.append(task)  # the usual case: no copy
            else:
                mine.append(replace(task, roles=tuple(r for r in task.roles if r in held)))
        return mine

    async def _fresh(self) -> None:
        if time.monotonic() - self._looked < MAX_AGE_S and not self._dirty:
            return
        async with self._lock:  # one look for everyone waiting
            if time.monotonic() - self._looked < MAX_AGE_S and not self._dirty:
                return
            await self._look()

    async def _look(self) -> None:
        began, began_mono = datetime.now(UTC), time.monotonic()
        if self._synced_at is None or began - self._synced_at > RELIST_AFTER:
            found = [wf async for wf in self._list(RUNNING)]
            self._entries = {}
        else:
            found = [wf async for wf in self._list(changed_query(self._synced_at - MARGIN))]
        dirty, self._dirty = self._dirty, set()
        fresh = await asyncio.gather(*(self._describe(i) for i in dirty))
        found += [wf for wf in fresh if wf is not None]
        gone = {i for i, wf in zip(dirty, fresh, strict=True) if wf is None}
        await self._take(found, gone)
        self._synced_at, self._looked = began, began_mono

    async def _take(self, found: list[WorkflowExecution], gone: set[str]) -> None:
        latest = {wf.id: wf for wf in found}  # a described one after its listed self
        running = [wf for wf in latest.values() if wf.status == WorkflowExecutionStatus.RUNNING]
        per_incident = await asyncio.gather(*(self._tasks_of(wf) for wf in running))
        before = dict(self._entries)
        for incident in [*latest, *gone]:
            self._entries.pop(incident, None)
        for wf, tasks in zip(running, per_incident, strict=True):
            audience = wf.typed_search_attributes.get(search.AUDIENCE)
            self._entries[wf.id] = Listed(tuple(tasks), restricted_to(audience))
        # Most looks find only what they saw last time (the margin asks again for the last
        # seconds' changes): the ordered list is kept, not rebuilt, so a steady inbox makes
        # no garbage (a full collection over a big index stalls a page for a quarter second).
        if self._ordered is not None and self._entries == before:
            return
        self._ordered = sorted(
            ((t, e.restricted_to) for e in self._entries.values() for t in e.tasks),
            key=lambda pair: by_due_time(pair[0]),
        )
