"""The rules of a post-mortem review, as pure functions: who may do what, what an action
changes, and which reminders and escalations are due when.

``workflows/review.py`` turns them into Temporal commands; nothing here touches Temporal, so
the rules are tested without a server. Times come in as arguments (the workflow's clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sopflow.contract.messages import Actor, TimelineEntry
from sopflow.contract.names import LEAD_ROLE
from sopflow.contract.reviews import (
    MAX_FACTOR,
    MAX_FACTORS,
    MAX_TEXT,
    MAX_TITLE,
    ActionItem,
    ReviewAction,
    ReviewInput,
    ReviewState,
    RootCause,
)


class Refused(Exception):
    """An action the review does not accept: the reason a person reads, and its cause
    (``forbidden``, ``invalid`` or ``conflict``, as an incident's refusals)."""

    def __init__(self, reason: str, cause: str = "conflict") -> None:
        super().__init__(reason)
        self.cause = cause


def opening_state(inp: ReviewInput, now: datetime) -> ReviewState:
    """A new review's state, from its input."""
    return ReviewState(
        review_id=inp.review_id,
        incident_id=inp.incident_id,
        sop=inp.sop,
        version=inp.version,
        region=inp.region,
        title=inp.title,
        severity=inp.severity,
        document=inp.document,
        owner=inp.owner,
        due_at=inp.due_at,
        escalate_to=inp.escalate_to,
        opened_at=now,
    )


def roles_here(actor: Actor, inp: ReviewInput) -> set[str]:
    """The roles ``actor`` acts with on a review of the incident's region: all of theirs on
    their own desk, else those the Roster gives them on that desk and the global ones (the
    incident's desk rule, so a UK lead does not close a US review)."""
    if actor.region is None or actor.region == inp.region:
        return {*actor.roles, *(actor.desks or {}).get(inp.region, [])}
    here = set((actor.desks or {}).get(inp.region, []))
    return here | {r for r in actor.roles if r in inp.global_roles}


def _is(owner: str, actor: Actor, inp: ReviewInput) -> bool:
    """Whether ``actor`` is ``owner``: that person, or a holder of that role here."""
    return actor.id == owner or owner in roles_here(actor, inp)


def _manages(actor: Actor, inp: ReviewInput) -> bool:
    return _is(inp.owner, actor, inp) or LEAD_ROLE in roles_here(actor, inp)


def _text(value: str | None, what: str, limit: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if not text:
        raise Refused(f"{what} is required", "invalid")
    if len(text) > limit:
        raise Refused(f"{what} is longer than {limit} characters", "invalid")
    return text


def _item(state: ReviewState, item_id: str | None) -> ActionItem:
    for item in state.items:
        if item.id == item_id:
            return item
    known = ", ".join(i.id for i in state.items) or "none yet"
    raise Refused(f"this review has no action item {item_id!r} (items: {known})")


def describe_open(items: list[ActionItem]) -> str:
    """``A1 "Page the desk" (owner lead, due 2031-02-20)``, for refusals and reminders."""
    return "; ".join(
        f'{i.id} "{i.title}" (owner {i.owner}, due {i.due_at.astimezone(UTC):%Y-%m-%d})'
        for i in items
    )


def check(state: ReviewState, inp: ReviewInput, req: ReviewAction, now: datetime) -> None:
    """Refused (with the reason) unless ``req`` may be applied to the review now."""
    if state.status == "closed":
        raise Refused(f"the post-mortem review of {state.incident_id} is closed")
    actor = req.actor
    match req.kind:
        case "add_item" | "root_cause":
            if not _manages(actor, inp):
                raise Refused(
                    f"{actor.id} may not change this review: its owner ({inp.owner}) or a "
                    f"{LEAD_ROLE} may",
                    "forbidden",
                )
            _check_item(req, now) if req.kind == "add_item" else _check_cause(req, inp)
        case "close_item":
            item = _item(state, req.item)
            if item.status == "closed":
                raise Refused(f"action item {item.id} is already closed")
            if not (_is(item.owner, actor, inp) or _manages(actor, inp)):
                raise Refused(
                    f"{actor.id} may not close {item.id}: its owner ({item.owner}), the "
                    f"review's owner ({inp.owner}) or a {LEAD_ROLE} may",
                    "forbidden",
                )
            _text(req.note, "a note saying what was done")
        case "done":
            if not _is(inp.owner, actor, inp):
                raise Refused(f"only the review's owner ({inp.owner}) marks it done", "forbidden")
            if state.open_items():
                still = state.open_items()
                raise Refused(
                    f"{len(still)} action item(s) still open: {describe_open(still)}; close "
                    "them first"
                )


def _check_item(req: ReviewAction, now: datetime) -> None:
    _text(req.title, "a title", MAX_TITLE)
    _text(req.owner, "an owner (a person or a role)", MAX_TITLE)
    if req.due_at is None:
        raise Refused("a due date is required", "invalid")
    if req.due_at <= now:
        raise Refused(f"the due date {req.due_at.isoformat()} has passed", "invalid")


def _check_cause(req: ReviewAction, inp: ReviewInput) -> None:
    factors = [f.strip() for f in req.factors]
    if not factors or any(not f for f in factors):
        raise Refused("at least one contributing factor, none of them empty", "invalid")
    if len(factors) > MAX_FACTORS or any(len(f) > MAX_FACTOR for f in factors):
        raise Refused(
            f"at most {MAX_FACTORS} factors of at most {MAX_FACTOR} characters each", "invalid"
        )
    if req.cause_step is not None and req.cause_step not in inp.steps:
        raise Refused(
            f"{inp.sop}@{inp.version} has no step {req.cause_step!r} "
            f"(steps: {', '.join(inp.steps)})",
            "invalid",
        )
    if req.policy is not None and req.policy not in inp.policies:
        named = ", ".join(inp.policies) or "none"
        raise Refused(
            f"{inp.sop}@{inp.version} uses no policy {req.policy!r} (policies: {named})",
            "invalid",
        )
    _text(req.changes, "what changes as a result")


def apply(state: ReviewState, req: ReviewAction, now: datetime) -> str:
    """Apply an accepted action to ``state``; what it did, for the caller and the timeline."""
    actor = req.actor.id
    match req.kind:
        case "add_item":
            assert req.title and req.owner and req.due_at  # checked by the validator
            item = ActionItem(
                id=f"A{len(state.items) + 1}",
                title=req.title.strip(),
                owner=req.owner.strip(),
                due_at=req.due_at,
                opened_by=actor,
                opened_at=now,
            )
            state.items.append(item)
            detail = f'{item.id} added: "{item.title}" (owner {item.owner})'
        case "close_item":
            item = _item(state, req.item)
            item.status, item.closed_by, item.closed_at = "closed", actor, now
            item.note = (req.note or "").strip()
            detail = f"{item.id} closed: {item.note}"
        case "root_cause":
            revised = state.root_cause is not None
            state.root_cause = RootCause(
                factors=[f.strip() for f in req.factors],
                step=req.cause_step,
                policy=req.policy,
                changes=(req.changes or "").strip(),
                recorded_by=actor,
                recorded_at=now,
            )
            detail = f"root cause {'revised' if revised else 'recorded'}: " + ", ".join(
                state.root_cause.factors
            )
        case "done":
            state.status, state.closed_at, state.closed_by = "closed", now, actor
            detail = "review done" + (f": {req.note.strip()}" if req.note else "")
    state.timeline.append(
        TimelineEntry(at=now, actor=actor, kind=f"review.{req.kind}", detail=detail)
    )
    return detail


@dataclass(frozen=True, slots=True)
class Notice:
    """A reminder or escalation the review owes: sent once, at ``at``, under ``key``."""

    key: str
    at: datetime
    to: str
    is_role: bool
    text: str
    escalation: bool


def remind_at(opened: datetime, due: datetime, remind_s: int) -> datetime:
    """When to remind: ``remind_s`` before ``due``, but never earlier than half-way there
    (a short deadline still gets its reminder after it was set)."""
    lead = min(timedelta(seconds=remind_s), (due - opened) / 2)
    return due - max(lead, timedelta(0))


def notices(state: ReviewState, inp: ReviewInput) -> list[Notice]:
    """Every reminder and escalation not yet sent, soonest first: the review's while it is
    open, each open item's until it is closed."""
    if state.status == "closed":
        return []
    owed: list[Notice] = []

    def owe(key: str, at: datetime, to: str, text: str, escalation: bool) -> None:
        if key not in state.sent:
            owed.append(Notice(key, at, to, to in inp.roles, text, escalation))

    what = f"the post-mortem review of {state.incident_id} ({state.title})"
    due = f"{state.due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    still = state.open_items()
    items = f"; open action items: {describe_open(still)}" if still else ""
    owe(
        "review/reminder",
        remind_at(state.opened_at, state.due_at, inp.remind_s),
        state.owner,
        f"Reminder: {what} is due {due}{items}. Draft: {state.document}",
        False,
    )
    owe(
        "review/overdue",
        state.due_at,
        inp.escalate_to,
        f"Overdue: {what} was due {due}; owner {state.owner}{items}",
        True,
    )
    for item in still:
        item_due = f"{item.due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        about = f'action item {item.id} "{item.title}" of {what}'
        reminder = remind_at(item.opened_at, item.due_at, inp.remind_s)
        owe(
            f"{item.id}/reminder",
            reminder,
            item.owner,
            f"Reminder: {about} is due {item_due}",
            False,
        )
        owe(
            f"{item.id}/overdue",
            item.due_at,
            inp.escalate_to,
            f"Overdue: {about} was due {item_due}; owner {item.owner}",
            True,
        )
    return sorted(owed, key=lambda n: (n.at, n.key))
