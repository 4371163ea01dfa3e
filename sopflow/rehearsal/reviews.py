"""Post-mortem reviews in a rehearsal: the `review` action, sent to the incident's review as
``sopflow postmortem`` sends it, and ``expect.review``, what became of the review when the
story ended, compared on the fields written.

The review (``<incident id>/postmortem``) is a child workflow that outlives its incident; the
runner settles it with the incident after every action (``settle.settle_linked``) and reads
it once the incident has closed. Its reminders and escalations are counted from the notices
actually sent (notifications keyed ``<review id>/<what>/reminder`` or ``.../overdue``), so a
story can show that each goes out once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sopflow.client.errors import ActionRefused, Refusal
from sopflow.client.reviews import ReviewService
from sopflow.contract.messages import NotifyRequest
from sopflow.contract.names import review_id
from sopflow.contract.reviews import ReviewAction, ReviewState
from sopflow.language.durations import parse_duration
from sopflow.language.models.reviews_rehearsal import ReviewExpectation, ReviewRehearsalAction
from sopflow.language.roster import Roster


def review_action(body: ReviewRehearsalAction, roster: Roster, now: datetime) -> ReviewAction:
    """The review's action for one rehearsal entry, as the roster person it names; an item's
    `due` counts from ``now`` (the test server's clock)."""
    actor = roster.actor(body.as_)
    if body.add_item is not None:
        item = body.add_item
        due = now + timedelta(seconds=parse_duration(item.due))
        return ReviewAction(
            kind="add_item", actor=actor, title=item.title, owner=item.owner, due_at=due
        )
    if body.close_item is not None:
        closing = body.close_item
        return ReviewAction(kind="close_item", actor=actor, item=closing.item, note=closing.note)
    if body.root_cause is not None:
        cause = body.root_cause
        return ReviewAction(
            kind="root_cause",
            actor=actor,
            factors=list(cause.factors),
            cause_step=cause.step,
            policy=cause.policy,
            changes=cause.changes,
        )
    assert body.done is not None
    return ReviewAction(kind="done", actor=actor, note=body.done.note)


def describe_review(body: ReviewRehearsalAction) -> str:
    """A one-line account of a review action, for reports: ``review: close A1 as amoreno``."""
    if body.add_item is not None:
        what = f'add item "{body.add_item.title}" (owner {body.add_item.owner})'
    elif body.close_item is not None:
        what = f"close {body.close_item.item}"
    elif body.root_cause is not None:
        what = f"record the root cause ({', '.join(body.root_cause.factors)})"
    else:
        what = "mark it done"
    return f"review: {what} as {body.as_}"


async def act_on_review(
    reviews: ReviewService,
    incident_id: str,
    body: ReviewRehearsalAction,
    roster: Roster,
    now: datetime,
) -> str | None:
    """Send one action to the incident's review; the review's reason when it refuses, with
    the (random) incident id left out so reports read the same on every run."""
    try:
        await reviews.act(incident_id, review_action(body, roster, now))
    except ActionRefused as exc:
        if exc.kind == Refusal.NOT_FOUND:
            return "the incident has no post-mortem review (has its postmortem step run?)"
        if exc.kind == Refusal.CLOSED:
            return "the post-mortem review is closed"
        return exc.reason.replace(incident_id, "the incident")
    return None


@dataclass(frozen=True, slots=True)
class ItemSeen:
    """One action item as the rehearsal saw it."""

    id: str
    title: str
    owner: str
    status: str
    closed_by: str | None

    def line(self) -> str:
        """``A1 closed "Page the desk" (owner amoreno, closed by amoreno)``."""
        by = f", closed by {self.closed_by}" if self.closed_by else ""
        return f'{self.id} {self.status} "{self.title}" (owner {self.owner}{by})'


@dataclass(frozen=True, slots=True)
class ReviewSeen:
    """The incident's post-mortem review as the story left it."""

    status: str  # open, closed
    items: tuple[ItemSeen, ...]
    factors: tuple[str, ...]  # the root cause's, empty when none was recorded
    reminders: tuple[str, ...]  # the keys of the reminders sent (review/reminder, A1/reminder)
    escalations: tuple[str, ...]  # ... and of the overdue escalations (A1/overdue)

    def line(self) -> str:
        """A one-line account: ``closed, 2 items (0 open), root cause late-signal, ...``."""
        still = sum(i.status == "open" for i in self.items)
        cause = ", ".join(self.factors) or "none"
        return (
            f"{self.status}, {len(self.items)} items ({still} open), root cause {cause}, "
            f"{len(self.reminders)} reminders, {len(self.escalations)} escalations"
        )

    def as_json(self) -> dict[str, Any]:
        """The review for `sopflow rehearse --format json`."""
        return {
            "status": self.status,
            "items": [
                {
                    "id": i.id,
                    "title": i.title,
                    "owner": i.owner,
                    "status": i.status,
                    "closed_by": i.closed_by,
                }
                for i in self.items
            ],
            "factors": list(self.factors),
            "reminders": list(self.reminders),
            "escalations": list(self.escalations),
        }


def review_seen(state: ReviewState, sent: list[NotifyRequest]) -> ReviewSeen:
    """The review as it stands, with the notices it sent (``sent`` may hold others)."""
    prefix, mine = f"{state.review_id}/", [n for n in sent if n.incident_id == state.review_id]
    keys = [n.idempotency_key.removeprefix(prefix) for n in mine]
    return ReviewSeen(
        status=state.status,
        items=tuple(ItemSeen(i.id, i.title, i.owner, i.status, i.closed_by) for i in state.items),
        factors=tuple(state.root_cause.factors) if state.root_cause else (),
        reminders=tuple(k for k in keys if k.endswith("/reminder")),
        escalations=tuple(k for k in keys if k.endswith("/overdue")),
    )


async def read_review(
    reviews: ReviewService, incident_id: str, sent: list[NotifyRequest]
) -> ReviewSeen | None:
    """The incident's review as it stands, or None when it started none."""
    try:
        state = await reviews.state(incident_id)
    except ActionRefused:
        return None
    mine = [n for n in sent if n.incident_id == review_id(incident_id)]
    return review_seen(state, mine)


def review_differs(want: ReviewExpectation, seen: ReviewSeen | None) -> list[str]:
    """A line for each written field of ``want`` that the review does not match; empty when
    they agree."""
    if seen is None:
        if want.status == "none":
            return []
        return [f"expected a review {want.status}; the incident started none (no postmortem ran)"]
    if want.status == "none":
        return [f"expected no review; got one {seen.line()}"]
    out = []
    if want.status != seen.status:
        still = [i.line() for i in seen.items if i.status == "open"]
        why = f" (open items: {'; '.join(still)})" if still and seen.status == "open" else ""
        out.append(f"status: expected {want.status}, got {seen.status}{why}")
    if want.items is not None:
        out += _items_differ(want, seen)
    if want.factors is not None and list(want.factors) != list(seen.factors):
        got = ", ".join(seen.factors) or "none recorded"
        out.append(f"root cause factors: expected {', '.join(want.factors)}, got {got}")
    for name in ("reminders", "escalations"):
        count: int | None = getattr(want, name)
        keys: tuple[str, ...] = getattr(seen, name)
        if count is not None and count != len(keys):
            sent = ", ".join(keys) or "none"
            out.append(f"{name}: expected {count}, got {len(keys)} (sent: {sent})")
    return out


def _items_differ(want: ReviewExpectation, seen: ReviewSeen) -> list[str]:
    expected = want.items or []
    out = []
    for number, (item, got) in enumerate(zip(expected, seen.items, strict=False), start=1):
        wrong = [
            name
            for name in ("status", "title", "owner", "closed_by")
            if getattr(item, name) is not None and getattr(item, name) != getattr(got, name)
        ]
        if wrong:
            text = item.status + (f' "{item.title}"' if item.title else "")
            text += f" (owner {item.owner})" if item.owner else ""
            text += f" closed by {item.closed_by}" if item.closed_by else ""
            out.append(f"item {number}: expected {text}; got {got.line()}")
    if len(expected) != len(seen.items):
        actual = "; ".join(i.line() for i in seen.items) or "none"
        counts = f"expected {len(expected)} action items, got {len(seen.items)}"
        out.append(f"{counts} (actual: {actual})")
    return out


def recorded(seen: ReviewSeen | None) -> dict[str, Any]:
    """The `expect.review` that ``seen`` meets, as `--record` writes it."""
    if seen is None:
        return {"status": "none"}
    out: dict[str, Any] = {"status": seen.status}
    out["items"] = [{"title": i.title, "status": i.status} for i in seen.items]
    if seen.factors:
        out["factors"] = list(seen.factors)
    out["reminders"] = len(seen.reminders)
    out["escalations"] = len(seen.escalations)
    return out
