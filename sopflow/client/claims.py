"""Stepping away: every task or approval a person has claimed goes back to its desk's queue,
with their note, so nothing they held waits on someone who has left the desk.

Claims are kept by each incident (its steps' ``claimed_by``), not in visibility: stepping
away reads the state of the running incidents waiting on the person's roles, a few at a time.
It is rare, and the list is the person's desk's open work, not every incident.
"""

from __future__ import annotations

import asyncio

from sopflow.client.connection import StateUnavailable
from sopflow.client.incidents import ActionRefused, IncidentService
from sopflow.client.queues import open_tasks_query
from sopflow.contract.messages import Actor, Note

# Incidents read at once while looking for the person's claims.
READ_AT_ONCE = 16


async def step_away(service: IncidentService, actor: Actor, text: str) -> list[tuple[str, str]]:
    """Release every active step ``actor`` has claimed, with ``text`` as the note; the
    (incident, step) pairs released, in incident order."""
    roles = actor.every_role()
    if not roles:
        return []
    query = open_tasks_query(roles, roles)
    found = [wf.id async for wf in service.client.list_workflows(query)]
    gate = asyncio.Semaphore(READ_AT_ONCE)

    async def release_in(incident_id: str) -> list[tuple[str, str]]:
        async with gate:
            try:
                state = await service.state(incident_id)
            except (ActionRefused, StateUnavailable):
                return []  # closed meanwhile, or no worker: nothing of theirs to release now
            mine = [
                sid
                for sid, s in sorted(state.steps.items())
                if s.claimed_by == actor.id and s.status == "active"
            ]
            released = []
            for step in mine:
                note = Note(actor=actor, text=text, step=step, claim="release")
                try:
                    await service.act(incident_id, note)
                except ActionRefused:
                    continue  # done or reassigned meanwhile: no longer theirs
                released.append((incident_id, step))
            return released

    done = await asyncio.gather(*(release_in(i) for i in sorted(found)))
    return [pair for pairs in done for pair in pairs]
