"""Live updates: one hub per console (one per API process) tells every open page what changed.

While anyone is subscribed, the hub runs ONE visibility query a second through the incident
service (incidents whose ``ChangedAt`` or close time falls in the last minute, and running
ones that keep no ``ChangedAt``), compares each incident's fingerprint (status, severity,
outcome, active steps and their due times, pending roles, SLA breached, time of the change)
with the previous snapshot, and publishes the id of every incident that changed, appeared or
closed. The query's size follows how much changed lately, not how many incidents are open.
The console's own actions publish at once (``publish``). Browsers never query Temporal: they
hold one server-sent-events stream each (``GET /console/events``) and fetch a page again
when an event concerns it.

Need-to-know: a subscriber is a person; an event about an incident that person may not see
(``authorise_read``, the check every page makes) is never queued for them. The decision is
cached per stream and per incident for the stream's life.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from sopflow.api.identity import Person, authorise_read
from sopflow.api.problems import Problem
from sopflow.api.temporal import TemporalLink
from sopflow.client.errors import ActionRefused
from sopflow.client.views import IncidentSummary

log = structlog.get_logger("sopflow.web.live")

POLL_S = 1.0
HEARTBEAT_S = 15.0
RETRY_MS = 2000
RECENT_S = 60  # incidents closed this recently are still watched (their last change)
LIMIT = 2_000  # changes in the last minute, per poll
QUEUE_SIZE = 256
Fingerprint = tuple[object, ...]
Snapshot = dict[str, Fingerprint]
Lister = Callable[[], Awaitable[list[IncidentSummary]]]
Describer = Callable[[str], Awaitable[IncidentSummary | None]]
Marker = Callable[[str], None]
MaySee = Callable[[str], Awaitable[bool]]


def fingerprint(summary: IncidentSummary) -> Fingerprint:
    """What, of an incident, a page shows and visibility knows: a change here is an event."""
    return (
        summary.status,
        summary.severity,
        summary.outcome,
        tuple(sorted(summary.active_steps)),
        tuple(sorted(summary.pending_roles)),
        summary.sla_breached,
        summary.steps_due,
        summary.changed_at,
    )


def snapshot(summaries: Iterable[IncidentSummary]) -> Snapshot:
    return {s.id: fingerprint(s) for s in summaries}


def changed(before: Mapping[str, Fingerprint] | None, after: Mapping[str, Fingerprint]) -> set[str]:
    """The incidents that appeared or whose fingerprint changed. The first snapshot is the
    baseline (nothing changed); an incident that only drops out of the window (no change or
    close in the last minute) is no change: it comes back when it changes again."""
    if before is None:
        return set()
    return {i for i, mark in after.items() if before.get(i) != mark}


def window_query(now: datetime) -> str:
    """Incidents changed or closed in the last ``RECENT_S`` seconds, and the running ones
    that keep no ``ChangedAt`` (started before it existed, or not yet waiting on anyone)."""
    since = (now - timedelta(seconds=RECENT_S)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"ChangedAt > '{since}' OR CloseTime > '{since}'"
        " OR (ExecutionStatus = 'Running' AND ChangedAt IS NULL)"
    )


@dataclass(eq=False)
class Subscriber:
    """One stream: a person, the incidents they may see (cached), the ids to tell them."""

    person: Person
    may_see: MaySee
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    seen: dict[str, bool] = field(default_factory=dict)

    async def offer(self, incident_id: str) -> None:
        """Queue ``incident_id`` if this person may see it (need-to-know), else drop it."""
        allowed = self.seen.get(incident_id)
        if allowed is None:
            try:
                allowed = await self.may_see(incident_id)
            except Exception:  # Temporal away: not now; asked again on the next change
                log.warning("web.live_may_see_failed", incident=incident_id)
                return
            self.seen[incident_id] = allowed
        if allowed:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled tab: it reloads anyway
                self.queue.put_nowait(incident_id)


def service_may_see(person: Person, link: TemporalLink) -> MaySee:
    """The need-to-know check the pages make (``authorise_read``), as a yes or no."""

    async def may_see(incident_id: str) -> bool:
        try:
            await authorise_read(person, incident_id, link.require())
        except (Problem, ActionRefused):
            return False
        return True

    return may_see


def service_describer(link: TemporalLink) -> Describer:
    """One incident as visibility will list it, read now (``describe``: no lag)."""

    async def describe(incident_id: str) -> IncidentSummary | None:
        try:
            return await link.require().summary(incident_id)
        except ActionRefused:
            return None

    return describe


def service_marker(link: TemporalLink) -> Marker:
    """Marks an incident for the open-task index to read again (what inboxes show)."""

    def mark(incident_id: str) -> None:
        link.require().open_tasks().changed(incident_id)

    return mark


def service_lister(link: TemporalLink) -> Lister:
    """The one visibility query a poll runs (every incident: each subscriber filters)."""

    async def listing() -> list[IncidentSummary]:
        service = link.require()
        return await service.list(window_query(datetime.now(UTC)), limit=LIMIT)

    return listing


class Hub:
    """Polls while anyone listens; publishes incident ids to every subscriber allowed them.

    The polling task starts with the first subscriber and stops when the last one leaves."""

    def __init__(self, poll_s: float = POLL_S) -> None:
        self.poll_s = poll_s
        self.subscribers: set[Subscriber] = set()
        self.previous: Snapshot | None = None
        self.polls = 0
        self._lister: Lister | None = None
        self._describer: Describer | None = None
        self._marker: Marker | None = None
        self._task: asyncio.Task[None] | None = None
        self._notes: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def subscribed(
        self,
        subscriber: Subscriber,
        lister: Lister,
        describer: Describer | None = None,
        marker: Marker | None = None,
    ) -> AsyncIterator[None]:
        """``subscriber`` hears events while inside; the poller runs while anyone is.
        ``describer`` reads one incident fresh, after an announced change (see ``notify``);
        ``marker`` is told of every change a poll finds before anyone hears of it, so the
        pages fetched on the event read it fresh (the open-task index)."""
        self.subscribers.add(subscriber)
        self._lister, self._describer, self._marker = lister, describer, marker
        if self._task is None or self._task.done():
            self.previous = None
            self._task = asyncio.create_task(self._run(), name="sopflow-console-live")
        try:
            yield
        finally:
            self.subscribers.discard(subscriber)
            if not self.subscribers and self._task is not None:
                self._task.cancel()
                self._task = None

    async def publish(self, ids: Iterable[str]) -> None:
        """Tell every subscriber allowed to see them that these incidents changed."""
        for incident_id in set(ids):
            for subscriber in list(self.subscribers):
                await subscriber.offer(incident_id)

    def notify(self, incident_id: str) -> None:
        """Publish in the background (an action this process took: instant, and the action's
        answer does not wait on anyone's need-to-know check)."""
        if not self.subscribers:
            return
        task = asyncio.create_task(self._announce(incident_id))
        self._notes.add(task)
        task.add_done_callback(self._notes.discard)

    async def _announce(self, incident_id: str) -> None:
        """Publish, then take the incident's fingerprint as it is now into the snapshot, so
        the next poll does not announce the same change a second time (every open page
        would fetch itself twice per action)."""
        await self.publish([incident_id])
        if self._describer is None:
            return
        try:
            summary = await self._describer(incident_id)
        except Exception:  # Temporal away: the poll announces it again, no harm
            log.warning("web.live_describe_failed", incident=incident_id)
            return
        if summary is not None and self.previous is not None:
            self.previous[incident_id] = fingerprint(summary)

    async def poll_once(self) -> set[str]:
        """One visibility query, diffed against the last; the changes, published."""
        assert self._lister is not None
        current = snapshot(await self._lister())
        self.polls += 1
        found = changed(self.previous, current)
        self.previous = current
        if found:
            if (mark := self._marker) is not None:
                for incident_id in found:
                    mark(incident_id)
            await self.publish(found)
        return found

    async def _run(self) -> None:
        while self.subscribers:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Temporal away: keep the streams, try again
                log.warning("web.live_poll_failed", error=str(exc).splitlines()[0:1])
            await asyncio.sleep(self.poll_s)
