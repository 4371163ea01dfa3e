"""What the audit report keeps about an activity and an update while it reads a history,
and the two ways it writes times: an event's server time, and durations as people say them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.history.v1 import HistoryEvent

from sopflow.audit.report_model import ActivityStatus, EventRef


def event_time(event: HistoryEvent) -> datetime:
    """The server's time of an event, in UTC."""
    return event.event_time.ToDatetime(tzinfo=UTC)


def human_seconds(seconds: float) -> str:
    """``90`` -> ``1m30s``; ``599.98`` -> ``10m``: durations as people say them."""
    total = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


# How an activity ended, by the attributes of the event that ended it (else: completed).
ACTIVITY_ENDS: dict[str, ActivityStatus] = {
    "activity_task_failed_event_attributes": "failed",
    "activity_task_timed_out_event_attributes": "timed_out",
    "activity_task_canceled_event_attributes": "cancelled",
}
# How a run ended other than by completing, by the attributes of its closing event.
WORKFLOW_CLOSES = {
    "workflow_execution_failed_event_attributes": "failed",
    "workflow_execution_terminated_event_attributes": "terminated",
    "workflow_execution_canceled_event_attributes": "cancelled",
    "workflow_execution_timed_out_event_attributes": "timed_out",
}


@dataclass
class ActivityRecord:
    name: str
    at: datetime
    ref: EventRef
    request: Any
    status: ActivityStatus = "pending"
    completed: EventRef | None = None
    result: Any = None
    failure: str | None = None


@dataclass
class UpdateRecord:
    at: datetime
    ref: EventRef
    update_id: str
    name: str
    request: Any
    identity: str
    result: str = "no_outcome"
    failure: str | None = None
    completed: EventRef | None = None
