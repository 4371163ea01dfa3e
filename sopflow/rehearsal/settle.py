"""Waiting until incidents are quiet: no workflow task, activity or child start outstanding in
their histories. A rehearsal sends its next action only then, so an action never races the
step it acts on; incidents that an `open_incident` step opened, and post-mortem reviews
(children that outlive the incident that started them), are waited on with the one that
opened them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

# Real-time bound on waiting for an incident to become quiet after one action.
SETTLE_DEADLINE_S = 30.0


class NotQuiet(Exception):
    """The incident did not become quiet in time; the message says why."""


_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
}
_TASK_DONE = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
_ACTIVITY_DONE = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}


_CHILD_STARTED = {
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: (
        "child_workflow_execution_started_event_attributes"
    ),
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: (
        "start_child_workflow_execution_failed_event_attributes"
    ),
}


async def settle_linked(client: Client, incident_id: str, also: Sequence[str] = ()) -> None:
    """Wait until the incident and every workflow it started (linked incidents and its
    post-mortem review, and so on) are quiet at once: a linked incident closing wakes the one
    waiting for it, so the whole family is read again until one pass finds nothing moved.

    ``also`` names workflows to wait on too once they exist (an incident's review: after a
    continue-as-new, the history that started it is no longer the current run's)."""
    while True:
        seen: dict[str, int] = {}
        pending = [incident_id]
        while pending:
            workflow_id = pending.pop()
            events = await settle(client.get_workflow_handle(workflow_id))
            seen[workflow_id] = len(events)
            pending += [c for c in children_of(events) if c not in seen]
            if not pending:
                pending = [w for w in also if w not in seen and await _exists(client, w)]
        again = {w: len((await client.get_workflow_handle(w).fetch_history()).events) for w in seen}
        if again == seen:
            return


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def children_of(events: Sequence[HistoryEvent]) -> list[str]:
    """The ids of the incidents this history started as children."""
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


async def settle(
    handle: WorkflowHandle[Any, Any], deadline_s: float = SETTLE_DEADLINE_S
) -> Sequence[HistoryEvent]:
    """Wait until the incident's history is quiet (no workflow task, activity or child start
    outstanding) and stays so between two reads, and return its events; NotQuiet past the
    deadline, naming a failing workflow task's error when that is why."""
    stop = time.monotonic() + deadline_s
    quiet_length = -1
    while True:
        events = (await handle.fetch_history()).events
        if _quiet(events):
            if len(events) == quiet_length:
                return events
            quiet_length = len(events)
        else:
            quiet_length = -1
        if time.monotonic() > stop:
            raise NotQuiet(_why_not_quiet(events, deadline_s))
        await asyncio.sleep(0.005)


def _quiet(events: Sequence[HistoryEvent]) -> bool:
    if events and events[-1].event_type in _CLOSED:
        return True
    tasks_open = 0
    task_failing = False  # retries of a failed workflow task are not in the history
    activities_open: set[int] = set()
    children_starting: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            tasks_open += 1
        elif kind in _TASK_DONE:
            tasks_open = max(tasks_open - 1, 0)
            task_failing = kind != EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities_open.add(event.event_id)
        elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            children_starting.add(event.event_id)
        elif kind in _CHILD_STARTED:
            attributes = getattr(event, _CHILD_STARTED[kind])
            children_starting.discard(attributes.initiated_event_id)
        elif kind in _ACTIVITY_DONE:
            attributes = getattr(event, _ACTIVITY_DONE[kind])
            activities_open.discard(attributes.scheduled_event_id)
    return tasks_open == 0 and not task_failing and not activities_open and not children_starting


def _why_not_quiet(events: Sequence[HistoryEvent], deadline_s: float) -> str:
    for event in reversed(events):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            return f"the workflow task keeps failing: {failure.message}"
    return f"the incident was still busy after {deadline_s:.0f}s of real time"
