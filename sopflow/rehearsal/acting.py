"""What each rehearsal entry sends: the engine's action for it (as the roster person it
names) and a one-line account of it for reports. Review actions go to the incident's
post-mortem review instead (``sopflow.rehearsal.reviews``)."""

from __future__ import annotations

from sopflow.client.incidents import Action
from sopflow.contract.messages import (
    Cancel,
    CompleteTask,
    ExternalEvent,
    Note,
    PostUpdate,
    Vote,
)
from sopflow.language.models.rehearsal import RehearsalAction
from sopflow.language.roster import Roster
from sopflow.rehearsal.reviews import describe_review


def describe(action: RehearsalAction) -> str:
    """A one-line account of an action, for reports."""
    if not action.acts:
        return "time passes"
    if action.incident is not None:
        return f"{_describe(action)} (on the incident {action.incident} opened)"
    return _describe(action)


def _describe(action: RehearsalAction) -> str:
    if action.complete:
        return f"complete {action.complete.step} as {action.complete.as_}"
    if action.vote:
        return f"vote {action.vote.decision} on {action.vote.step} as {action.vote.as_}"
    if action.signal:
        return f"signal {action.signal.event}"
    if action.note and action.note.severity:
        return f"severity {action.note.severity} as {action.note.as_}"
    if action.note:
        return f"note as {action.note.as_}"
    if action.post_update:
        return f"post update as {action.post_update.as_}"
    if action.review:
        return describe_review(action.review)
    assert action.cancel is not None
    return f"cancel as {action.cancel.as_}"


def action_for(action: RehearsalAction, roster: Roster) -> Action:
    """The engine's action for one rehearsal entry (not a `review`), acting as the roster
    person it names."""
    if action.signal:
        return ExternalEvent(name=action.signal.event, data=action.signal.data)
    if action.complete:
        body = action.complete
        return CompleteTask(step=body.step, actor=roster.actor(body.as_), data=body.data)
    if action.vote:
        vote = action.vote
        actor = roster.actor(vote.as_)
        return Vote(step=vote.step, actor=actor, decision=vote.decision, reason=vote.reason)
    if action.note:
        note = action.note
        actor = roster.actor(note.as_)
        return Note(actor=actor, text=note.text, step=note.step, severity=note.severity)
    if action.post_update:
        post = action.post_update
        return PostUpdate(actor=roster.actor(post.as_), text=post.text)
    assert action.cancel is not None
    cancel = action.cancel
    return Cancel(actor=roster.actor(cancel.as_), reason=cancel.reason)
