"""The `review` actions of a rehearsal, checked before anything runs.

A review action acts on the post-mortem review that the incident's `postmortem` step starts.
The step named by `root_cause.step` must be one of the SOP's (E603, as for every step a
rehearsal names). The rest are warnings (W601, at the action) about actions the engine will
refuse: the SOP has no `postmortem` step, so the incident never has a review; the action is
sent before any `postmortem` step can have run; an item closed that the story has not added,
or has closed already; `done` while an item the story added is still open. As for the other
W601s, a story that counts refusals in `expect.rejected_actions` means to show them, and is
not warned.
"""

from __future__ import annotations

from sopflow.language.checks.rehearsal_clock import earliest_starts
from sopflow.language.diagnostics import Diagnostic
from sopflow.language.durations import format_duration, parse_duration
from sopflow.language.effective import Effective, walk_steps
from sopflow.language.models import RehearsalDoc
from sopflow.language.models.reviews_rehearsal import ReviewRehearsalAction
from sopflow.language.models.steps import PostmortemStep
from sopflow.language.validation import did_you_mean
from sopflow.language.yaml_source import SourceDoc

# The items the story has added to each incident's review (by the action's `incident`,
# None for the rehearsal's own): their ids, and whether each is still open.
Items = dict[str | None, dict[str, bool]]


def check_reviews(
    source: SourceDoc, doc: RehearsalDoc, targets: dict[int, Effective]
) -> list[Diagnostic]:
    """E603 for a root cause's unknown step; W601 for each review action the engine will
    refuse. ``targets`` maps an action's index to the effective SOP it acts on."""
    out: list[Diagnostic] = []
    items: Items = {}
    clock = 0
    for i, action in enumerate(doc.actions):
        clock += parse_duration(action.after) if action.after else 0
        eff = targets.get(i)
        body = action.review
        if body is None or eff is None:
            continue
        step_ids = sorted(s.id for s, _, _ in walk_steps(list(eff.sop.steps)))
        cause = body.root_cause
        if cause is not None and cause.step is not None and cause.step not in step_ids:
            message = f"no step `{cause.step}` in {eff.key}{did_you_mean(cause.step, step_ids)}"
            out.append(source.diag(("actions", i, "review", "root_cause", "step"), "E603", message))
        mine = items.setdefault(action.incident, {})
        why = _refusal(eff, body, mine, None if action.incident else clock)
        _follow(body, mine)
        if why is not None and not doc.expect.rejected_actions:
            message = f"the engine will refuse this action: {why}"
            out.append(source.diag(("actions", i, "review", body.kind), "W601", message))
    return out


def _refusal(
    eff: Effective, body: ReviewRehearsalAction, items: dict[str, bool], clock: int | None
) -> str | None:
    """Why the engine will refuse ``body`` whatever happens, or None. ``clock`` is the
    simulated time since the start (None on a linked incident, whose clock is its own)."""
    postmortems = [s.id for s, _, _ in walk_steps(list(eff.sop.steps)) if _is_postmortem(s)]
    if not postmortems:
        return f"{eff.key} has no `postmortem` step, so its incidents have no review to act on"
    if clock is not None:
        earliest = earliest_starts(eff)
        soonest = min(earliest.get(s, 1 << 62) for s in postmortems)
        if clock < soonest:
            return (
                f"no review can exist {format_duration(clock)} after the start: every way to a "
                f"`postmortem` step waits at least {format_duration(soonest)} (raise this "
                "action's `after`)"
            )
    closing = body.close_item
    if closing is not None and closing.item not in items:
        added = ", ".join(items) or "none yet"
        return f"the story has added no action item {closing.item} (items: {added})"
    if closing is not None and not items[closing.item]:
        return f"action item {closing.item} is closed already"
    still = [item for item, is_open in items.items() if is_open]
    if body.done is not None and still:
        return f"`done` is refused while an action item is open ({', '.join(still)})"
    return None


def _follow(body: ReviewRehearsalAction, items: dict[str, bool]) -> None:
    """Record what ``body`` does to the story's items (A1, A2, ... in the order added)."""
    if body.add_item is not None:
        items[f"A{len(items) + 1}"] = True
    elif body.close_item is not None and body.close_item.item in items:
        items[body.close_item.item] = False


def _is_postmortem(step: object) -> bool:
    return isinstance(step, PostmortemStep)
