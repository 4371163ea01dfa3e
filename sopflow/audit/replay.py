"""Replaying incident histories with today's interpreter: the check to run before deploying a
new worker, and the proof that a recorded history is what this code produces.

Each history goes through Temporal's ``Replayer`` with ``IncidentWorkflow`` and
``PostmortemReviewWorkflow`` (an export holds the incident's review too) in the default
sandbox and sopflow's data converter (so encrypted histories replay when their keys are
configured), as the worker would run it. A changed command sequence is a
``NondeterminismError``; the outcome names the event the replay stopped at.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer, WorkflowReplayResult
from temporalio.workflow import NondeterminismError

from sopflow.audit.errors import AuditError
from sopflow.audit.history_io import load_file
from workflows.incident import IncidentWorkflow
from workflows.review import PostmortemReviewWorkflow

# (label, history) to replay, or (label, the reason it could not be read).
Item = tuple[str, WorkflowHistory | AuditError]

_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_EVENT = re.compile(r"HistoryEvent\(id: (\d+)(?:, (\w+))?")
_EVENT_WORDS = re.compile(r"\bevent(?:[ _]id)?[:= ]+(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ReplayOutcome:
    """How one history replayed: ``failure`` is None when it replayed cleanly."""

    label: str
    run_id: str = ""
    events: int = 0
    failure: str | None = None
    event_id: int | None = None
    event_type: str | None = None
    nondeterminism: bool = False

    @property
    def ok(self) -> bool:
        """Replayed cleanly."""
        return self.failure is None

    def line(self) -> str:
        """One line for people: ``ok  LABEL (N events)`` or ``FAIL  LABEL: what, where``."""
        if self.ok:
            return f"ok    {self.label} ({self.events} events)"
        if self.events == 0:  # never replayed: the message names the unreadable file
            return f"FAIL  {self.failure}"
        kind = "non-determinism" if self.nondeterminism else "replay failed"
        at = "at an unknown event" if self.event_id is None else f"at event {self.event_id}"
        if self.event_type:
            at += f" ({self.event_type})"
        return f"FAIL  {self.label}: {kind} {at}: {self.failure}"


def describe_failure(exc: BaseException) -> tuple[str, int | None, str | None]:
    """(message, event id, event type) of a replay failure. The SDK wraps Core's failure in
    a Rust debug dump; the message inside it is what people need (``[TMPRL1100]
    Nondeterminism error: ... HistoryEvent(id: 5, UpsertWorkflowSearchAttributes)``)."""
    text = str(exc)
    inner = _CORE_MESSAGE.search(text)
    message = inner.group(1).encode().decode("unicode_escape") if inner else text
    message = " ".join(message.split())
    event = _EVENT.search(message)
    if event:
        return message, int(event.group(1)), event.group(2)
    words = _EVENT_WORDS.search(message)
    return message, int(words.group(1)) if words else None, None


def outcome_of(label: str, result: WorkflowReplayResult) -> ReplayOutcome:
    """A ``ReplayOutcome`` from the SDK's result for one history."""
    history = result.history
    failure = result.replay_failure
    run_id = history.run_id if history.events else ""
    if failure is None:
        return ReplayOutcome(label, run_id, len(history.events))
    message, event_id, event_type = describe_failure(failure)
    return ReplayOutcome(
        label,
        run_id,
        len(history.events),
        failure=message,
        event_id=event_id,
        event_type=event_type,
        nondeterminism=isinstance(failure, NondeterminismError),
    )


@cache
def quiet_runtime() -> Runtime:
    """A Temporal runtime whose Core logs errors only: a failing replay is reported as an
    outcome, and Core's WARN line for the same failure would repeat it on stderr."""
    quiet = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    return Runtime(telemetry=TelemetryConfig(logging=quiet))


@contextmanager
def _sdk_logs_silenced() -> Iterator[None]:
    # The SDK logs each failed workflow activation with its traceback; the outcome already
    # says what failed, and a command-line tool must not print tracebacks.
    sdk = logging.getLogger("temporalio")
    level = sdk.level
    sdk.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        sdk.setLevel(level)


async def replay_items(
    items: AsyncIterable[Item],
    converter: DataConverter,
    workflows: Sequence[type] | None = None,
) -> AsyncIterator[ReplayOutcome]:
    """Replay every history of ``items`` in order with one ``Replayer`` running
    ``workflows`` (default: what a worker of this build runs, ``IncidentWorkflow`` and the
    ``PostmortemReviewWorkflow`` its post-mortem step starts); items that could not be read
    come out as failed outcomes, without a replay."""
    chosen = list(workflows) if workflows else [IncidentWorkflow, PostmortemReviewWorkflow]
    replayer = Replayer(workflows=chosen, data_converter=converter, runtime=quiet_runtime())
    labels: deque[str] = deque()
    unreadable: deque[ReplayOutcome] = deque()

    async def histories() -> AsyncIterator[WorkflowHistory]:
        async for label, item in items:
            if isinstance(item, AuditError):
                unreadable.append(ReplayOutcome(label, failure=str(item)))
                continue
            problem = shape_problem(item)
            if problem is not None:
                unreadable.append(ReplayOutcome(label, failure=f"{label}: {problem}"))
                continue
            labels.append(label)
            yield item

    with _sdk_logs_silenced():
        async with replayer.workflow_replay_iterator(histories()) as results:
            async for result in results:
                while unreadable:
                    yield unreadable.popleft()
                yield outcome_of(labels.popleft(), result)
    while unreadable:
        yield unreadable.popleft()


def shape_problem(history: WorkflowHistory) -> str | None:
    """Why ``history`` is not one Temporal wrote, for what Temporal's replayer does not check
    itself but stops on (its Core aborts a poller and the replay never ends), or None."""
    events = history.events
    if not events:
        return "the history has no events"
    first = events[0]
    if first.WhichOneof("attributes") != "workflow_execution_started_event_attributes":
        return "the history does not begin with the workflow's start event"
    started = first.workflow_execution_started_event_attributes
    if not started.workflow_type.name:
        return "event 1 names no workflow type"
    if not started.task_queue.name:
        return "event 1 names no task queue"
    for index, event in enumerate(events, start=1):
        if event.event_id != index:
            return f"event {index} has the id {event.event_id}: the events are not in order"
        problem = _event_problem(event)
        if problem is not None:
            return f"event {index} {problem}"
    return None


def _event_problem(event: HistoryEvent) -> str | None:
    """Why one event's type and attributes disagree (Core panics on an event whose type is
    unspecified or not its attributes' kind, and the replay never ends), or None."""
    attributes = event.WhichOneof("attributes")
    if attributes is None:
        return "has no attributes"
    try:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    except ValueError:
        return f"has the unknown event type {event.event_type}"
    carried = attributes.removesuffix("_event_attributes").upper()
    if kind != carried:
        return f"is of type {kind} but carries the attributes of {carried}"
    return None


async def file_items(
    paths: Sequence[Path], on_runs: Callable[[int], None] | None = None
) -> AsyncIterator[Item]:
    """Every run of every file (an export: each of its runs, then its review's; a plain
    history: itself). ``on_runs`` hears how many histories each file held, for a progress
    bar's total."""
    for path in paths:
        try:
            loaded = load_file(path)
        except AuditError as exc:
            if on_runs is not None:
                on_runs(1)
            yield str(path), exc
            continue
        if on_runs is not None:
            on_runs(len(loaded.runs) + len(loaded.review_runs))
        for index, run in enumerate(loaded.runs):
            yield loaded.label(index), run
        for index, run in enumerate(loaded.review_runs):
            yield loaded.review_label(index), run


async def history_items(histories: AsyncIterable[WorkflowHistory]) -> AsyncIterator[Item]:
    """Histories from the server, labelled ``workflow-id run run-id``."""
    async for history in histories:
        yield f"{history.workflow_id} run {history.run_id}", history
